/**
 * LL-HLS blocking playlist reload over HTTP (docs/protocol.md#delivery, RFC 8216bis §6.2.5.2), real clock:
 * a playlist GET with `_HLS_msn` (and `_HLS_part`) is held until a playlist that has that
 * segment (part) is PUT, refused with 400 when it asks too far ahead, and answered 503
 * after three target durations. Release latency is measured from the PUT's 201 to the held
 * GET's headers, as in `real-time.test.ts`.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createChannel, get, put, summary, ttlOf, waitForHeld } from '../helpers/http.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

const D = 1000

/**
 * A media playlist with complete segments [first, last] (four 0.25 s parts each for the
 * newest two) and `trailing` parts of segment last + 1.
 */
function playlist(first: number, last: number, trailing = 0, endList = false): string {
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:9',
    '#EXT-X-TARGETDURATION:1',
    '#EXT-X-PART-INF:PART-TARGET=0.25',
    '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.75',
    `#EXT-X-MEDIA-SEQUENCE:${first}`,
  ]
  for (let n = first; n <= last; n++) {
    if (n >= last - 1) {
      for (let p = 0; p < 4; p++) lines.push(`#EXT-X-PART:DURATION=0.25,URI="${n}.${p}.m4s"`)
    }
    lines.push('#EXTINF:1.0,', `${n}.m4s`)
  }
  for (let p = 0; p < trailing; p++) lines.push(`#EXT-X-PART:DURATION=0.25,URI="${last + 1}.${p}.m4s"`)
  if (endList) lines.push('#EXT-X-ENDLIST')
  return `${lines.join('\n')}\n`
}

let origin: TestOrigin
const PATH = '/hls/v/index.m3u8'

before(async () => {
  origin = await startOrigin()
  await createChannel(origin, 'hls', {
    segmentDurationMs: D,
    availabilityStartTime: Date.now() - 60_000,
    media: '$RepresentationID$/$Number$.m4s',
  })
  assert.equal((await put(origin, PATH, playlist(1, 10))).status, 201)
})
after(() => origin.close())

describe('LL-HLS blocking playlist reload', () => {
  it('_HLS_msn=<next> is held and answered by the playlist PUT that has it', async (t) => {
    const deltas: number[] = []
    for (let last = 10; last < 30; last++) {
      const pending = get(origin, `${PATH}?_HLS_msn=${last + 1}`)
      await waitForHeld(origin, 1)
      const text = playlist(last - 5, last + 1)
      const ack = await put(origin, PATH, text)
      assert.equal(ack.status, 204)
      const r = await pending
      assert.equal(r.status, 200)
      assert.equal(r.body.toString('utf8'), text)
      assert.equal(ttlOf(r).ms, D / 2, 'HLS playlist lifetime D/2')
      assert.match(String(r.headers['cmsd-dynamic']), /^"liveorigin";ht=\d+$/)
      deltas.push(r.headersAt - ack.headersAt)
    }
    // Each answer is the playlist that was PUT (a hold that ended on its own would be a 503
    // after three target durations); the release latency is reported, not asserted.
    t.diagnostic(`blocking reload released after the playlist's 201/204, ms: ${summary(deltas)}`)
  })

  it('a request the playlist already satisfies is answered at once', async () => {
    const r = await get(origin, `${PATH}?_HLS_msn=25`)
    assert.equal(r.status, 200)
    assert.equal(r.headers['cmsd-dynamic'], undefined)
  })

  it('each waiter is released by the playlist that has its segment, not before', async () => {
    // The playlist's last segment is 30.
    const a = get(origin, `${PATH}?_HLS_msn=31`)
    const b = get(origin, `${PATH}?_HLS_msn=32`)
    await waitForHeld(origin, 2)
    await put(origin, PATH, playlist(26, 31))
    assert.equal((await a).status, 200)
    await waitForHeld(origin, 1)
    await put(origin, PATH, playlist(27, 32))
    const rb = await b
    assert.equal(rb.status, 200)
    assert.match(rb.body.toString(), /\n32\.m4s\n/)
    await waitForHeld(origin, 0)
  })

  it('_HLS_msn more than 2 past the last segment → 400 at once; 2 past is held', async () => {
    const r = await get(origin, `${PATH}?_HLS_msn=35`)
    assert.equal(r.status, 400)
    assert.equal(JSON.parse(r.body.toString()).error.code, 'LIVEORIGIN_ERR_BAD_QUERY')
    const held = get(origin, `${PATH}?_HLS_msn=34`)
    await waitForHeld(origin, 1)
    await put(origin, PATH, playlist(29, 34))
    assert.equal((await held).status, 200)
  })

  it('_HLS_part: held until the playlist lists that part', async (t) => {
    // Last complete segment 34; ask for part 2 of segment 35.
    const pending = get(origin, `${PATH}?_HLS_msn=35&_HLS_part=2`)
    await waitForHeld(origin, 1)
    await put(origin, PATH, playlist(29, 34, 2)) // parts 0 and 1 of 35
    await waitForHeld(origin, 1)
    const text = playlist(29, 34, 3) // part 2 of 35 is out
    const ack = await put(origin, PATH, text)
    const r = await pending
    assert.equal(r.status, 200)
    assert.equal(r.body.toString(), text)
    t.diagnostic(`part released ${(r.headersAt - ack.headersAt).toFixed(2)} ms after the PUT's answer`)
  })

  it('bad directives → 400: _HLS_part without _HLS_msn, not an integer, repeated', async () => {
    for (const q of ['_HLS_part=1', '_HLS_msn=abc', '_HLS_msn=34&_HLS_msn=35', '_HLS_msn=-1']) {
      const r = await get(origin, `${PATH}?${q}`)
      assert.equal(r.status, 400, q)
    }
  })

  it('a playlist with EXT-X-ENDLIST answers every blocking request at once', async () => {
    await put(origin, '/hls/v/ended.m3u8', playlist(1, 5, 0, true))
    const r = await get(origin, '/hls/v/ended.m3u8?_HLS_msn=100')
    assert.equal(r.status, 200)
  })

  it('held at most three target durations, then 503', async (t) => {
    const started = performance.now()
    const r = await get(origin, `${PATH}?_HLS_msn=36`)
    const waited = performance.now() - started
    assert.equal(r.status, 503)
    t.diagnostic(`blocking reload gave up after ${waited.toFixed(0)} ms (3 × EXT-X-TARGETDURATION = 3000 ms)`)
    // Not before three target durations; the upper bound only tells 3 from 5 or more (a busy
    // machine delays the answer by far less than two target durations).
    assert.ok(waited >= 2990, `gave up after ${waited.toFixed(0)} ms, before 3000`)
    assert.ok(waited < 5000, `gave up only after ${waited.toFixed(0)} ms`)
    await waitForHeld(origin, 0)
  })
})
