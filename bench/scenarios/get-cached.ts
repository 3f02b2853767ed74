/**
 * Scenario 1: GET of a cached 2 MiB segment with 64 connections. Both servers hold the same
 * bytes at the same paths (and so does the bare node reference): the segments of a timed channel, stored in advance. The load asks
 * for the live-edge segment, as a CDN does during a live event, so each segment is read from
 * storage once and then served from the origin's memory cache some thousands of times.
 * Throughput ratio target: ≥ 1.0 × nginx.
 */
import { expectStatus } from '../lib/http.js'
import { formatBytes } from '../lib/progress.js'
import { edgePathAt } from '../lib/timing.js'
import { edgeFor, storeEdge } from './edge.js'
import { compareGets, compareRow } from './get-load.js'
import type { Scenario, ScenarioOutcome } from './types.js'

const CHANNEL = 'bench-cached'

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
    // stored first, for the phases of all three servers.
    const edge = edgeFor(ctx, CHANNEL)
    const forMs = 3 * (options.rounds * options.warmupSec + options.durationSec) * 1000 + 30_000
    const nginxServer = ctx.nginx
    const bare = ctx.bare
    const o = ctx.origin
    const results = await compareGets(
      ctx,
      {
        id: 'get-cached',
        edge,
        expectStatus: 200,
        expectMinBytes: ctx.media.segment.length,
        summary: (r) =>
          `${Math.round(r.reqPerSec)} req/s (${Math.round(r.expectedPerSec)} 200s), ${formatBytes(r.bytesPerSec)}/s, p99 ${r.latencyMs.p99.toFixed(1)} ms`,
      },
      {
        nginx: nginxServer && {
          url: nginxServer.url,
          probe: async () => {
            await storeEdge(ctx, nginxServer.url, edge, forMs)
            return expectStatus(`${nginxServer.url}${edgePathAt(edge, ctx.now())}`, 200)
          },
        },
        liveorigin: o && {
          url: o.deliveryUrl,
          probe: async () => {
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
          },
        },
        bare: bare && {
          url: bare.url,
          probe: async () => {
            await storeEdge(ctx, bare.url, edge, forMs)
            return expectStatus(`${bare.url}${edgePathAt(edge, ctx.now())}`, 200)
          },
        },
      },
      notes,
      details,
    )
    for (const [name, r] of [
      ['nginx', results.nginx],
      ['liveorigin', results.origin],
      ['bare node', results.bare],
    ] as const) {
      if (r && r.avgAnswerBytes < ctx.media.segment.length) {
        notes.push(`${name}: mean answer ${Math.round(r.avgAnswerBytes)} bytes, smaller than the segment`)
      }
    }
    const rows = [
      compareRow('throughput', 'B/s', results, (r) => r.bytesPerSec, { on: 'ratio', op: '>=', value: 1.0 }),
      compareRow('answers 200', 'req/s', results, (r) => r.expectedPerSec),
      compareRow('latency p99 (worst round)', 'ms', results, (r) => r.latencyMs.p99),
    ]
    return { rows, details, notes }
  },
}
