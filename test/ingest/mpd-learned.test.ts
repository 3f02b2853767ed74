/**
 * A channel learned from the MPD a packager PUTs (docs/protocol.md#channels-and-segment-templates): ffmpeg's live dash muxer output
 * (`test/fixtures/dash/manifest-live.mpd`, made by `test/fixtures/make-fixtures.sh`) creates
 * a channel with the MPD's template and timing, and its segments then follow the delivery rules.
 * The clock is injected, 3.5 s after the MPD's availabilityStartTime.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { FakeClock, get, put, request, ttlOf, waitForHeld } from '../helpers/http.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

const fixture = (name: string) => readFileSync(new URL(`../fixtures/dash/${name}`, import.meta.url))
const mpd = fixture('manifest-live.mpd')
const AST = Date.parse('2026-11-26T09:11:25.521Z') // MPD@availabilityStartTime of the fixture
const D = 1000
const A = (n: number) => AST + n * D // startNumber 1
const clock = new FakeClock(AST + 3500) // live edge: segment 3
let origin: TestOrigin

before(async () => {
  origin = await startOrigin({}, { now: clock.now })
})
after(() => origin.close())

describe('a channel learned from an ffmpeg MPD', () => {
  it('the PUT of the MPD creates the channel with its template and timing', async () => {
    assert.equal((await get(origin, '/dash/seg-0-00001.m4s')).status, 404, 'no channel yet')
    const r = await put(origin, '/dash/manifest.mpd', mpd)
    assert.equal(r.status, 201)
    const described = await request(`${origin.control}/api/v1/channels/dash`)
    assert.equal(described.status, 200)
    const ch = JSON.parse(described.body.toString('utf8'))
    assert.equal(ch.source, 'mpd')
    assert.equal(ch.config.segmentDurationMs, D)
    assert.equal(ch.config.availabilityStartTime, AST)
    assert.equal(ch.config.startNumber, 1)
    assert.equal(ch.config.media, 'seg-$RepresentationID$-$Number%05d$.m4s')
    assert.equal(ch.config.initialization, 'init-$RepresentationID$.m4s')
    assert.equal(ch.live.liveEdge, 3)
    assert.equal(ch.live.liveEdgeAvailableAt, A(3))
  })

  it('the MPD itself is served with the manifest lifetime (D)', async () => {
    const r = await get(origin, '/dash/manifest.mpd')
    assert.equal(r.status, 200)
    assert.ok(r.body.equals(mpd))
    assert.equal(ttlOf(r).ms, D)
  })

  it('a far-future segment of the MPD → 404 with the exact lifetime; a bad padding → 404 DVR window', async () => {
    const r = await get(origin, '/dash/seg-1-00100.m4s')
    assert.equal(r.status, 404)
    assert.equal(ttlOf(r).ms, A(100) - D - clock.now())
    assert.equal(r.headers['cmsd-static'], `at=${A(100)}`)
    const dvr = JSON.parse((await request(`${origin.control}/api/v1/channels/dash`)).body.toString()).config
      .dvrWindowMs
    const bad = await get(origin, '/dash/seg-1-004.m4s')
    assert.equal(bad.status, 404)
    assert.equal(ttlOf(bad).ms, dvr)
  })

  it('the real fMP4 segments PUT by the pipeline are served, inspected clean', async () => {
    assert.equal((await put(origin, '/dash/init-0.m4s', fixture('init-0.m4s'))).status, 201)
    const seg = fixture('seg-0-00003.m4s')
    const ack = await put(origin, '/dash/seg-0-00003.m4s', seg)
    assert.equal(ack.status, 201)
    assert.equal(ack.headers['segment-defects'], undefined, 'the origin found nothing wrong')
    const r = await get(origin, '/dash/seg-0-00003.m4s')
    assert.equal(r.status, 200)
    assert.ok(r.body.equals(seg))
    assert.equal(r.headers['cmsd-static'], `at=${A(3)}`)
    assert.equal(r.headers['segment-defects'], undefined)
  })

  it('the next segment is held from A(N) − H and released by its PUT', async () => {
    const pending = get(origin, '/dash/seg-0-00004.m4s')
    await waitForHeld(origin, 1)
    clock.advance(400)
    const seg = fixture('seg-0-00004.m4s')
    assert.equal((await put(origin, '/dash/seg-0-00004.m4s', seg)).status, 201)
    const r = await pending
    assert.equal(r.status, 200)
    assert.ok(r.body.equals(seg))
    assert.equal(r.headers['cmsd-dynamic'], '"liveorigin";ht=400')
    assert.equal(r.headers['cmsd-static'], `at=${A(4)}`)
  })

  it('a segment nobody PUT is 410 once A(N) + R has passed', async () => {
    clock.set(A(2) + 2 * D)
    const r = await get(origin, '/dash/seg-2-00002.m4s')
    assert.equal(r.status, 410)
  })
})
