/**
 * The delivery table (docs/protocol.md#media-segments) over real sockets, row by row, on an injected clock: the origin
 * runs in this process with `now()` under the test's control, so every TTL is checked to the
 * millisecond and every boundary instant exactly.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import {
  createChannel,
  FakeClock,
  get,
  originWithChannel,
  put,
  request,
  type ttlOf,
  waitForHeld,
} from '../helpers/http.js'
import type { TestOrigin } from '../helpers/origin.js'

const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
const D = 2000
const H = D // default hold window
const R = 2 * D // default late allowance
const DVR = 600_000
const S = 1
const A = (n: number, s = S) => AST + (n - s + 1) * D
const ATO = 1500 // availability time offset of the low-latency channel 'll'
const seg = (n: number, rendition = 'v') => `/ch/${rendition}/seg-${String(n).padStart(5, '0')}.ts`

const clock = new FakeClock(AST)
let origin: TestOrigin

before(async () => {
  origin = await originWithChannel(clock, {
    segmentDurationMs: D,
    availabilityStartTime: AST,
    startNumber: S,
    media: '$RepresentationID$/seg-$Number%05d$.ts',
    initialization: '$RepresentationID$/init.mp4',
    dvrWindowMs: DVR,
    manifestTtlMs: 1500,
  })
  await createChannel(origin, 'll', {
    segmentDurationMs: D,
    availabilityStartTime: AST,
    startNumber: S,
    media: '$RepresentationID$/seg-$Number%05d$.ts',
    dvrWindowMs: DVR,
    availabilityTimeOffsetMs: ATO,
  })
  await createChannel(origin, 'late-start', {
    segmentDurationMs: D,
    availabilityStartTime: AST,
    startNumber: 10,
    media: '$RepresentationID$/seg-$Number%05d$.ts',
    dvrWindowMs: DVR,
  })
})
after(() => origin.close())

function assertTtl(a: { headers: Record<string, unknown> } & Parameters<typeof ttlOf>[0], ms: number) {
  assert.equal(a.headers['cache-ttl-ms'], String(ms), 'Cache-TTL-Ms')
  assert.equal(a.headers['cache-control'], `max-age=${Math.floor(ms / 1000)}`, 'Cache-Control')
}

describe('the media segment table through HTTP, injected clock', () => {
  it('unknown channel → 404 with a 5 s lifetime', async () => {
    clock.set(A(5))
    const r = await get(origin, '/nochannel/v/seg-00005.ts')
    assert.equal(r.status, 404)
    assertTtl(r, 5000)
    assert.equal(JSON.parse(r.body.toString()).error.code, 'LIVEORIGIN_ERR_UNKNOWN_CHANNEL')
  })

  it('N < S → 404 with the DVR window as lifetime, CMSD-Static at A(N)', async () => {
    clock.set(A(20))
    const r = await get(origin, '/late-start/v/seg-00009.ts')
    assert.equal(r.status, 404)
    assertTtl(r, DVR)
    assert.equal(r.headers['cmsd-static'], `at=${A(9, 10)}`)
    const zero = await get(origin, seg(0))
    assert.equal(zero.status, 404)
    assertTtl(zero, DVR)
  })

  it('a number the template cannot produce (wrong zero padding for %05d) → 404, DVR window', async () => {
    clock.set(A(20))
    for (const path of ['/ch/v/seg-001.ts', '/ch/v/seg-0012345.ts', '/ch/v/seg-0000.ts']) {
      const r = await get(origin, path)
      assert.equal(r.status, 404, path)
      assertTtl(r, DVR)
    }
    // Six digits without a leading zero is a number %05d does write: ordinary timing applies.
    const wide = await get(origin, '/ch/v/seg-123456.ts')
    assert.equal(wide.status, 404)
    assertTtl(wide, 3_600_000)
  })

  it('t < A(N) − H → 404 whose lifetime ends exactly at A(N) − H', async () => {
    const n = 30
    clock.set(A(n) - H - 12_345)
    const r = await get(origin, seg(n))
    assert.equal(r.status, 404)
    assertTtl(r, 12_345)
    assert.equal(r.headers['cmsd-static'], `at=${A(n)}`)
    const head = await get(origin, seg(n), { method: 'HEAD' })
    assert.equal(head.status, 404)
    assertTtl(head, 12_345)
    assert.equal(head.headers['cmsd-static'], `at=${A(n)}`)
    assert.equal(head.body.length, 0)

    clock.set(A(n) - H - 1)
    const last = await get(origin, seg(n))
    assert.equal(last.status, 404)
    assertTtl(last, 1)
    clock.set(A(n) - H - 999)
    assertTtl(await get(origin, seg(n)), 999)
    clock.set(A(n) - H - 1000)
    assertTtl(await get(origin, seg(n)), 1000)
  })

  it('the too-early lifetime is capped at 1 h', async () => {
    clock.set(A(10))
    const n = 10 + 3_600_000 / D + 5
    const r = await get(origin, seg(n))
    assert.equal(r.status, 404)
    assertTtl(r, 3_600_000)
    assert.equal(r.headers['cmsd-static'], `at=${A(n)}`)
  })

  it('held from A(N) − H; the commit answers 200 with CMSD-Dynamic ht = time held', async () => {
    const n = 40
    clock.set(A(n) - H)
    const body = randomBytes(40_000)
    const pending = get(origin, seg(n))
    await waitForHeld(origin, 1)
    clock.advance(250)
    const ack = await put(origin, seg(n), body)
    assert.equal(ack.status, 201)
    const r = await pending
    assert.equal(r.status, 200)
    assert.ok(r.body.equals(body))
    assert.equal(r.headers['cmsd-dynamic'], '"liveorigin";ht=250')
    assert.equal(r.headers['cmsd-static'], `at=${A(n)}`)
    assert.equal(r.headers['segment-pipeline'], 'east')
    assert.equal(r.headers.etag, ack.headers.etag)
    assertTtl(r, DVR)
    await waitForHeld(origin, 0)
    // Not held: no CMSD-Dynamic.
    const again = await get(origin, seg(n))
    assert.equal(again.status, 200)
    assert.equal(again.headers['cmsd-dynamic'], undefined)
    assert.equal(again.headers['cmsd-static'], `at=${A(n)}`)
  })

  it('held until A(N) + R, then 410 with the DVR window and the time held', async () => {
    const n = 50
    clock.set(A(n) + R - 300)
    const pending = get(origin, seg(n))
    await waitForHeld(origin, 1)
    clock.set(A(n) + R)
    const r = await pending
    assert.equal(r.status, 410)
    assertTtl(r, DVR)
    assert.equal(r.headers['cmsd-dynamic'], '"liveorigin";ht=300')
    assert.equal(r.headers['cmsd-static'], `at=${A(n)}`)
    await waitForHeld(origin, 0)
  })

  it('one ms before A(N) + R is still held; at A(N) + R → 410 at once', async () => {
    const n = 60
    clock.set(A(n) + R - 1)
    const pending = get(origin, seg(n))
    await waitForHeld(origin, 1)
    await put(origin, seg(n, 'v'), randomBytes(100))
    assert.equal((await pending).status, 200)

    const m = 61
    clock.set(A(m) + R)
    const r = await get(origin, seg(m))
    assert.equal(r.status, 410)
    assertTtl(r, DVR)
    assert.equal(r.headers['cmsd-static'], `at=${A(m)}`)
    assert.equal(r.headers['cmsd-dynamic'], undefined)
    clock.set(A(m) + 5 * D)
    assert.equal((await get(origin, seg(m))).status, 410)
  })

  it('a stored segment is served until A(N) + DVR window, then 410 although it is stored', async () => {
    const n = 70
    clock.set(A(n))
    const body = randomBytes(1000)
    assert.equal((await put(origin, seg(n), body)).status, 201)
    clock.set(A(n) + DVR)
    const ok = await get(origin, seg(n))
    assert.equal(ok.status, 200)
    assert.ok(ok.body.equals(body))
    assertTtl(ok, DVR)
    assert.equal(ok.headers['cmsd-static'], `at=${A(n)}`)
    clock.set(A(n) + DVR + 1)
    const gone = await get(origin, seg(n))
    assert.equal(gone.status, 410)
    assertTtl(gone, DVR)
    assert.equal(gone.headers['cmsd-static'], `at=${A(n)}`)
    // Inside the hold window a stored copy is served at once, not held.
    clock.set(A(n) - H)
    const early = await get(origin, seg(n))
    assert.equal(early.status, 200)
    assert.equal(early.headers['cmsd-dynamic'], undefined)
  })
})

describe('a low-latency channel (availabilityTimeOffsetMs) through HTTP, injected clock', () => {
  const llSeg = (n: number) => `/ll/v/seg-${String(n).padStart(5, '0')}.ts`

  it('the control API shows the offset', async () => {
    const r = await request(`${origin.control}/api/v1/channels/ll`)
    assert.equal(r.status, 200)
    assert.equal(JSON.parse(r.body.toString()).config.availabilityTimeOffsetMs, ATO)
  })

  it('404 until A(N) − ATO − H, its lifetime ending exactly then; CMSD-Static still at A(N)', async () => {
    const n = 30
    clock.set(A(n) - ATO - H - 4321)
    const r = await get(origin, llSeg(n))
    assert.equal(r.status, 404)
    assertTtl(r, 4321)
    assert.equal(r.headers['cmsd-static'], `at=${A(n)}`)
    clock.set(A(n) - ATO - H - 1)
    assertTtl(await get(origin, llSeg(n)), 1)
  })

  it('held from A(N) − ATO − H and released by the commit', async () => {
    const n = 40
    clock.set(A(n) - ATO - H)
    const pending = get(origin, llSeg(n))
    await waitForHeld(origin, 1)
    clock.advance(120)
    const body = randomBytes(5000)
    assert.equal((await put(origin, llSeg(n), body)).status, 201)
    const r = await pending
    assert.equal(r.status, 200)
    assert.ok(r.body.equals(body))
    assert.equal(r.headers['cmsd-dynamic'], '"liveorigin";ht=120')
    await waitForHeld(origin, 0)
  })

  it('the gap answer still comes at A(N) + R, not ATO earlier', async () => {
    const n = 50
    clock.set(A(n) + R - ATO)
    const pending = get(origin, llSeg(n))
    await waitForHeld(origin, 1)
    clock.set(A(n) + R)
    const r = await pending
    assert.equal(r.status, 410)
    assertTtl(r, DVR)
    assert.equal(r.headers['cmsd-dynamic'], `"liveorigin";ht=${ATO}`)
    await waitForHeld(origin, 0)
  })
})

describe('init segments and manifests through HTTP, injected clock', () => {
  it('init: 404 (1 s) before A(S) − H; held inside the window and released by the PUT; 200 with the DVR window', async () => {
    clock.set(A(S) - H - 1)
    const early = await get(origin, '/ch/a/init.mp4')
    assert.equal(early.status, 404)
    assertTtl(early, 1000)

    clock.set(A(S) - H)
    const pending = get(origin, '/ch/a/init.mp4')
    await waitForHeld(origin, 1)
    clock.advance(75)
    const body = randomBytes(800)
    assert.equal((await put(origin, '/ch/a/init.mp4', body)).status, 201)
    const r = await pending
    assert.equal(r.status, 200)
    assert.ok(r.body.equals(body))
    assertTtl(r, DVR)
    assert.equal(r.headers['cmsd-dynamic'], '"liveorigin";ht=75')
  })

  it('init: never 410; 404 with 1 s once A(S) + R has passed', async () => {
    clock.set(A(S) + R)
    const r = await get(origin, '/ch/b/init.mp4')
    assert.equal(r.status, 404)
    assertTtl(r, 1000)
    clock.set(A(500))
    assert.equal((await get(origin, '/ch/b/init.mp4')).status, 404)
  })

  it('manifests: MPD lifetime = manifestTtlMs, HLS playlist = D/2, missing = 404 with 1 s', async () => {
    clock.set(A(100))
    assert.equal((await put(origin, '/ch/manifest.mpd', '<MPD/>')).status, 201)
    assert.equal((await put(origin, '/ch/v/playlist.m3u8', '#EXTM3U\n#EXT-X-TARGETDURATION:2\n')).status, 201)
    const mpd = await get(origin, '/ch/manifest.mpd')
    assert.equal(mpd.status, 200)
    assertTtl(mpd, 1500)
    const m3u8 = await get(origin, '/ch/v/playlist.m3u8')
    assert.equal(m3u8.status, 200)
    assertTtl(m3u8, D / 2)
    const missing = await get(origin, '/ch/other.mpd')
    assert.equal(missing.status, 404)
    assertTtl(missing, 1000)
    const missingHls = await get(origin, '/ch/v/other.m3u8')
    assert.equal(missingHls.status, 404)
    assertTtl(missingHls, 1000)
  })
})
