/**
 * Segments served while they upload (docs/delivery.md#segments-in-progress), over real
 * sockets, with chunked PUTs of real fMP4 segments cut into CMAF chunks: a held GET gets each
 * chunk as it arrives, a GET that comes mid-upload gets the chunks so far then the rest, a
 * copy cut off or turning corrupt mid-segment cuts its readers off and their retry gets the
 * other pipeline's copy (which is what is stored), HEAD and a suffix range (the stored copy's),
 * and a channel that is not
 * `lowLatency` answers as before.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { cmafChunks } from '../../src/simulate/fmp4.js'
import { chunkedCopy, chunkedPut, streamedGet } from '../helpers/chunked.js'
import { createChannel, get, NO_SHEDDING, segmentPath, sha256 } from '../helpers/fixture-channel.js'
import { metric, waitFor, waitForHeld } from '../helpers/http.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

let origin: TestOrigin
let ll: string
let plain: string
/** Segment numbers 20…: due 0–20 s from now, held (H = 60 s) until they come. */
let next = 20
const url = (channel: string, n: number) => `${origin.delivery}/${channel}/${segmentPath(0, n)}`
const putUrl = (channel: string, n: number) => `${origin.ingest}/${channel}/${segmentPath(0, n)}`

before(async () => {
  origin = await startOrigin(NO_SHEDDING)
  const ast = Date.now() - 10_000
  const timing = { holdWindowMs: 60_000, lateAllowanceMs: 60_000, selectionGraceMs: 30_000 }
  ll = await createChannel(origin, ast, { ...timing, lowLatency: true })
  plain = await createChannel(origin, ast, timing)
})
after(() => origin.close())

