/**
 * Gaps and undecodable copies over real sockets, on an injected clock: a missing segment
 * gets a filler (gapPolicy "filler", the default) or a 410 ("gone"); a copy PUT after the
 * gap was answered never contradicts a cached 410, and replaces a filler only once the
 * filler's lifetime has run out; a cut-off copy is served repaired or not at all.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { parseInit, summarizeFragment } from '../../src/media/fmp4.js'
import {
  createChannel,
  D,
  get,
  NO_SHEDDING,
  put,
  segmentPath,
  sha256,
  validCopy,
} from '../helpers/fixture-channel.js'
import { FakeClock } from '../helpers/http.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'
import { decodeErrors } from '../media/decode.js'
import { box, dashInit } from '../selection/helpers.js'

const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
const R = 2 * D
const G = Math.floor(D / 4)
const DVR = 4 * 3_600_000
/** A(N) with S = 1. */
const A = (n: number) => AST + n * D
const clock = new FakeClock(AST)
const init0 = dashInit(0)
const timescale = parseInit(init0).tracks[0]!.timescale

let origin: TestOrigin
before(async () => {
  origin = await startOrigin(NO_SHEDDING, { now: clock.now })
})
after(() => origin.close())

/** A copy of segment n cut inside its mdat, as an encoder that died mid-upload leaves it. */
function cutCopy(n: number, pipeline: string, keep = 0.6): Uint8Array {
  const whole = validCopy(0, n, pipeline)
  const mdat = box(whole, 'mdat')
  return whole.subarray(0, mdat.start + Math.floor((whole.length - mdat.start) * keep))
}

function tfdt(bytes: Uint8Array): number {
  return summarizeFragment(bytes).tracks[0]!.baseMediaDecodeTime!
}

/** A new channel (gap policy `filler`): segments 1…`count` of rendition 0 PUT by each pipeline just before due. */
async function channelWithSegments(count: number, pipelines: readonly string[]): Promise<string> {
  clock.set(AST)
  const ch = await createChannel(origin, AST)
  for (let n = 1; n <= count; n++) {
    clock.set(A(n) - 100)
    for (const p of pipelines) await put(origin, ch, segmentPath(0, n), validCopy(0, n, p), p)
  }
  return ch
}

describe('gapPolicy "filler" (default): a missing segment is answered with a re-timed earlier one', () => {
  let ch: string
  before(async () => {
    ch = await channelWithSegments(3, ['east', 'west'])
  })

  it('segment 4 never came: 200 filler from segment 3 at tfdt (N−S)·D, decodable, TTL D', async () => {
    clock.set(A(4) + R)
    const g = await get(origin, ch, segmentPath(0, 4))
    assert.equal(g.status, 200)
    assert.equal(g.headers.get('segment-defects'), 'filler')
    assert.equal(g.headers.get('segment-pipeline'), 'east')
    assert.equal(g.headers.get('cache-ttl-ms'), String(D))
    assert.equal(g.headers.get('cache-control'), `max-age=${Math.floor(D / 1000)}`)
    assert.equal(g.headers.get('cmsd-static'), `at=${A(4)}`)
    assert.match(g.headers.get('etag') ?? '', /^"filler-4-/)
    assert.equal(tfdt(g.body), ((4 - 1) * D * timescale) / 1000)
    assert.equal(g.body.length, validCopy(0, 3, 'east').length)
    assert.equal(decodeErrors(init0, g.body), '')
    // A player that played 1–3 plays on through the filler.
    const earlier = [1, 2, 3].map((n) => validCopy(0, n, 'east'))
    assert.equal(decodeErrors(init0, ...earlier, g.body), '')
    // The same filler on every request (and on every node: built from the same copy).
    const again = await get(origin, ch, segmentPath(0, 4))
    assert.equal(sha256(again.body), sha256(g.body))
    assert.equal(again.headers.get('etag'), g.headers.get('etag'))
  })

  it('HEAD, Range and If-None-Match work on a filler', async () => {
    clock.set(A(4) + R + 10)
    const url = `${origin.delivery}/${ch}/${segmentPath(0, 4)}`
    const full = Buffer.from(await (await fetch(url)).arrayBuffer())
    const head = await fetch(url, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.headers.get('content-length'), String(full.length))
    const part = await fetch(url, { headers: { Range: 'bytes=0-99' } })
    assert.equal(part.status, 206)
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), full.subarray(0, 100))
    const cond = await fetch(url, { headers: { 'If-None-Match': head.headers.get('etag')! } })
    assert.equal(cond.status, 304)
  })

  it('before A(N)+R the request is still held, not filled', async () => {
    clock.set(A(6) + R - 1)
    const controller = new AbortController()
    const pending = fetch(`${origin.delivery}/${ch}/${segmentPath(0, 6)}`, { signal: controller.signal })
    await new Promise((r) => setTimeout(r, 100))
    clock.set(A(6) + R)
    const g = await pending
    // Released at A(N)+R by the hold timer: filled from segment 3 (4 and 5 are missing too).
    assert.equal(g.status, 200)
    assert.equal(g.headers.get('segment-defects'), 'filler')
    const body = Buffer.from(await g.arrayBuffer())
    assert.equal(tfdt(body), ((6 - 1) * D * timescale) / 1000)
    assert.equal(decodeErrors(init0, body), '')
  })

  it('a copy PUT after the filler replaces it only once the filler has expired (D after the commit)', async () => {
    clock.set(A(5) + R + 200)
    const filler = await get(origin, ch, segmentPath(0, 5))
    assert.equal(filler.headers.get('segment-defects'), 'filler')
    const late = validCopy(0, 5, 'west')
    clock.set(A(5) + R + 300)
    const ack = await put(origin, ch, segmentPath(0, 5), late, 'west')
    assert.equal(ack.status, 201)
    clock.set(A(5) + R + 300 + D - 1)
    const still = await get(origin, ch, segmentPath(0, 5))
    assert.equal(still.headers.get('segment-defects'), 'filler')
    assert.equal(still.headers.get('etag'), filler.headers.get('etag'))
    clock.set(A(5) + R + 300 + D)
    const real = await get(origin, ch, segmentPath(0, 5))
    assert.equal(real.status, 200)
    assert.equal(real.headers.get('segment-defects'), null)
    assert.equal(real.headers.get('segment-pipeline'), 'west')
    assert.equal(sha256(real.body), sha256(late))
    assert.equal(real.headers.get('cache-ttl-ms'), String(DVR))
  })

  it('with no earlier segment in reach, the gap is a 410', async () => {
    const empty = await createChannel(origin, AST)
    clock.set(A(3) + R)
    const g = await get(origin, empty, segmentPath(1, 3))
    assert.equal(g.status, 410)
    assert.equal(g.headers.get('cache-ttl-ms'), String(DVR))
  })
})

