/**
 * Byte ranges of a segment still uploading (docs/delivery.md#byte-ranges-in-progress), over
 * real sockets with chunked PUTs of real fMP4 segments cut into CMAF chunks, as LL-HLS parts
 * addressed by `BYTERANGE` are asked: a bounded range is answered 206 once its bytes have
 * arrived (at once when they have, held until they do), an open-ended range streams from
 * its start as chunks arrive, a range past what the upload ever sends gets the stored copy's
 * answer (416), an upload that fails mid-range has its bounded range answered by another
 * copy and its open-ended range cut off, `If-Range` waits for the stored copy and several
 * ranges are ignored.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { cmafChunks } from '../../src/simulate/fmp4.js'
import { chunkedCopy, chunkedPut, streamedGet } from '../helpers/chunked.js'
import { createChannel, NO_SHEDDING, segmentPath, sha256 } from '../helpers/fixture-channel.js'
import { metric, put, waitFor } from '../helpers/http.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

let origin: TestOrigin
let ll: string
/** Segment numbers 20…: due 0–20 s from now, held (H = 60 s) until they come. */
let next = 20
const url = (n: number) => `${origin.delivery}/${ll}/${segmentPath(0, n)}`
const putUrl = (n: number) => `${origin.ingest}/${ll}/${segmentPath(0, n)}`
/** Waits until the origin holds `bytes` of uploads in progress. */
const arrived = (bytes: number) =>
  waitFor(`${bytes} bytes in progress`, () => origin.running.context!.inProgress.bytes >= bytes)

/** Offsets of the chunk boundaries: [0, end of chunk 0, end of chunk 1, …]. */
function boundaries(chunks: readonly Uint8Array[]): number[] {
  const out = [0]
  for (const c of chunks) out.push(out.at(-1)! + c.length)
  return out
}

before(async () => {
  origin = await startOrigin(NO_SHEDDING)
  const timing = { holdWindowMs: 60_000, lateAllowanceMs: 60_000, selectionGraceMs: 30_000 }
  ll = await createChannel(origin, Date.now() - 10_000, { ...timing, lowLatency: true })
})
after(() => origin.close())

