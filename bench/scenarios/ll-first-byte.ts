/**
 * Low latency (origin only): the first byte of a held GET after the first CMAF chunk of the
 * segment reaches the origin (docs/delivery.md#segments-in-progress). Each round holds several
 * GETs (one connection each) for the next segment of a `lowLatency` channel, then PUTs that
 * segment with `Transfer-Encoding: chunked`, one CMAF chunk at a time, 20 ms apart. The
 * measure is the time from just before the first chunk is written to the PUT's connection
 * (loopback: it reaches the origin at once) to each GET's first body byte; the rest of the
 * segment follows as the upload goes on. Target: p99 ≤ 50 ms.
 */
import { type ClientRequest, request } from 'node:http'
import { cmafChunks } from '../../src/simulate/fmp4.js'
import { buildMediaSegment, loadRenditions } from '../../src/simulate/media.js'
import { summarize } from '../lib/percentile.js'
import { type Row, row } from '../lib/report.js'
import { liveEdge, startedAgo } from '../lib/timing.js'
import { PIPELINE_HEADERS, type Scenario, type ScenarioOutcome } from './types.js'

const CHANNEL = 'bench-ll'
/** Segment duration of the channel and CMAF chunks per segment. */
const D = 1000
const CHUNKS = 10
/** Time given to the held GETs to reach the origin before the PUT; pause between chunks. */
const SETTLE_MS = 100
const CHUNK_GAP_MS = 20

interface Reader {
  firstByteAt: number | undefined
  inProgress: boolean
  bytes: number
  readonly done: Promise<void>
}

export const llFirstByte: Scenario = {
  id: 'll-first-byte',
  title: 'Low latency: first byte of a held GET after the first chunk of a chunked PUT',
  spec: 'The first byte of a held segment reaches the reader ≤ 50 ms (p99) after its first chunk reaches the origin',
  baseline: false,
  async run(ctx): Promise<ScenarioOutcome> {
    const o = ctx.origin
    if (!o) throw new Error(`needs liveorigin: ${ctx.originUnavailable ?? 'not running'}`)
    const { progress, options } = ctx
    const notes: string[] = []
    const t = startedAgo(ctx.now(), D, 500)
    await o.createChannel(CHANNEL, {
      segmentDurationMs: D,
      availabilityStartTime: t.ast,
      pipelines: ['east'],
      lowLatency: true,
    })
    const rendition = loadRenditions().find((r) => r.contentType === 'video')!
    const host = new URL(o.deliveryUrl).hostname
    const delays: number[] = []
    let notInProgress = 0
    let incomplete = 0
    progress.begin('ll-first-byte/liveorigin')
    for (let round = 0; round < options.holdRounds; round++) {
      // A rendition per round: every round's segment is new, whatever the clock says.
      const r = `r${round}`
      await put(`${o.ingestUrl}/${CHANNEL}/${r}/init.mp4`, [rendition.initBytes])
      const n = liveEdge(t, ctx.now()) + 1
      const path = `/${CHANNEL}/${r}/${n}.m4s`
      const segment = buildMediaSegment(
        rendition,
        { number: n, startNumber: t.startNumber, segmentDurationMs: D },
        { chunks: CHUNKS },
      )
      const readers = Array.from({ length: options.holdGets }, () => read(host, o.ports.delivery, path))
      await sleep(SETTLE_MS)
      let firstAt = 0
      await put(`${o.ingestUrl}${path}`, cmafChunks(segment), (at) => {
        firstAt = at
      })
      await Promise.all(readers.map((x) => x.done))
      for (const x of readers) {
        if (!x.inProgress) notInProgress++
        if (x.bytes !== segment.length) incomplete++
        if (x.firstByteAt !== undefined && x.inProgress) delays.push(x.firstByteAt - firstAt)
      }
      progress.update({
        requests: (round + 1) * options.holdGets,
        detail: `round ${round + 1}/${options.holdRounds}`,
      })
    }
    if (delays.length === 0) throw new Error('no held GET was answered in progress')
    const s = summarize(delays)
    progress.end(`${s.count} first bytes, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms`)
    if (notInProgress > 0) notes.push(`${notInProgress} GETs were not answered in progress`)
    if (incomplete > 0) notes.push(`${incomplete} GETs did not receive the whole segment`)
    const rows: Row[] = [
      row({ metric: 'first byte after first chunk, p50', unit: 'ms', origin: s.p50 }),
      row({
        metric: 'first byte after first chunk, p99',
        unit: 'ms',
        origin: s.p99,
        target: { on: 'origin', op: '<=', value: 50 },
      }),
    ]
    return {
      rows,
      details: {
        firstByteMs: s,
        rounds: options.holdRounds,
        getsPerRound: options.holdGets,
        chunks: CHUNKS,
        chunkGapMs: CHUNK_GAP_MS,
        segmentDurationMs: D,
      },
      notes,
    }
  },
}

/** A GET whose first body byte is timed; the body is counted, not kept. */
function read(host: string, port: number, path: string): Reader {
  const reader: Reader = {
    firstByteAt: undefined,
    inProgress: false,
    bytes: 0,
    done: new Promise<void>((resolve) => {
      const req = request({ host, port, path, agent: false }, (res) => {
        reader.inProgress = res.headers['segment-in-progress'] === '?1'
        res.on('data', (c: Buffer) => {
          reader.firstByteAt ??= performance.now()
          reader.bytes += c.length
        })
        res.on('end', resolve)
        res.on('error', () => resolve())
        res.on('aborted', () => resolve())
      })
      req.on('error', () => resolve())
      req.end()
    }),
  }
  return reader
}

/** A chunked PUT of `pieces`, CHUNK_GAP_MS apart; `onFirst` gets the time just before the first is written. */
async function put(
  url: string,
  pieces: readonly Uint8Array[],
  onFirst?: (at: number) => void,
): Promise<void> {
  let req!: ClientRequest
  const answered = new Promise<number>((resolve, reject) => {
    req = request(url, { method: 'PUT', headers: { ...PIPELINE_HEADERS } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
  })
  req.flushHeaders()
  // The request head first, so that the first chunk is all that is timed.
  await sleep(CHUNK_GAP_MS)
  for (const [i, piece] of pieces.entries()) {
    if (i > 0) await sleep(CHUNK_GAP_MS)
    if (i === 0) onFirst?.(performance.now())
    req.write(piece)
  }
  req.end()
  const status = await answered
  if (status < 200 || status >= 300) throw new Error(`PUT ${url}: ${status}`)
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