describe('gapPolicy "gone": 410, never contradicted', () => {
  let ch: string
  before(async () => {
    clock.set(AST)
    ch = await createChannel(origin, AST, { gapPolicy: 'gone' })
    clock.set(A(1) - 100)
    await put(origin, ch, segmentPath(0, 1), validCopy(0, 1, 'east'), 'east')
  })

  it('a missing segment → 410, TTL = DVR window, even with an earlier segment to fill from', async () => {
    clock.set(A(2) + R)
    const g = await get(origin, ch, segmentPath(0, 2))
    assert.equal(g.status, 410)
    assert.equal(g.headers.get('cache-ttl-ms'), String(DVR))
    assert.equal(JSON.parse(g.body.toString()).error.code, 'LIVEORIGIN_ERR_GONE')
  })

  it('a copy PUT after A(N)+R is stored (201) but the segment stays 410 for the whole DVR window', async () => {
    clock.set(A(2) + R + 500)
    const late = await put(origin, ch, segmentPath(0, 2), validCopy(0, 2, 'east'), 'east')
    assert.equal(late.status, 201)
    for (const t of [A(2) + R + 500, A(2) + R + 60_000, A(2) + DVR]) {
      clock.set(t)
      const g = await get(origin, ch, segmentPath(0, 2))
      assert.equal(g.status, 410, `at A(N)+${t - A(2)} ms`)
    }
    // The copy that came in time is still served.
    clock.set(A(2) + R + 500)
    const ok = await get(origin, ch, segmentPath(0, 1))
    assert.equal(ok.status, 200)
  })
})

