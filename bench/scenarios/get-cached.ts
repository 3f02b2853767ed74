/**
 * Scenario 1: GET of a cached 2 MiB segment with 64 connections. Both servers hold the same
 * bytes at the same paths: the segments of a timed channel, stored in advance. The load asks
 * for the live-edge segment, as a CDN does during a live event, so each segment is read from
 * storage once and then served from the origin's memory cache some thousands of times.
 * Throughput ratio target: ≥ 1.0 × nginx.
 */
import { expectStatus } from '../lib/http.js'
import { combineLoads, type LoadResult, runLoad } from '../lib/load.js'
import { formatBytes } from '../lib/progress.js'
import { type Row, row } from '../lib/report.js'
import { type EdgePath, edgePathAt } from '../lib/timing.js'
import { edgeFor, storeEdge } from './edge.js'
import {
  alternate,
  type BenchContext,
  type Contender,
  type Scenario,
  type ScenarioOutcome,
  side,
} from './types.js'

const CHANNEL = 'bench-cached'

async function measure(
  ctx: BenchContext,
  label: string,
  url: string,
  edge: EdgePath,
  answerBytes: number,
): Promise<LoadResult> {
  const { options, progress, media } = ctx
  const durationSec = options.durationSec / options.rounds
  progress.begin(`get-cached/${label}`, durationSec + options.warmupSec)
  const r = await runLoad({
    url,
    edge,
    tool: options.loadTool,
    threads: options.wrkThreads,
    answerBytes,
    connections: options.connections,
    durationSec,
    warmupSec: options.warmupSec,
    maxRequests: options.maxRequests,
    sampleEveryMs: 250,
    expectStatus: 200,
    expectMinBytes: media.segment.length,
    progress,
  })
  progress.end(
    `${Math.round(r.reqPerSec)} req/s (${Math.round(r.expectedPerSec)} 200s), ${formatBytes(r.bytesPerSec)}/s, p99 ${r.latencyMs.p99.toFixed(1)} ms`,
  )
  return r
}

export const getCached: Scenario = {
  id: 'get-cached',
  title: 'GET of a cached 2 MiB segment, 64 connections',
  spec: 'GET of a cached 2 MB segment, 64 connections: ≥ 1.0 × nginx throughput',
  baseline: true,
  async run(ctx): Promise<ScenarioOutcome> {
    const notes: string[] = []
    const details: Record<string, unknown> = {}
    const { options } = ctx
    // Every phase reads the moving live edge (see EdgePath); every segment they can name is
    // stored first.
    const edge = edgeFor(ctx, CHANNEL)
    const forMs = 2 * (options.rounds * options.warmupSec + options.durationSec) * 1000 + 30_000
    const contenders: Array<Contender<LoadResult>> = []
    const nginxServer = ctx.nginx
    if (nginxServer) {
      const probe = await side('nginx', notes, async () => {
        await storeEdge(ctx, nginxServer.url, edge, forMs)
        return expectStatus(`${nginxServer.url}${edgePathAt(edge, ctx.now())}`, 200)
      })
      if (probe) {
        contenders.push({
          name: 'nginx',
          measure: (r) =>
            measure(ctx, `nginx #${r + 1}`, nginxServer.url, edge, probe.bytes + probe.headerBytes),
        })
      }
    }
    const o = ctx.origin
    if (!o) notes.push(`liveorigin not measured: ${ctx.originUnavailable ?? 'not running'}`)
    else {
      const probe = await side('liveorigin', notes, async () => {
        await o.createChannel(CHANNEL, {
          segmentDurationMs: edge.template.durationMs,
          availabilityStartTime: edge.template.ast,
          pipelines: ['east'],
        })
        const defects = await storeEdge(ctx, o.ingestUrl, edge, forMs)
        if (defects.length > 0) notes.push(`liveorigin recorded defects: ${defects.join('; ')}`)
        const first = await expectStatus(`${o.deliveryUrl}${edgePathAt(edge, ctx.now())}`, 200)
        details.originFirstAnswerHeaders = first.headers
        return first
      })
      if (probe) {
        contenders.push({
          name: 'liveorigin',
          measure: (r) =>
            measure(ctx, `liveorigin #${r + 1}`, o.deliveryUrl, edge, probe.bytes + probe.headerBytes),
        })
      }
    }
    const runs = await alternate(options.rounds, contenders, notes)
    const nginx = runs.nginx && combineLoads(runs.nginx)
    const origin = runs.liveorigin && combineLoads(runs.liveorigin)
    if (nginx) details.nginx = { combined: nginx, rounds: runs.nginx }
    if (origin) details.origin = { combined: origin, rounds: runs.liveorigin }
    if (!nginx && !origin) throw new Error(notes.join('; ') || 'nothing measured')
    for (const [name, r] of [
      ['nginx', nginx],
      ['liveorigin', origin],
    ] as const) {
      if (r && r.requests === 0) notes.push(`${name}: no answer completed in the measured time`)
      if (r && (r.unexpected > 0 || r.short > 0 || r.errors > 0)) {
        notes.push(
          `${name}: ${r.unexpected} answers with another status than 200 (${JSON.stringify(r.statusCounts)}; sampled ${JSON.stringify(r.sampled ?? {})}), ${r.short} short bodies, ${r.errors} errors`,
        )
      }
      if (r && r.avgAnswerBytes < ctx.media.segment.length) {
        notes.push(`${name}: mean answer ${Math.round(r.avgAnswerBytes)} bytes, smaller than the segment`)
      }
    }
    const rows: Row[] = [
      row({
        metric: 'throughput',
        unit: 'B/s',
        ...(origin ? { origin: origin.bytesPerSec } : {}),
        ...(nginx ? { nginx: nginx.bytesPerSec } : {}),
        target: { on: 'ratio', op: '>=', value: 1.0 },
      }),
      row({
        metric: 'answers 200',
        unit: 'req/s',
        ...(origin ? { origin: origin.expectedPerSec } : {}),
        ...(nginx ? { nginx: nginx.expectedPerSec } : {}),
      }),
      row({
        metric: 'latency p99 (worst round)',
        unit: 'ms',
        ...(origin ? { origin: origin.latencyMs.p99 } : {}),
        ...(nginx ? { nginx: nginx.latencyMs.p99 } : {}),
      }),
    ]
    return { rows, details, notes }
  },
}
