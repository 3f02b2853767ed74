/**
 * Scenario 2: GET of a segment that does not exist yet, 64 connections. The origin answers
 * 404 from template math alone (the segment is due far outside the hold window); nginx answers
 * 404 for a missing file (its open_file_cache remembers the miss). Ratio target: ≥ 0.6 × nginx
 * requests/s.
 */
import { expectStatus } from '../lib/http.js'
import { combineLoads, type LoadResult, runLoad } from '../lib/load.js'
import { type Row, row } from '../lib/report.js'
import { liveEdge, startedAgo } from '../lib/timing.js'
import {
  alternate,
  type BenchContext,
  type Contender,
  type Scenario,
  type ScenarioOutcome,
  side,
} from './types.js'

const CHANNEL = 'bench-future'
/** How many segments ahead of the live edge: 1000 × 2 s ≈ 33 min, inside the 1 h TTL cap. */
const AHEAD = 1000

async function measure(
  ctx: BenchContext,
  label: string,
  url: string,
  answerBytes: number,
): Promise<LoadResult> {
  const { options, progress } = ctx
  const durationSec = options.durationSec / options.rounds
  progress.begin(`get-future/${label}`, durationSec + options.warmupSec)
  const r = await runLoad({
    url,
    tool: options.loadTool,
    threads: options.wrkThreads,
    answerBytes,
    connections: options.connections,
    durationSec,
    warmupSec: options.warmupSec,
    maxRequests: options.maxRequests,
    sampleEveryMs: 250,
    expectStatus: 404,
    progress,
  })
  progress.end(
    `${Math.round(r.reqPerSec)} req/s (${Math.round(r.expectedPerSec)} 404s), p99 ${r.latencyMs.p99.toFixed(1)} ms`,
  )
  return r
}

export const getFuture: Scenario = {
  id: 'get-future',
  title: 'GET of a future segment (404), 64 connections',
  spec: 'GET of a future segment (404 from template math): ≥ 0.6 × nginx requests/s',
  baseline: true,
  async run(ctx): Promise<ScenarioOutcome> {
    const notes: string[] = []
    const details: Record<string, unknown> = {}
    const t = startedAgo(ctx.now(), ctx.media.durationMs, 500)
    const path = `/${CHANNEL}/v/${liveEdge(t, ctx.now()) + AHEAD}.m4s`
    details.path = path
    const contenders: Array<Contender<LoadResult>> = []
    const nginxServer = ctx.nginx
    if (nginxServer) {
      const probe = await side('nginx', notes, () => expectStatus(`${nginxServer.url}${path}`, 404))
      if (probe) {
        contenders.push({
          name: 'nginx',
          measure: (r) =>
            measure(ctx, `nginx #${r + 1}`, `${nginxServer.url}${path}`, probe.bytes + probe.headerBytes),
        })
      }
    }
    const o = ctx.origin
    if (!o) notes.push(`liveorigin not measured: ${ctx.originUnavailable ?? 'not running'}`)
    else {
      const probe = await side('liveorigin', notes, async () => {
        await o.createChannel(CHANNEL, {
          segmentDurationMs: t.durationMs,
          availabilityStartTime: t.ast,
          pipelines: ['east'],
        })
        const first = await expectStatus(`${o.deliveryUrl}${path}`, 404)
        details.originFirstAnswerHeaders = first.headers
        return first
      })
      if (probe) {
        contenders.push({
          name: 'liveorigin',
          measure: (r) =>
            measure(ctx, `liveorigin #${r + 1}`, `${o.deliveryUrl}${path}`, probe.bytes + probe.headerBytes),
        })
      }
    }
    const runs = await alternate(ctx.options.rounds, contenders, notes)
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
      if (r && (r.unexpected > 0 || r.errors > 0)) {
        notes.push(
          `${name}: ${r.unexpected} answers other than 404 (${JSON.stringify(r.statusCounts)}; sampled ${JSON.stringify(r.sampled ?? {})}), ${r.errors} errors`,
        )
      }
    }
    const rows: Row[] = [
      row({
        metric: 'answers 404',
        unit: 'req/s',
        ...(origin ? { origin: origin.expectedPerSec } : {}),
        ...(nginx ? { nginx: nginx.expectedPerSec } : {}),
        target: { on: 'ratio', op: '>=', value: 0.6 },
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