describe('undecodable copies: repaired or not served', () => {
  let ch: string
  before(async () => {
    clock.set(AST)
    ch = await createChannel(origin, AST)
  })

  it("east's cut-off copy loses to west's copy with a packager-reported defect", async () => {
    clock.set(A(1) - 100)
    const east = await put(origin, ch, segmentPath(0, 1), cutCopy(1, 'east'), 'east')
    assert.match(east.defects, /^corrupt;/)
    const west = validCopy(0, 1, 'west')
    await put(origin, ch, segmentPath(0, 1), west, 'west', 'missing-frames;count=2')
    clock.set(A(1) + G)
    const g = await get(origin, ch, segmentPath(0, 1))
    assert.equal(g.status, 200)
    assert.equal(g.headers.get('segment-pipeline'), 'west')
    assert.equal(g.headers.get('segment-defects'), 'missing-frames;count=2')
    assert.equal(sha256(g.body), sha256(west))
  })

  it('the only copy is cut off: served repaired, short, decodable, TTL D', async () => {
    clock.set(A(2) - 100)
    const cut = cutCopy(2, 'east')
    await put(origin, ch, segmentPath(0, 2), cut, 'east')
    await put(origin, ch, segmentPath(0, 2), cutCopy(2, 'west', 0.3), 'west')
    assert.notEqual(decodeErrors(init0, cut), '')
    clock.set(A(2) + 1)
    const g = await get(origin, ch, segmentPath(0, 2))
    assert.equal(g.status, 200)
    // Both are undecodable as stored and as severe: pipeline order picks east, repaired.
    assert.equal(g.headers.get('segment-pipeline'), 'east')
    const defects = g.headers.get('segment-defects') ?? ''
    assert.match(defects, /short;ms=\d+/)
    assert.doesNotMatch(defects, /corrupt/)
    assert.match(g.headers.get('etag') ?? '', /-repaired"$/)
    assert.equal(g.headers.get('cache-ttl-ms'), String(D))
    assert.ok(g.body.length < cut.length)
    assert.equal(summarizeFragment(g.body, { init: parseInit(init0) }).corrupt, undefined)
    assert.equal(decodeErrors(init0, g.body), '')
  })

  it('a cut-off copy that cannot be repaired is missing: held, then a filler', async () => {
    clock.set(A(3) - 100)
    const whole = validCopy(0, 3, 'east')
    // Cut before the first sample ends: nothing to keep.
    const hopeless = whole.subarray(0, box(whole, 'mdat').start + 16)
    await put(origin, ch, segmentPath(0, 3), hopeless, 'east')
    await put(origin, ch, segmentPath(0, 3), hopeless, 'west')
    clock.set(A(3) + R)
    const g = await get(origin, ch, segmentPath(0, 3))
    assert.equal(g.status, 200)
    assert.equal(g.headers.get('segment-defects'), 'filler')
    // Filled from segment 2's repaired copy, moved one segment on.
    assert.equal(tfdt(g.body), ((3 - 1) * D * timescale) / 1000)
    assert.equal(decodeErrors(init0, g.body), '')
  })

  it('the status view says what delivery does: repaired copies, gaps and their answer', async () => {
    clock.set(A(3) + R)
    const r = await fetch(`${origin.control}/api/v1/channels/${ch}/status`)
    assert.equal(r.status, 200)
    const status = (await r.json()) as {
      timeline: {
        rendition: string
        segments: {
          number: number
          outcome: string
          served: string | null
          repaired: boolean
          gapAnswer: string | null
        }[]
      }[]
    }
    const lane = status.timeline.find((l) => l.rendition === '0')!
    const at = (n: number) => lane.segments.find((x) => x.number === n)!
    assert.deepEqual(
      [1, 2, 3].map((n) => {
        const x = at(n)
        return [x.outcome, x.served, x.repaired, x.gapAnswer]
      }),
      [
        ['defective', 'west', false, null],
        ['defective', 'east', true, null],
        ['missing', null, false, 'filler'],
      ],
    )
  })

  it('the packager itself said corrupt: never served, the gap policy answers', async () => {
    const gone = await createChannel(origin, AST, { gapPolicy: 'gone' })
    clock.set(A(4) - 100)
    await put(origin, gone, segmentPath(0, 4), validCopy(0, 4, 'east'), 'east', 'corrupt')
    await put(origin, gone, segmentPath(0, 4), validCopy(0, 4, 'west'), 'west', 'corrupt')
    clock.set(A(4) + R)
    assert.equal((await get(origin, gone, segmentPath(0, 4))).status, 410)
  })
})

describe('a mis-timed only copy: served moved to its place', () => {
  let ch: string
  before(async () => {
    ch = await channelWithSegments(3, ['east'])
  })

  it('segment 4 PUT with the timing of segment 6: 200, tfdt (N−S)·D, retimed, decodable, TTL D', async () => {
    clock.set(A(4) - 100)
    const late = validCopy(0, 6, 'east')
    const ack = await put(origin, ch, segmentPath(0, 4), late, 'east')
    assert.match(ack.defects, /timing-discontinuity;ms=2000;/)
    clock.set(A(4) + R)
    const g = await get(origin, ch, segmentPath(0, 4))
    assert.equal(g.status, 200)
    assert.equal(g.headers.get('segment-pipeline'), 'east')
    const defects = g.headers.get('segment-defects') ?? ''
    assert.match(defects, /^timing-discontinuity;ms=2000;track=1;retimed;origin$/)
    assert.match(g.headers.get('etag') ?? '', /-retimed"$/)
    assert.equal(g.headers.get('cache-ttl-ms'), String(D))
    assert.equal(tfdt(late), ((6 - 1) * D * timescale) / 1000)
    assert.equal(tfdt(g.body), ((4 - 1) * D * timescale) / 1000)
    assert.equal(g.body.length, late.length)
    const earlier = [1, 2, 3].map((n) => validCopy(0, n, 'east'))
    assert.equal(decodeErrors(init0, ...earlier, g.body), '')
    const again = await get(origin, ch, segmentPath(0, 4))
    assert.equal(sha256(again.body), sha256(g.body))
  })
})