describe('a bounded range of a segment in progress', () => {
  it('is answered 206 at once when its bytes have arrived, held until they arrive otherwise', async () => {
    const n = next++
    const segment = chunkedCopy(0, n, 'east', 4)
    const chunks = cmafChunks(segment)
    const at = boundaries(chunks)
    const upload = chunkedPut(putUrl(n), 'east')
    await upload.send(chunks[0]!)
    await arrived(at[1]!)
    // Part 0 (the first chunk, as an LL-HLS BYTERANGE): its bytes are there.
    const part0 = streamedGet(url(n), { Range: `bytes=0-${at[1]! - 1}` })
    assert.equal(await part0.status, 206)
    const h0 = await part0.headers
    assert.equal(h0['content-range'], `bytes 0-${at[1]! - 1}/*`)
    assert.equal(h0['content-length'], String(at[1]))
    assert.equal(h0['segment-in-progress'], '?1')
    assert.equal(h0['segment-pipeline'], 'east')
    assert.equal(h0['cache-ttl-ms'], '1000')
    assert.equal(h0['cmsd-dynamic'], undefined, 'not held')
    assert.ok((await part0.done).body.equals(chunks[0]!))
    // Part 1 and a range across parts 1–2: nothing until their last byte has arrived.
    const part1 = streamedGet(url(n), { Range: `bytes=${at[1]}-${at[2]! - 1}` })
    const across = streamedGet(url(n), { Range: `bytes=${at[1]! + 10}-${at[2]! + 9}` })
    await new Promise((r) => setTimeout(r, 150))
    assert.equal(part1.received().length, 0)
    let answered = false
    part1.status.then(() => {
      answered = true
    })
    await new Promise((r) => setTimeout(r, 0))
    assert.equal(answered, false, 'no header block before the bytes')
    await upload.send(chunks[1]!)
    assert.equal(await part1.status, 206)
    assert.match(String((await part1.headers)['cmsd-dynamic']), /^"liveorigin";ht=\d+$/)
    assert.ok((await part1.done).body.equals(chunks[1]!))
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(across.received().length, 0, 'its last 10 bytes are in a chunk not sent yet')
    await upload.send(chunks[2]!)
    assert.equal(await across.status, 206)
    assert.equal((await across.headers)['content-range'], `bytes ${at[1]! + 10}-${at[2]! + 9}/*`)
    assert.ok((await across.done).body.equals(segment.subarray(at[1]! + 10, at[2]! + 10)))
    // HEAD gets the header block of the same answer.
    const head = streamedGet(url(n), { Range: `bytes=${at[2]}-${at[3]! - 1}` }, 'HEAD')
    assert.equal(await head.status, 206)
    assert.equal((await head.headers)['content-length'], String(chunks[2]!.length))
    assert.equal((await head.done).body.length, 0)
    await upload.send(chunks[3]!)
    assert.equal((await upload.end()).status, 201)
    // Once stored, the same range is the stored copy's, with the complete length.
    const stored = streamedGet(url(n), { Range: `bytes=0-${at[1]! - 1}` })
    assert.equal((await stored.headers)['content-range'], `bytes 0-${at[1]! - 1}/${segment.length}`)
    assert.ok((await stored.done).body.equals(chunks[0]!))
  })

  it('a range held before the upload starts is answered when its bytes arrive', async () => {
    const n = next++
    const chunks = cmafChunks(chunkedCopy(0, n, 'east', 3))
    const at = boundaries(chunks)
    const part1 = streamedGet(url(n), { Range: `bytes=${at[1]}-${at[2]! - 1}` })
    await waitFor('held', () => origin.running.context!.holds.size >= 1)
    const upload = chunkedPut(putUrl(n), 'east')
    await upload.send(chunks[0]!)
    await arrived(at[1]!)
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(part1.received().length, 0)
    await upload.send(chunks[1]!)
    assert.equal(await part1.status, 206)
    assert.ok((await part1.done).body.equals(chunks[1]!))
    await upload.send(chunks[2]!)
    assert.equal((await upload.end()).status, 201)
  })

  it('past what the upload ever sends, gets the stored copy’s answer: 416 with its length', async () => {
    const n = next++
    const segment = chunkedCopy(0, n, 'east', 2)
    const chunks = cmafChunks(segment)
    const upload = chunkedPut(putUrl(n), 'east')
    await upload.send(chunks[0]!)
    await arrived(chunks[0]!.length)
    const beyond = streamedGet(url(n), { Range: `bytes=${segment.length + 100}-${segment.length + 199}` })
    const overlapping = streamedGet(url(n), { Range: `bytes=${segment.length - 10}-${segment.length + 99}` })
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(beyond.received().length, 0)
    await upload.send(chunks[1]!)
    assert.equal((await upload.end()).status, 201)
    assert.equal(await beyond.status, 416)
    assert.equal((await beyond.headers)['content-range'], `bytes */${segment.length}`)
    assert.equal(await overlapping.status, 206)
    assert.equal(
      (await overlapping.headers)['content-range'],
      `bytes ${segment.length - 10}-${segment.length - 1}/${segment.length}`,
    )
    assert.ok((await overlapping.done).body.equals(segment.subarray(segment.length - 10)))
  })

  it('whose upload fails before its bytes arrive is answered from the other pipeline’s copy', async () => {
    const n = next++
    const east = cmafChunks(chunkedCopy(0, n, 'east', 3))
    // Same length labels: both pipelines' chunks have the same boundaries, as LL-HLS needs.
    const westCopy = chunkedCopy(0, n, 'west', 3)
    const west = cmafChunks(westCopy)
    const at = boundaries(west)
    assert.deepEqual(boundaries(east), at)
    const eastUp = chunkedPut(putUrl(n), 'east')
    await eastUp.send(east[0]!)
    await arrived(at[1]!)
    const part1 = streamedGet(url(n), { Range: `bytes=${at[1]}-${at[2]! - 1}` })
    await new Promise((r) => setTimeout(r, 100))
    const westUp = chunkedPut(putUrl(n), 'west')
    await westUp.send(west[0]!)
    eastUp.abort()
    await waitFor('east withdrawn', () => origin.running.context!.inProgress.size === 1)
    await westUp.send(west[1]!)
    assert.equal(await part1.status, 206)
    assert.equal((await part1.headers)['segment-pipeline'], 'west')
    const done = await part1.done
    assert.equal(done.cut, false)
    assert.ok(done.body.equals(west[1]!))
    await westUp.send(west[2]!)
    assert.equal((await westUp.end()).status, 201)
  })
})

describe('other range requests of a segment in progress', () => {
  it('If-Range waits for the stored copy; several ranges are ignored: the whole answer in progress', async () => {
    const n = next++
    const segment = chunkedCopy(0, n, 'east', 2)
    const chunks = cmafChunks(segment)
    const upload = chunkedPut(putUrl(n), 'east')
    await upload.send(chunks[0]!)
    await arrived(chunks[0]!.length)
    const several = streamedGet(url(n), { Range: 'bytes=0-9,20-29' })
    assert.equal(await several.status, 200)
    assert.equal((await several.headers)['segment-in-progress'], '?1')
    assert.ok((await several.bytes(chunks[0]!.length)).equals(chunks[0]!))
    const conditional = streamedGet(url(n), { Range: 'bytes=0-9', 'If-Range': '"an-old-etag"' })
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(conditional.received().length, 0)
    await upload.send(chunks[1]!)
    assert.equal((await upload.end()).status, 201)
    // The stored copy's validator does not match: the whole stored copy (RFC 9110).
    assert.equal(await conditional.status, 200)
    assert.ok((await conditional.headers).etag)
    assert.equal(sha256((await conditional.done).body), sha256(segment))
    assert.equal(sha256((await several.done).body), sha256(segment))
  })
})

