/**
 * Scenario 1: GET of a cached 2 MiB segment with 64 connections. Both servers hold the same
 * bytes; the origin's copy is a real segment of a timed channel, read once before the load so
 * that it is in the origin's memory cache. Throughput ratio target: ≥ 1.0 × nginx.
 */
import { expectStatus, putOrThrow } from '../lib/http.js'
import { type LoadResult, runLoad } from '../lib/load.js'
import { formatBytes } from '../lib/progress.js'
import { type Row, row } from '../lib/report.js'
import { forNumber } from '../lib/segment.js'
import { startedAgo } from '../lib/timing.js'
import { type BenchContext, PIPELINE_HEADERS, type Scenario, type ScenarioOutcome, side } from './types.js'

const CHANNEL = 'bench-cached'
const PATH = `/${CHANNEL}/v/1.m4s`

async function measure(
  ctx: BenchContext,
  label: string,
  url: string,
  answerBytes: number,
): Promise<LoadResult> {
  const { options, progress, media } = ctx
  progress.begin(`get-cached/${label}`, options.durationSec + options.warmupSec)
  const r = await runLoad({
    url,
    tool: options.loadTool,
    threads: options.wrkThreads,
    answerBytes,
    connections: options.connections,
    durationSec: options.durationSec,
    warmupSec: options.warmupSec,
    maxRequests: options.maxRequests,
    expectStatus: 200,
    expectMinBytes: media.segment.length,
    progress,
  })
  progress.end(`${Math.round(r.reqPerSec)} req/s, ${formatBytes(r.bytesPerSec)}/s, p99 ${r.latencyMs.p99} ms`)
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
    const segment = forNumber(ctx.media, 1)
    const nginxServer = ctx.nginx
    const nginx = nginxServer
      ? await side('nginx', notes, async () => {
          await putOrThrow(`${nginxServer.url}${PATH}`, segment, PIPELINE_HEADERS)
          const probe = await expectStatus(`${nginxServer.url}${PATH}`, 200)
          return measure(ctx, 'nginx', `${nginxServer.url}${PATH}`, probe.bytes + probe.headerBytes)
        })
      : undefined
    const o = ctx.origin
    if (!o) notes.push(`liveorigin not measured: ${ctx.originUnavailable ?? 'not running'}`)
    const origin = o
      ? await side('liveorigin', notes, async () => {
          // Segment 1 became available half a second before the load starts (live edge).
          const t = startedAgo(ctx.now(), ctx.media.durationMs, 500)
          await o.createChannel(CHANNEL, {
            segmentDurationMs: t.durationMs,
            availabilityStartTime: t.ast,
            pipelines: ['east'],
          })
          await putOrThrow(`${o.ingestUrl}/${CHANNEL}/v/init.mp4`, ctx.media.init, PIPELINE_HEADERS)
          const put = await putOrThrow(`${o.ingestUrl}${PATH}`, segment, PIPELINE_HEADERS)
          if (put.headers['segment-defects'])
            notes.push(`origin recorded defects: ${put.headers['segment-defects']}`)
          const first = await expectStatus(`${o.deliveryUrl}${PATH}`, 200)
          details.originFirstAnswerHeaders = first.headers
          return measure(ctx, 'liveorigin', `${o.deliveryUrl}${PATH}`, first.bytes + first.headerBytes)
        })
      : undefined
    if (nginx) details.nginx = nginx
    if (origin) details.origin = origin
    if (!nginx && !origin) throw new Error(notes.join('; ') || 'nothing measured')
    for (const [name, r] of [
      ['nginx', nginx],
      ['liveorigin', origin],
    ] as const) {
      if (r && (r.unexpected > 0 || r.short > 0 || r.errors > 0)) {
        notes.push(
          `${name}: ${r.unexpected} answers with another status than 200 (${JSON.stringify(r.statusCounts)}), ${r.short} short bodies, ${r.errors} errors`,
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
        metric: 'requests',
        unit: 'req/s',
        ...(origin ? { origin: origin.reqPerSec } : {}),
        ...(nginx ? { nginx: nginx.reqPerSec } : {}),
      }),
      row({
        metric: 'latency p99',
        unit: 'ms',
        ...(origin ? { origin: origin.latencyMs.p99 } : {}),
        ...(nginx ? { nginx: nginx.latencyMs.p99 } : {}),
      }),
    ]
    return { rows, details, notes }
  },
}
