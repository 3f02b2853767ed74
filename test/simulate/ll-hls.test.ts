/**
 * The LL-HLS playlists of `simulate --low-latency` (docs/simulate.md#ll-hls): a segment's
 * parts are its CMAF chunks, byte-exact (they tile the segment, their durations add up to D,
 * every part is at most `PART-TARGET`, `INDEPENDENT` where a chunk starts on a sync sample);
 * a playlist rendered mid-segment lists the parts sent so far and a preload hint at the next
 * chunk's offset, the origin's own parser reads it and its blocking reload is released part
 * by part; and over HTTP (a recording server) the simulator PUTs one playlist per chunk, not
 * before that chunk is made, whose byte ranges are those of the segment it actually PUT.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { cmafChunks } from '../../src/simulate/fmp4.js'
import { type Part, partTargetMs, renderLowLatencyPlaylist, segmentParts } from '../../src/simulate/ll-hls.js'
import { buildMediaSegment, copyLabel, loadRenditions } from '../../src/simulate/media.js'
import { parseSimulateArgs } from '../../src/simulate/options.js'
import { initPath, Simulation, segmentPath } from '../../src/simulate/publisher.js'
import { blockingRequestTooFarAhead, parseMediaPlaylist, playlistSatisfies } from '../../src/timing/hls.js'

const renditions = loadRenditions()
const D = 2000
const CHUNK = 500
const S = 100
const AST = Date.UTC(2026, 11, 2, 19, 0, 0, 0)

function partsOf(id: string, n: number): Part[] {
  const r = renditions.find((x) => x.id === id)!
  const segment = buildMediaSegment(
    r,
    { number: n, startNumber: S, segmentDurationMs: D },
    { label: copyLabel('east', id, n), chunks: D / CHUNK },
  )
  return segmentParts(cmafChunks(segment), r.timescale)
}

function render(current: number, partsSent: number, id = '0'): string {
  const r = renditions.find((x) => x.id === id)!
  return renderLowLatencyPlaylist({
    availabilityStartTime: AST,
    segmentDurationMs: D,
    startNumber: S,
    currentNumber: current,
    partsSent,
    parts: (n) => partsOf(id, n),
    partTargetMs: partTargetMs(CHUNK, (r.sampleDuration * 1000) / r.timescale),
    segmentPath: (n) => segmentPath(id, n),
    initPath: initPath(id),
  })
}

const lines = (text: string, prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix))

describe('LL-HLS parts of a segment', () => {
  it('are its CMAF chunks, byte-exact, adding up to D, each at most PART-TARGET', () => {
    for (const r of renditions) {
      const segment = buildMediaSegment(
        r,
        { number: 105, startNumber: S, segmentDurationMs: D },
        { label: copyLabel('east', r.id, 105), chunks: D / CHUNK },
      )
      const chunks = cmafChunks(segment)
      const parts = segmentParts(chunks, r.timescale)
      assert.equal(parts.length, D / CHUNK)
      let offset = 0
      for (const [k, p] of parts.entries()) {
        assert.equal(p.offset, offset, `rendition ${r.id} part ${k}`)
        assert.equal(p.length, chunks[k]!.length)
        offset += p.length
      }
      assert.equal(offset, segment.length, 'the parts tile the segment')
      const total = parts.reduce((sum, p) => sum + p.durationMs, 0)
      assert.ok(Math.abs(total - D) < 0.001, `rendition ${r.id}: parts add up to ${total} ms`)
      assert.equal(parts[0]!.independent, true, 'a segment starts on a sync sample')
      const target = partTargetMs(CHUNK, (r.sampleDuration * 1000) / r.timescale)
      for (const p of parts) assert.ok(p.durationMs <= target, `${p.durationMs} ms > PART-TARGET ${target}`)
      if (r.contentType === 'audio') assert.ok(parts.every((p) => p.independent))
    }
  })
})

describe('an LL-HLS media playlist', () => {
  it('mid-segment: the parts sent so far as byte ranges, then a preload hint at the next chunk', () => {
    const text = render(110, 2)
    const parts = partsOf('0', 110)
    assert.deepEqual(lines(text, '#EXT-X-VERSION'), ['#EXT-X-VERSION:9'])
    assert.deepEqual(lines(text, '#EXT-X-SERVER-CONTROL'), [
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.620',
    ])
    assert.deepEqual(lines(text, '#EXT-X-PART-INF'), ['#EXT-X-PART-INF:PART-TARGET=0.540'])
    const uri = segmentPath('0', 110)
    const tail = text.trimEnd().split('\n').slice(-3)
    assert.deepEqual(tail, [
      `#EXT-X-PART:DURATION=0.520,URI="${uri}",BYTERANGE="${parts[0]!.length}@0",INDEPENDENT=YES`,
      `#EXT-X-PART:DURATION=0.480,URI="${uri}",BYTERANGE="${parts[1]!.length}@${parts[0]!.length}"`,
      `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${uri}",BYTERANGE-START=${parts[2]!.offset}`,
    ])
    const parsed = parseMediaPlaylist(text)
    assert.equal(parsed.lastMsn, 109)
    assert.equal(parsed.mediaSequence, 100)
    assert.equal(parsed.trailingParts.length, 2)
    assert.equal(parsed.partTargetMs, 540)
    assert.equal(parsed.serverControl.canBlockReload, true)
    assert.equal(parsed.serverControl.partHoldBackMs, 1620)
    // Parts only for the segments within three target durations of the end (107–109).
    assert.deepEqual(
      parsed.segments.map((s) => s.parts.length),
      [0, 0, 0, 0, 0, 0, 0, 4, 4, 4],
    )
    // The origin's blocking reload: part 1 of 110 is there, part 2 is not yet.
    assert.equal(playlistSatisfies(parsed, 110, 1), true)
    assert.equal(playlistSatisfies(parsed, 110, 2), false)
    assert.equal(blockingRequestTooFarAhead(parsed, 110, 2), false)
  })

  it('at a segment’s last chunk: the segment is complete, the hint is the next segment from byte 0', () => {
    const text = render(110, 4)
    const parsed = parseMediaPlaylist(text)
    assert.equal(parsed.lastMsn, 110)
    assert.equal(parsed.trailingParts.length, 0)
    assert.equal(parsed.segments.at(-1)!.parts.length, 4)
    assert.equal(parsed.segments.at(-1)!.durationMs, D)
    assert.equal(parsed.mediaSequence, 101, 'a window of 10 complete segments')
    assert.equal(
      text.trimEnd().split('\n').at(-1),
      `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${segmentPath('0', 111)}",BYTERANGE-START=0`,
    )
    assert.equal(playlistSatisfies(parsed, 110, 3), true)
    assert.equal(playlistSatisfies(parsed, 111, 0), false)
  })
})

describe('simulate --low-latency publishes LL-HLS playlists chunk by chunk', () => {
  const puts: { path: string; at: number; body: Buffer }[] = []
  let server: Server
  let url: string
  before(async () => {
    server = createServer((req, res) => {
      const pieces: Buffer[] = []
      req.on('data', (c: Buffer) => pieces.push(c))
      req.on('end', () => {
        puts.push({ path: req.url ?? '', at: Date.now(), body: Buffer.concat(pieces) })
        res.writeHead(201, { 'Content-Type': 'application/json' }).end('{}')
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('one playlist per chunk, not before it is made, with the byte ranges of the segment PUT', async () => {
    const options = parseSimulateArgs([
      ...['--ingest', url, '--control', url, '--channel', 'll', '--pipelines', 'east'],
      ...['--segment-ms', String(D), '--duration', '4s', '--start-number', String(S)],
      ...['--low-latency', '--chunk-ms', String(CHUNK)],
    ])
    const result = await new Simulation(options, renditions).run()
    assert.equal(result.errors, 0, result.lastError ?? '')
    const ast = result.availabilityStartTime
    for (const r of renditions) {
      const playlists = puts.filter((p) => p.path === `/ll/media-${r.id}.m3u8`)
      // Segment 100 once complete (a live playlist lists at least one segment), then each chunk of 101.
      assert.equal(playlists.length, 1 + D / CHUNK, `rendition ${r.id}`)
      const sent = puts.find((p) => p.path === `/ll/${segmentPath(r.id, S + 1)}`)!.body
      const bounds = [0]
      for (const c of cmafChunks(sent)) bounds.push(bounds.at(-1)! + c.length)
      for (const [k, p] of playlists.slice(1).entries()) {
        const made = ast + D + (k + 1) * CHUNK
        assert.ok(
          p.at >= made - 5,
          `playlist after chunk ${k} PUT ${made - p.at} ms before the chunk was made`,
        )
        const parsed = parseMediaPlaylist(p.body.toString('utf8'))
        const listed = k + 1 === D / CHUNK ? parsed.segments.at(-1)!.parts : parsed.trailingParts
        assert.equal(listed.length, k + 1)
        const ranges = [
          ...p.body
            .toString('utf8')
            .matchAll(new RegExp(`URI="${segmentPath(r.id, S + 1)}",BYTERANGE="(\\d+)@(\\d+)"`, 'g')),
        ]
        assert.deepEqual(
          ranges.map((m) => [Number(m[2]), Number(m[2]) + Number(m[1])]),
          bounds.slice(0, k + 1).map((b, i) => [b, bounds[i + 1]]),
          'each part is exactly one chunk of the segment PUT',
        )
      }
    }
  })
})
