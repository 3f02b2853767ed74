/**
 * Scenario 2: GET of a segment that does not exist yet, 64 connections. The origin answers
 * 404 from template math alone (the segment is due far outside the hold window); nginx answers
 * 404 for a missing file (its open_file_cache remembers the miss); the bare node reference
 * answers 404 with the same lifetime from the channel's timing. Ratio target: ≥ 0.8 × bare node
 * requests/s (docs/protocol.md#performance-targets).
 */
import { expectStatus } from '../lib/http.js'
import { liveEdge, startedAgo } from '../lib/timing.js'
import { compareGets, compareRow } from './get-load.js'
import type { Scenario, ScenarioOutcome } from './types.js'

const CHANNEL = 'bench-future'
/** How many segments ahead of the live edge: 1000 × 2 s ≈ 33 min, inside the 1 h TTL cap. */
const AHEAD = 1000

export const getFuture: Scenario = {
  id: 'get-future',
  title: 'GET of a future segment (404), 64 connections',
  spec: 'GET of a future segment (404 from template math): ≥ 0.8 × bare node requests/s',
  baseline: true,
  async run(ctx): Promise<ScenarioOutcome> {
    const notes: string[] = []
    const details: Record<string, unknown> = {}
    const t = startedAgo(ctx.now(), ctx.media.durationMs, 500)
    const path = `/${CHANNEL}/v/${liveEdge(t, ctx.now()) + AHEAD}.m4s`
    details.path = path
    const nginxServer = ctx.nginx
    const bare = ctx.bare
    const o = ctx.origin
    const results = await compareGets(
      ctx,
      {
        id: 'get-future',
        expectStatus: 404,
        summary: (r) =>
          `${Math.round(r.reqPerSec)} req/s (${Math.round(r.expectedPerSec)} 404s), p99 ${r.latencyMs.p99.toFixed(1)} ms`,
      },
      {
        nginx: nginxServer && {
          url: `${nginxServer.url}${path}`,
          probe: () => expectStatus(`${nginxServer.url}${path}`, 404),
        },
        liveorigin: o && {
          url: `${o.deliveryUrl}${path}`,
          probe: async () => {
            await o.createChannel(CHANNEL, {
              segmentDurationMs: t.durationMs,
              availabilityStartTime: t.ast,
              pipelines: ['east'],
            })
            const first = await expectStatus(`${o.deliveryUrl}${path}`, 404)
            details.originFirstAnswerHeaders = first.headers
            return first
          },
        },
        bare: bare && {
          url: `${bare.url}${path}`,
          probe: async () => {
            await bare.createChannel(CHANNEL, {
              segmentDurationMs: t.durationMs,
              availabilityStartTime: t.ast,
            })
            return expectStatus(`${bare.url}${path}`, 404)
          },
        },
      },
      notes,
      details,
    )
    const rows = [
      compareRow('answers 404', 'req/s', results, (r) => r.expectedPerSec, {
        on: 'ratioBare',
        op: '>=',
        value: 0.8,
      }),
      compareRow('latency p99 (worst round)', 'ms', results, (r) => r.latencyMs.p99),
    ]
    return { rows, details, notes }
  },
}