describe('an open-ended range of a segment in progress', () => {
  it('streams from its start as chunks arrive, chunked, and ends with the upload', async () => {
    const n = next++
    const segment = chunkedCopy(0, n, 'east', 4)
    const chunks = cmafChunks(segment)
    const at = boundaries(chunks)
    const upload = chunkedPut(putUrl(n), 'east')
    await upload.send(chunks[0]!)
    await arrived(at[1]!)
    // A preload hint's BYTERANGE-START: the next part, not there yet.
    const hint = streamedGet(url(n), { Range: `bytes=${at[1]}-` })
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(hint.received().length, 0)
    await upload.send(chunks[1]!)
    assert.equal(await hint.status, 206)
    const h = await hint.headers
    assert.equal(h['transfer-encoding'], 'chunked')
    assert.equal(h['content-length'], undefined)
    assert.equal(h['content-range'], undefined, 'RFC 9110 has no Content-Range for an unknown last byte')
    assert.equal(h['segment-in-progress'], '?1')
    assert.ok((await hint.bytes(chunks[1]!.length)).equals(chunks[1]!))
    await upload.send(chunks[2]!)
    assert.ok((await hint.bytes(at[3]! - at[1]!)).equals(segment.subarray(at[1]!, at[3]!)))
    // Starting inside a chunk that has arrived: from that byte at once.
    const mid = streamedGet(url(n), { Range: `bytes=${at[1]! + 5}-` })
    assert.ok((await mid.bytes(at[3]! - at[1]! - 5)).equals(segment.subarray(at[1]! + 5, at[3]!)))
    await upload.send(chunks[3]!)
    assert.equal((await upload.end()).status, 201)
    const done = await hint.done
    assert.equal(done.cut, false)
    assert.equal(sha256(done.body), sha256(segment.subarray(at[1]!)))
    assert.equal(sha256((await mid.done).body), sha256(segment.subarray(at[1]! + 5)))
  })

  it('is cut off when its upload fails mid-range', async () => {
    const n = next++
    const chunks = cmafChunks(chunkedCopy(0, n, 'east', 4))
    const at = boundaries(chunks)
    const upload = chunkedPut(putUrl(n), 'east')
    await upload.send(chunks[0]!)
    await upload.send(chunks[1]!)
    await arrived(at[2]!)
    const hint = streamedGet(url(n), { Range: `bytes=${at[1]}-` })
    await hint.bytes(chunks[1]!.length)
    const counted = (status: string) =>
      metric(origin, 'liveorigin_requests_total', { role: 'delivery', status })
    const was502 = await counted('502')
    upload.abort()
    const cut = await hint.done
    assert.equal(cut.cut, true, 'cut off, not ended: nobody takes it for the whole range')
    assert.ok(cut.body.equals(chunks[1]!))
    // Counted as the failed upload it is, not as a player that left.
    await waitFor('the cut answer to be counted', async () => (await counted('502')) > was502)
  })
})

describe('a channel learned from an LL-HLS playlist', () => {
  it('is low latency: its parts are answered from the upload in progress', async () => {
    const channel = `llhls-${process.pid}`
    const n = 30
    const chunks = cmafChunks(chunkedCopy(0, n, 'east', 4))
    const at = boundaries(chunks)
    // Segment n − 1 complete, part 0 of n listed: without a date, A(n − 1) is the arrival,
    // so n is due D later, inside the hold window.
    const playlist = [
      '#EXTM3U',
      '#EXT-X-VERSION:9',
      '#EXT-X-TARGETDURATION:1',
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.780',
      '#EXT-X-PART-INF:PART-TARGET=0.260',
      `#EXT-X-MEDIA-SEQUENCE:${n - 1}`,
      '#EXT-X-MAP:URI="init-0.mp4"',
      '#EXTINF:1.000,',
      segmentPath(0, n - 1),
      `#EXT-X-PART:DURATION=0.250,URI="${segmentPath(0, n)}",BYTERANGE="${at[1]}@0",INDEPENDENT=YES`,
      `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${segmentPath(0, n)}",BYTERANGE-START=${at[1]}`,
      '',
    ].join('\n')
    const learned = await put(origin, `/${channel}/0.m3u8`, playlist)
    assert.equal(learned.status, 201)
    const described = (await fetch(`${origin.control}/api/v1/channels/${channel}`).then((r) => r.json())) as {
      source: string
      config: { lowLatency?: boolean; media: string }
    }
    assert.equal(described.source, 'hls')
    assert.equal(described.config.lowLatency, true)
    assert.equal(described.config.media, 'seg-0-$Number%05d$.m4s')
    const upload = chunkedPut(`${origin.ingest}/${channel}/${segmentPath(0, n)}`, 'east')
    await upload.send(chunks[0]!)
    const part0 = streamedGet(`${origin.delivery}/${channel}/${segmentPath(0, n)}`, {
      Range: `bytes=0-${at[1]! - 1}`,
    })
    assert.equal(await part0.status, 206, 'answered before the upload ends')
    assert.equal((await part0.headers)['segment-in-progress'], '?1')
    assert.ok((await part0.done).body.equals(chunks[0]!))
    for (const c of chunks.slice(1)) await upload.send(c)
    assert.equal((await upload.end()).status, 201)
  })
})
