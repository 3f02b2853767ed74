/**
 * `liveorigin simulate --low-latency`: each segment goes out as a chunked-transfer PUT whose
 * CMAF chunks are written as they are made (checked against a server that records when each
 * byte arrives), every chunk and every whole segment inspects clean with the origin's own
 * inspector, and the MPD says what a low-latency DASH player needs.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { parseInit, summarizeFragment } from '../../src/media/fmp4.js'
import { inspectSegment } from '../../src/media/inspect.js'
import { cmafChunks } from '../../src/simulate/fmp4.js'
import { buildMediaSegment, loadRenditions } from '../../src/simulate/media.js'
import { renderMpd } from '../../src/simulate/mpd.js'
import { parseSimulateArgs } from '../../src/simulate/options.js'
import { INIT_TEMPLATE, MEDIA_TEMPLATE, Simulation } from '../../src/simulate/publisher.js'
import { learnChannelFromMpd } from '../../src/timing/mpd.js'

const renditions = loadRenditions()

/** One request the recording server received: each piece of its body with its arrival time. */
interface Recorded {
  readonly method: string
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly pieces: { at: number; bytes: Buffer }[]
  ended: number
  /** The client closed the connection before the end of the body. */
  aborted: boolean
}

describe('simulate --low-latency: chunked PUTs at real time', () => {
  const requests: Recorded[] = []
  let server: Server
  let url: string

  before(async () => {
    server = createServer((req, res) => {
      const rec: Recorded = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        pieces: [],
        ended: 0,
        aborted: false,
      }
      requests.push(rec)
      req.on('data', (c: Buffer) => rec.pieces.push({ at: Date.now(), bytes: c }))
      req.on('end', () => {
        rec.ended = Date.now()
        res.writeHead(201, { 'Content-Type': 'application/json' }).end('{}')
      })
      req.on('close', () => {
        if (!req.complete) rec.aborted = true
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('writes each segment chunk by chunk, each chunk not before it is made, on a lowLatency channel', async () => {
    const D = 2000
    const chunkMs = 500
    const options = parseSimulateArgs([
      '--ingest',
      url,
      '--control',
      url,
      '--channel',
      'll',
      '--pipelines',
      'east',
      '--segment-ms',
      String(D),
      '--duration',
      '4s',
      '--start-number',
      '100',
      '--low-latency',
      '--chunk-ms',
      String(chunkMs),
    ])
    const result = await new Simulation(options, renditions).run()
    assert.equal(result.errors, 0, result.lastError ?? '')
    const ast = result.availabilityStartTime

    const channel = requests.find((r) => r.path === '/api/v1/channels/ll')!
    const config = JSON.parse(Buffer.concat(channel.pieces.map((p) => p.bytes)).toString('utf8'))
    assert.equal(config.lowLatency, true)
    assert.equal(config.availabilityTimeOffsetMs, D - chunkMs)

    const segments = requests.filter((r) => r.path.startsWith('/ll/seg-'))
    assert.equal(segments.length, 2 * renditions.length, 'segments 100 and 101 of every rendition')
    for (const seg of segments) {
      const n = Number(/-(\d+)\.m4s$/.exec(seg.path)![1])
      assert.equal(seg.headers['transfer-encoding'], 'chunked', seg.path)
      assert.equal(seg.headers['content-length'], undefined, seg.path)
      const body = Buffer.concat(seg.pieces.map((p) => p.bytes))
      const chunks = cmafChunks(body)
      assert.equal(chunks.length, D / chunkMs, `${seg.path}: ${D / chunkMs} CMAF chunks`)
      // When each chunk was whole at the server; chunk k is made at start + (k + 1)·chunk.
      const start = ast + (n - 100) * D
      let need = 0
      let k = 0
      let received = 0
      const whole: number[] = []
      for (const p of seg.pieces) {
        received += p.bytes.length
        while (k < chunks.length && received >= need + chunks[k]!.length) {
          need += chunks[k]!.length
          whole.push(p.at)
          k++
        }
      }
      whole.forEach((at, i) => {
        // A chunk never arrives before it is made (a few ms for the clocks' granularity).
        assert.ok(at >= start + (i + 1) * chunkMs - 5, `${seg.path} chunk ${i} at ${at - start} ms`)
      })
      // Over time, not in one go: the first chunk was whole well before the last (1.5 s
      // apart when on time; a loaded machine may delay the first write by up to 1 s).
      assert.ok(whole.at(-1)! - whole[0]! >= 500, `${seg.path}: chunks at ${whole.map((t) => t - start)}`)
    }
  })

  it('--abort: the first pipeline stops its upload halfway (half of the chunks, then the connection closes), the others send theirs whole', async () => {
    const D = 2000
    const options = parseSimulateArgs([
      ...['--ingest', url, '--control', url, '--channel', 'llabort', '--pipelines', 'east,west'],
      ...['--segment-ms', String(D), '--duration', '4s', '--start-number', '200'],
      ...['--low-latency', '--chunk-ms', '500', '--abort', '2.5s'],
    ])
    const result = await new Simulation(options, renditions).run()
    assert.equal(result.errors, 0, result.lastError ?? '')
    const east = result.pipelines.find((p) => p.pipeline === 'east')!
    const west = result.pipelines.find((p) => p.pipeline === 'west')!
    assert.equal(east.faults.abort, renditions.length)
    assert.equal(west.faults.abort, 0)
    assert.equal(east.segmentsFailed + west.segmentsFailed, 0)
    for (const seg of result.segments) {
      const aborted = seg.number === 201
      assert.equal(seg.copies.east!.forced, aborted ? 'abort' : null, seg.path)
      assert.equal(seg.copies.west!.forced, null, seg.path)
    }

    const uploads = requests.filter(
      (r) => r.path.startsWith('/llabort/seg-') && r.path.endsWith('-00201.m4s'),
    )
    assert.equal(uploads.length, 2 * renditions.length)
    for (const up of uploads) {
      const pipeline = up.headers['pipeline-id']
      const received = Buffer.concat(up.pieces.map((p) => p.bytes))
      if (pipeline === 'west') {
        assert.ok(up.ended > 0 && !up.aborted, `${up.path} from west is whole`)
        assert.equal(cmafChunks(received).length, 4)
        continue
      }
      assert.equal(pipeline, 'east')
      assert.ok(up.aborted && up.ended === 0, `${up.path} from east is stopped`)
      // Two whole chunks of four arrived, nothing of the third.
      assert.equal(cmafChunks(received).length, 2, `${up.path}: ${received.length} bytes`)
    }
  })
})

describe('simulate --low-latency: media and MPD', () => {
  const S = 50

  it('every chunk and every whole segment inspects clean; tfdt and mfhd run on from chunk to chunk', () => {
    for (const d of [2000, 1000]) {
      for (const r of renditions) {
        const init = parseInit(r.initBytes)
        let lastSequence = 0
        for (const n of [S, S + 1, S + 2]) {
          const chunks = d / 500
          const seg = buildMediaSegment(
            r,
            { number: n, startNumber: S, segmentDurationMs: d },
            { label: 'east', chunks },
          )
          const expect = { number: n, startNumber: S, segmentDurationMs: d }
          const summary = summarizeFragment(seg, { init })
          assert.equal(summary.corrupt, undefined)
          assert.deepEqual(inspectSegment(summary, init, expect), [], `rendition ${r.id} segment ${n}`)
          const pieces = cmafChunks(seg)
          assert.equal(pieces.length, chunks)
          for (const [k, piece] of pieces.entries()) {
            const one = summarizeFragment(piece, { init })
            assert.equal(one.corrupt, undefined, `rendition ${r.id} segment ${n} chunk ${k}`)
            const seq = mfhd(piece)
            assert.equal(seq, lastSequence === 0 ? (n - S) * chunks + 1 : lastSequence + 1)
            lastSequence = seq
          }
        }
      }
    }
  })

  it('the MPD announces availabilityTimeOffset = D − chunk, an incomplete availability, a target latency and the time source', () => {
    const ast = Date.parse('2026-12-01T10:00:00.000Z')
    const xml = renderMpd({
      availabilityStartTime: ast,
      publishTime: ast + 10_000,
      segmentDurationMs: 2000,
      startNumber: S,
      media: MEDIA_TEMPLATE,
      initialization: INIT_TEMPLATE,
      timeShiftBufferDepthMs: 4 * 3600_000,
      renditions,
      timeSource: 'http://127.0.0.1:8080/.well-known/time',
      chunkMs: 500,
    })
    assert.match(
      xml,
      /<SegmentTemplate [^>]*availabilityTimeOffset="1\.500" availabilityTimeComplete="false"\/>/,
    )
    assert.match(
      xml,
      /<ServiceDescription id="0">\n {4}<Latency referenceId="0" target="2000" min="1000" max="4000"\/>/,
    )
    assert.match(
      xml,
      /<ProducerReferenceTime id="0" type="encoder" presentationTime="0" wallClockTime="2026-12-01T10:00:00.000Z"\/>/,
    )
    assert.match(xml, / suggestedPresentationDelay="PT2\.000S"/)
    assert.match(xml, /<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014"/)
    // The origin learns the same offset from it.
    assert.equal(learnChannelFromMpd(xml).availabilityTimeOffsetMs, 1500)
  })

  it('options: --chunk-ms needs --low-latency, divides D, and is at most D/2', () => {
    assert.equal(parseSimulateArgs(['--low-latency']).chunkMs, 500)
    assert.equal(parseSimulateArgs(['--low-latency']).lowLatency, true)
    assert.equal(parseSimulateArgs([]).lowLatency, false)
    assert.equal(parseSimulateArgs(['--low-latency', '--chunk-ms', '250']).chunkMs, 250)
    assert.throws(() => parseSimulateArgs(['--chunk-ms', '250']), /--chunk-ms: only with --low-latency/)
    assert.throws(
      () => parseSimulateArgs(['--low-latency', '--chunk-ms', '300']),
      /--chunk-ms: 300 does not divide --segment-ms 2000/,
    )
    assert.throws(
      () => parseSimulateArgs(['--low-latency', '--chunk-ms', '2000']),
      /--chunk-ms: expected an integer from 10 to 1000/,
    )
  })
})

/** The `mfhd` sequence number of a chunk (its first `moof`). */
function mfhd(chunk: Uint8Array): number {
  const v = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  let at = 0
  while (at + 8 <= chunk.length) {
    const size = v.getUint32(at)
    const type = String.fromCharCode(...chunk.subarray(at + 4, at + 8))
    if (type === 'moof') return v.getUint32(at + 8 + 12)
    at += size
  }
  throw new Error('no moof')
}