describe('a low-latency channel', () => {
  it('a held GET gets the first chunk before the upload ends, then each chunk, then a stored copy', async () => {
    const n = next++
    const segment = chunkedCopy(0, n, 'east', 5)
    const chunks = cmafChunks(segment)
    assert.equal(chunks.length, 5)
    const reader = streamedGet(url(ll, n))
    await waitForHeld(origin, 1)
    const upload = chunkedPut(putUrl(ll, n), 'east')
    await upload.send(chunks[0]!)
    assert.equal(await reader.status, 200)
    const h = await reader.headers
    assert.equal(h['content-length'], undefined)
    assert.equal(h['transfer-encoding'], 'chunked')
    assert.equal(h['segment-in-progress'], '?1')
    assert.equal(h['segment-pipeline'], 'east')
    assert.equal(h['cache-ttl-ms'], '1000', 'lifetime D: the stored copy replaces it in caches')
    assert.equal(h.etag, undefined)
    assert.match(String(h['cmsd-dynamic']), /^"liveorigin";ht=\d+$/)
    assert.ok((await reader.bytes(chunks[0]!.length)).equals(chunks[0]!))
    let sent = chunks[0]!.length
    for (const c of chunks.slice(1)) {
      await upload.send(c)
      sent += c.length
      // Each chunk reaches the reader while the upload is still open.
      assert.ok((await reader.bytes(sent)).equals(segment.subarray(0, sent)))
    }
    assert.equal((await upload.end()).status, 201)
    const done = await reader.done
    assert.equal(done.cut, false)
    assert.equal(sha256(done.body), sha256(segment))
    const stored = await get(origin, ll, segmentPath(0, n))
    assert.equal(stored.status, 200)
    assert.equal(stored.headers.get('content-length'), String(segment.length))
    assert.equal(stored.headers.get('segment-in-progress'), null)
    assert.equal(sha256(stored.body), sha256(segment))
  })

  it('a GET that comes mid-upload gets the chunks so far at once, then the rest; HEAD gets the header block', async () => {
    const n = next++
    const segment = chunkedCopy(0, n, 'east', 4)
    const chunks = cmafChunks(segment)
    const upload = chunkedPut(putUrl(ll, n), 'east')
    await upload.send(chunks[0]!)
    await upload.send(chunks[1]!)
    const two = chunks[0]!.length + chunks[1]!.length
    await waitFor('two chunks in progress', () => origin.running.context!.inProgress.bytes >= two)
    const reader = streamedGet(url(ll, n))
    assert.ok((await reader.bytes(two)).equals(segment.subarray(0, two)))
    const head = streamedGet(url(ll, n), {}, 'HEAD')
    assert.equal(await head.status, 200)
    assert.equal((await head.headers)['segment-in-progress'], '?1')
    assert.equal((await head.headers)['content-length'], undefined)
    assert.equal((await head.done).body.length, 0)
    // A byte range whose bytes have arrived is answered from them (in-progress-ranges.test.ts);
    // a suffix range needs the complete length: it waits for the stored copy.
    const ranged = streamedGet(url(ll, n), { Range: 'bytes=0-99' })
    assert.equal(await ranged.status, 206)
    assert.equal((await ranged.headers)['content-range'], 'bytes 0-99/*')
    assert.ok((await ranged.done).body.equals(segment.subarray(0, 100)))
    const suffix = streamedGet(url(ll, n), { Range: 'bytes=-100' })
    await upload.send(chunks[2]!)
    await upload.send(chunks[3]!)
    assert.equal((await upload.end()).status, 201)
    assert.equal(sha256((await reader.done).body), sha256(segment))
    assert.equal(await suffix.status, 206)
    assert.equal(
      (await suffix.headers)['content-range'],
      `bytes ${segment.length - 100}-${segment.length - 1}/${segment.length}`,
    )
    assert.ok((await suffix.done).body.equals(segment.subarray(segment.length - 100)))
  })

  it('an upload cut off mid-segment cuts its readers off; their retry gets the other copy, which is stored', async () => {
    const n = next++
    const east = cmafChunks(chunkedCopy(0, n, 'east', 4))
    const westCopy = chunkedCopy(0, n, 'west', 4)
    const west = cmafChunks(westCopy)
    const reader = streamedGet(url(ll, n))
    await waitForHeld(origin, 1)
    const eastUp = chunkedPut(putUrl(ll, n), 'east')
    await eastUp.send(east[0]!)
    assert.equal((await reader.headers)['segment-pipeline'], 'east')
    await reader.bytes(east[0]!.length)
    const westUp = chunkedPut(putUrl(ll, n), 'west')
    await westUp.send(west[0]!)
    await eastUp.send(east[1]!)
    await reader.bytes(east[0]!.length + east[1]!.length)
    const was502 = await metric(origin, 'liveorigin_requests_total', { role: 'delivery', status: '502' })
    eastUp.abort()
    const cut = await reader.done
    assert.equal(cut.cut, true, 'the answer is cut off, not ended: no cache or player takes it as whole')
    assert.equal(cut.body.length, east[0]!.length + east[1]!.length)
    // Counted as the failed upload it is, not as a player that left.
    await waitFor(
      'the cut answer to be counted',
      async () =>
        (await metric(origin, 'liveorigin_requests_total', { role: 'delivery', status: '502' })) > was502,
    )
    // The player asks again: west is followed from its start.
    const retry = streamedGet(url(ll, n))
    assert.equal((await retry.headers)['segment-pipeline'], 'west')
    for (const c of west.slice(1)) await westUp.send(c)
    assert.equal((await westUp.end()).status, 201)
    const done = await retry.done
    assert.equal(done.cut, false)
    assert.equal(sha256(done.body), sha256(westCopy))
    const stored = await get(origin, ll, segmentPath(0, n))
    assert.equal(stored.headers.get('segment-pipeline'), 'west')
    assert.equal(sha256(stored.body), sha256(westCopy))
  })

  it('a chunk that does not parse withdraws the copy before it reaches a reader', async () => {
    const n = next++
    const east = cmafChunks(chunkedCopy(0, n, 'east', 3))
    const westCopy = chunkedCopy(0, n, 'west', 3)
    const reader = streamedGet(url(ll, n))
    await waitForHeld(origin, 1)
    const eastUp = chunkedPut(putUrl(ll, n), 'east')
    await eastUp.send(east[0]!)
    await reader.bytes(east[0]!.length)
    // A moof whose trun claims more samples than its mdat holds.
    const bad = Buffer.from(east[1]!)
    bad.writeUInt32BE(0xffff, findTrunCount(bad))
    await eastUp.send(bad)
    const cut = await reader.done
    assert.equal(cut.cut, true)
    assert.equal(cut.body.length, east[0]!.length, 'nothing of the bad chunk was sent')
    await eastUp.send(east[2]!)
    const eastAnswer = await eastUp.end()
    assert.match(String(eastAnswer.headers['segment-defects']), /corrupt/)
    const westUp = chunkedPut(putUrl(ll, n), 'west')
    await westUp.send(westCopy)
    assert.equal((await westUp.end()).status, 201)
    const stored = await get(origin, ll, segmentPath(0, n))
    assert.equal(stored.headers.get('segment-pipeline'), 'west')
  })
})

describe('a channel without lowLatency', () => {
  it('answers a held GET at the commit, with its length, as before', async () => {
    const n = next++
    const segment = chunkedCopy(0, n, 'east', 3)
    const chunks = cmafChunks(segment)
    const reader = streamedGet(url(plain, n))
    await waitForHeld(origin, 1)
    const upload = chunkedPut(putUrl(plain, n), 'east')
    await upload.send(chunks[0]!)
    await upload.send(chunks[1]!)
    assert.equal(origin.running.context!.inProgress.size, 0)
    assert.equal(reader.received().length, 0)
    await upload.send(chunks[2]!)
    assert.equal((await upload.end()).status, 201)
    const h = await reader.headers
    assert.equal(h['content-length'], String(segment.length))
    assert.equal(h['segment-in-progress'], undefined)
    assert.equal(sha256((await reader.done).body), sha256(segment))
  })
})

/** Where the sample count of the first trun of a moof lies. */
function findTrunCount(moof: Buffer): number {
  const at = moof.indexOf('trun')
  assert.ok(at > 0)
  return at + 8
}
