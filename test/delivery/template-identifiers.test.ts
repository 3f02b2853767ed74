/**
 * Segment templates that name renditions by `$Bandwidth$`, or not at all, over real sockets on
 * an injected clock: every media PUT is taken (checked against its rendition's init segment),
 * each rendition keeps its own segments, a gap gets its filler, and the status names each
 * rendition. An init template that needs a value the media paths do not hold is refused when
 * an operator sets it, and tolerated when an MPD pairs them (the segments are then checked
 * without their init segment).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { D, get, NO_SHEDDING, put, sha256, validCopy } from '../helpers/fixture-channel.js'
import { FakeClock } from '../helpers/http.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'
import { dashInit } from '../selection/helpers.js'

const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
const R = 2 * D
/** A(N) with S = 1. */
const A = (n: number) => AST + n * D
const clock = new FakeClock(AST)

let origin: TestOrigin
before(async () => {
  origin = await startOrigin(NO_SHEDDING, { now: clock.now })
})
after(() => origin.close())

async function putChannel(name: string, fields: Record<string, unknown>): Promise<Response> {
  return fetch(`${origin.control}/api/v1/channels/${name}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      segmentDurationMs: D,
      availabilityStartTime: AST,
      pipelines: ['east'],
      ...fields,
    }),
  })
}

/** PUTs a media segment and answers its status and the defects the origin found. */
async function putSegment(channel: string, path: string, body: Uint8Array) {
  const r = await fetch(`${origin.ingest}/${channel}/${path}`, {
    method: 'PUT',
    body,
    headers: { 'Pipeline-Id': 'east' },
  })
  const text = await r.text()
  return { status: r.status, defects: r.headers.get('segment-defects') ?? '', text }
}

describe('renditions named by $Bandwidth$', () => {
  const channel = 'by-bandwidth'
  // Rendition 0 of the fixtures at 800 kbit/s, rendition 1 at 400 kbit/s.
  const bandwidths = [800_000, 400_000]
  const segment = (r: number, n: number) => `${bandwidths[r]}/seg-${String(n).padStart(5, '0')}.m4s`

  before(async () => {
    clock.set(AST)
    const r = await putChannel(channel, {
      media: '$Bandwidth$/seg-$Number%05d$.m4s',
      initialization: '$Bandwidth$/init.mp4',
    })
    assert.equal(r.status, 201, await r.text())
    for (const rendition of [0, 1])
      await put(origin, channel, `${bandwidths[rendition]}/init.mp4`, dashInit(rendition), 'east')
  })

  it('takes every media PUT, checked against the init segment its path names', async () => {
    for (let n = 1; n <= 3; n++) {
      clock.set(A(n) - 100)
      for (const rendition of [0, 1]) {
        const r = await putSegment(channel, segment(rendition, n), validCopy(rendition, n, 'east'))
        assert.equal(r.status, 201, r.text)
        assert.equal(r.defects, '')
      }
    }
    // Segment 6 sent as segment 4: its media time is wrong, which only the init segment's
    // timescale can tell.
    clock.set(A(4) - 100)
    const wrong = await putSegment(channel, segment(0, 4), validCopy(0, 6, 'east'))
    assert.equal(wrong.status, 201, wrong.text)
    assert.notEqual(wrong.defects, '')
  })

  it('serves each rendition its own copy of a number', async () => {
    clock.set(A(3) + 10)
    for (const rendition of [0, 1]) {
      const g = await get(origin, channel, segment(rendition, 3))
      assert.equal(g.status, 200)
      assert.equal(sha256(g.body), sha256(validCopy(rendition, 3, 'east')))
    }
  })

  it('fills a gap of one rendition from that rendition', async () => {
    clock.set(A(5) + R)
    const g = await get(origin, channel, segment(1, 5))
    assert.equal(g.status, 200)
    assert.equal(g.headers.get('segment-defects'), 'filler')
    assert.equal(g.body.length, validCopy(1, 3, 'east').length)
  })

  it('names each rendition in the status by its bandwidth', async () => {
    const r = await fetch(`${origin.control}/api/v1/channels/${channel}/status`)
    assert.equal(r.status, 200)
    const status = (await r.json()) as { timeline: { rendition: string; segments: { number: number }[] }[] }
    assert.deepEqual(status.timeline.map((t) => t.rendition).sort(), ['@400000', '@800000'])
  })
})

describe('an init template needing more than the media paths hold', () => {
  it('is refused when an operator sets it, naming the field', async () => {
    const r = await putChannel('init-needs-id', {
      media: 'seg-$Number$.m4s',
      initialization: 'init-$RepresentationID$.m4s',
    })
    assert.equal(r.status, 400)
    const body = (await r.json()) as { error: { code: string; message: string } }
    assert.equal(body.error.code, 'LIVEORIGIN_ERR_BAD_CONFIG')
    assert.match(body.error.message, /^invalid field initialization: uses \$RepresentationID\$/)
  })

  it('defaults to one init segment when the media template has no $RepresentationID$', async () => {
    const r = await putChannel('one-init', { media: 'seg-$Number$.m4s' })
    assert.equal(r.status, 201)
    const body = (await r.json()) as { config: { initialization: string } }
    assert.equal(body.config.initialization, 'init.mp4')
    clock.set(AST)
    await put(origin, 'one-init', 'init.mp4', dashInit(0), 'east')
    clock.set(A(1) - 100)
    const s = await putSegment('one-init', 'seg-1.m4s', validCopy(0, 1, 'east'))
    assert.equal(s.status, 201, s.text)
    assert.equal(s.defects, '')
  })

  it('is tolerated when learned from an MPD: its segments are taken without their init segment', async () => {
    clock.set(AST)
    const mpd = `<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" availabilityStartTime="${new Date(AST).toISOString()}">
  <Period id="p0" start="PT0S"><AdaptationSet contentType="video"><Representation id="v">
    <SegmentTemplate media="seg-$Number$.m4s" initialization="init-$RepresentationID$.m4s" duration="1"/>
  </Representation></AdaptationSet></Period>
</MPD>`
    const m = await fetch(`${origin.ingest}/learned/manifest.mpd`, {
      method: 'PUT',
      body: mpd,
      headers: { 'Pipeline-Id': 'east', 'Content-Type': 'application/dash+xml' },
    })
    assert.equal(m.status, 201, await m.text())
    await put(origin, 'learned', 'init-v.m4s', dashInit(0), 'east')
    clock.set(A(1) - 100)
    const s = await putSegment('learned', 'seg-1.m4s', validCopy(0, 1, 'east'))
    assert.equal(s.status, 201, s.text)
    clock.set(A(1) + 10)
    const g = await get(origin, 'learned', 'seg-1.m4s')
    assert.equal(g.status, 200)
    assert.equal(sha256(g.body), sha256(validCopy(0, 1, 'east')))
  })
})
