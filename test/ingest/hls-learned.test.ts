/**
 * Channels learned from the HLS playlists a pipeline PUTs (docs/timing.md, "HLS timing"),
 * through HTTP on an origin whose clock is injected: ffmpeg's live MPEG-TS playlist
 * (`test/fixtures/hls/ts/index.m3u8`, segments index2.ts…index4.ts) teaches the channel its
 * timing, anchored on the playlist's arrival; its segments then follow the delivery rules.
 * Explicit configuration and MPD-learned timing win; an unreadable playlist is refused.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { createChannel, FakeClock, get, put, request, ttlOf, waitForHeld } from '../helpers/http.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

const hls = (p: string) => readFileSync(new URL(`../fixtures/hls/${p}`, import.meta.url), 'utf8')
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)
const D = 2000
const DVR = 4 * 3_600_000
const clock = new FakeClock(T0)
let origin: TestOrigin

before(async () => {
  origin = await startOrigin({}, { now: clock.now })
})
after(() => origin.close())

async function described(channel: string) {
  const r = await request(`${origin.control}/api/v1/channels/${channel}`)
  assert.equal(r.status, 200)
  return JSON.parse(r.body.toString('utf8'))
}

describe('a channel learned from an ffmpeg playlist', () => {
  const seg = (n: number) => randomBytes(1000 + n)
  const playlist = hls('ts/index.m3u8')
  // A(N) = AST + (N − S + 1)·D with S = 2 and A(4) = T0, the playlist's arrival.
  const A = (n: number) => T0 + (n - 4) * D

  it('segments before the playlist: a channel without a template, written-once objects kept long in caches', async () => {
    for (const n of [2, 3, 4]) assert.equal((await put(origin, `/live/index${n}.ts`, seg(n))).status, 201)
    assert.equal((await described('live')).source, 'implicit')
    const r = await get(origin, '/live/index4.ts')
    assert.equal(r.status, 200)
    assert.equal(ttlOf(r).ms, DVR)
  })

  it('the PUT of the playlist teaches the channel its timing (source hls)', async () => {
    assert.equal((await put(origin, '/live/index.m3u8', playlist)).status, 201)
    const ch = await described('live')
    assert.equal(ch.source, 'hls')
    assert.equal(ch.config.segmentDurationMs, D)
    assert.equal(ch.config.startNumber, 2)
    assert.equal(ch.config.media, 'index$Number$.ts')
    assert.equal(ch.config.availabilityStartTime, A(1))
    const m = await get(origin, '/live/index.m3u8')
    assert.equal(ttlOf(m).ms, D / 2, 'playlists stay short-lived')
  })

  it('stored segments carry the DVR window as their lifetime', async () => {
    const r = await get(origin, '/live/index3.ts')
    assert.equal(r.status, 200)
    assert.equal(ttlOf(r).ms, DVR)
    assert.equal(r.headers['cmsd-static'], `at=${A(3)}`)
  })

  it('the next segment is held and released by its PUT', async () => {
    clock.set(T0 + 100)
    const body = seg(5)
    const held = get(origin, '/live/index5.ts')
    await waitForHeld(origin, 1)
    // Held before the PUT was sent: its answer can only come from the PUT's commit.
    assert.equal((await put(origin, '/live/index5.ts', body)).status, 201)
    const a = await held
    assert.equal(a.status, 200)
    assert.ok(a.body.equals(body))
    assert.match(String(a.headers['cmsd-dynamic']), /ht=\d+/, 'answered as a held request')
  })

  it('a segment 5 ahead gets a 404 whose lifetime ends exactly when holding starts', async () => {
    const r = await get(origin, '/live/index9.ts')
    assert.equal(r.status, 404)
    assert.equal(ttlOf(r).ms, A(9) - D - (T0 + 100))
  })

  it('a segment no pipeline sent gets the gap policy answer at A(N) + R (410 for MPEG-TS)', async () => {
    clock.set(A(6) + 2 * D)
    const r = await get(origin, '/live/index6.ts')
    assert.equal(r.status, 410)
    assert.equal(ttlOf(r).ms, DVR)
  })

  it('the next playlists change nothing while their arrival matches the timing; a drift re-anchors', async () => {
    const before = (await described('live')).config
    const next = (n: number) =>
      `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:${n - 2}\n` +
      [n - 2, n - 1, n].map((k) => `#EXTINF:2.000000,\nindex${k}.ts\n`).join('')
    clock.set(A(7) + 150)
    assert.equal((await put(origin, '/live/index.m3u8', next(7))).status, 204)
    assert.deepEqual((await described('live')).config, before)
    clock.set(A(8) + 1000)
    assert.equal((await put(origin, '/live/index.m3u8', next(8))).status, 204)
    assert.equal((await described('live')).config.availabilityStartTime, before.availabilityStartTime + 1000)
  })

  it('a playlist the origin cannot read is refused with 400 and the earlier copy is still served', async () => {
    const earlier = (await get(origin, '/live/index.m3u8')).body
    const r = await put(origin, '/live/index.m3u8', '<html>not a playlist</html>')
    assert.equal(r.status, 400)
    assert.equal(JSON.parse(r.body.toString('utf8')).error.code, 'LIVEORIGIN_ERR_BAD_PLAYLIST')
    const after = await get(origin, '/live/index.m3u8')
    assert.equal(after.status, 200)
    assert.ok(after.body.equals(earlier))
  })

  it('a playlist that reads but gives no timing is stored; its channel stays without a template', async () => {
    const odd = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nintro.ts\n#EXTINF:2,\nmain.ts\n'
    assert.equal((await put(origin, '/odd/index.m3u8', odd)).status, 201)
    assert.equal((await get(origin, '/odd/index.m3u8')).body.toString(), odd)
    const ch = await described('odd')
    assert.equal(ch.source, 'implicit')
    assert.equal(ch.config, null)
  })
})

describe('sources of timing', () => {
  it('explicit configuration wins over playlists', async () => {
    clock.set(T0)
    await createChannel(origin, 'exp', {
      segmentDurationMs: 1000,
      availabilityStartTime: T0,
      media: 'v/$Number$.ts',
    })
    assert.equal((await put(origin, '/exp/index.m3u8', hls('ts/index.m3u8'))).status, 201)
    const ch = await described('exp')
    assert.equal(ch.source, 'api')
    assert.equal(ch.config.segmentDurationMs, 1000)
    assert.equal(ch.config.media, 'v/$Number$.ts')
  })

  it('a channel learned from an MPD keeps its timing when playlists come too', async () => {
    const mpd = readFileSync(new URL('../fixtures/dash/manifest-live.mpd', import.meta.url))
    assert.equal((await put(origin, '/both/manifest.mpd', mpd)).status, 201)
    const before = await described('both')
    assert.equal((await put(origin, '/both/index.m3u8', hls('fmp4/index.m3u8'))).status, 201)
    const ch = await described('both')
    assert.equal(ch.source, 'mpd')
    assert.deepEqual(ch.config, before.config)
  })

  it('-var_stream_map: the multivariant playlist and each variant playlist give one template with $RepresentationID$', async () => {
    clock.set(T0)
    assert.equal((await put(origin, '/var/master.m3u8', hls('var-ts/master.m3u8'))).status, 201)
    assert.equal(
      (await put(origin, '/var/stream_0/index.m3u8', hls('var-ts/stream_0/index.m3u8'))).status,
      201,
    )
    const ch = await described('var')
    assert.equal(ch.source, 'hls')
    assert.equal(ch.config.media, 'stream_$RepresentationID$/data$Number$.ts')
    clock.set(T0 + 40)
    assert.equal(
      (await put(origin, '/var/stream_1/index.m3u8', hls('var-ts/stream_1/index.m3u8'))).status,
      201,
    )
    assert.deepEqual((await described('var')).config, ch.config)
    const r = await get(origin, '/var/stream_1/data9.ts')
    assert.equal(r.status, 404)
    assert.equal(ttlOf(r).ms, T0 + (9 - 4) * D - D - (T0 + 40))
  })
})
