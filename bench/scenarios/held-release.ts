/**
 * Scenario 4 (origin only): held request release. Each round asks for the next segment
 * (N = live edge + 1, inside the hold window) with several concurrent GETs, one connection
 * each, which the origin holds; then the segment is PUT. The measure is the time from the
 * PUT's 2xx reaching the client to each held GET's answer head reaching it (negative: the GET
 * was answered before the PUT's acknowledgement arrived). Answer bodies are not read, so that
 * reading one 2 MiB body does not delay noticing the next answer. Target: p99 ≤ 20 ms.
 */
import { request } from 'undici'
import { burstGet, type HeadAnswer } from '../lib/burst.js'
import { summarize } from '../lib/percentile.js'
import { type Row, row } from '../lib/report.js'
import { forNumber } from '../lib/segment.js'
import { liveEdge, startedAgo } from '../lib/timing.js'
import { PIPELINE_HEADERS, type Scenario, type ScenarioOutcome } from './types.js'

const CHANNEL = 'bench-hold'
/** Time given to the held GETs to reach the origin before the PUT. */
const SETTLE_MS = 100

export const heldRelease: Scenario = {
  id: 'held-release',
  title: 'Held GETs released by the PUT of the awaited segment',
  spec: 'Held request released ≤ 20 ms (p99) after the PUT is acknowledged',
  baseline: false,
  async run(ctx): Promise<ScenarioOutcome> {
    const o = ctx.origin
    if (!o) throw new Error(`needs liveorigin: ${ctx.originUnavailable ?? 'not running'}`)
    const { progress, options } = ctx
    const notes: string[] = []
    const t = startedAgo(ctx.now(), ctx.media.durationMs, 500)
    await o.createChannel(CHANNEL, {
      segmentDurationMs: t.durationMs,
      availabilityStartTime: t.ast,
      pipelines: ['east'],
    })
    const host = new URL(o.deliveryUrl).hostname
    const delays: number[] = []
    const statusCounts: Record<string, number> = {}
    let notHeld = 0
    let putFailures = 0
    progress.begin('held-release/liveorigin')
    for (let round = 0; round < options.holdRounds; round++) {
      let n = 0
      let path = ''
      let putStarted = false
      let ackAt = 0
      const early: HeadAnswer[] = []
      const burst = await burstGet({
        host,
        port: o.ports.delivery,
        count: options.holdGets,
        headersOnly: true,
        path: () => {
          n = liveEdge(t, ctx.now()) + 1
          path = `/${CHANNEL}/r${round}/${n}.m4s`
          return path
        },
        onSent: async () => {
          await new Promise((r) => setTimeout(r, SETTLE_MS))
          putStarted = true
          const res = await request(`${o.ingestUrl}${path}`, {
            method: 'PUT',
            body: forNumber(ctx.media, n),
            headers: { 'content-type': 'video/mp4', ...PIPELINE_HEADERS },
          })
          ackAt = performance.now()
          await res.body.text()
          if (res.statusCode < 200 || res.statusCode >= 300) putFailures++
        },
      })
      for (const [status, count] of Object.entries(burst.statusCounts)) {
        statusCounts[status] = (statusCounts[status] ?? 0) + count
      }
      for (const a of burst.answers) {
        if (!/ht=\d/.test(a.headers['cmsd-dynamic'] ?? '')) notHeld++
        if (a.status !== 200) continue
        if (!putStarted) early.push(a)
        else delays.push(a.at - ackAt)
      }
      if (early.length > 0)
        notes.push(`round ${round}: ${early.length} GETs answered before the PUT was sent`)
      progress.update({
        requests: (round + 1) * options.holdGets,
        detail: `round ${round + 1}/${options.holdRounds}`,
      })
    }
    if (delays.length === 0)
      throw new Error(`no held GET was answered with the segment: ${JSON.stringify(statusCounts)}`)
    const s = summarize(delays)
    progress.end(`${s.count} releases, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms`)
    if (notHeld > 0) notes.push(`${notHeld} answers carried no CMSD-Dynamic ht= (not reported as held)`)
    if (putFailures > 0) notes.push(`${putFailures} PUTs failed`)
    if (Object.keys(statusCounts).some((k) => k !== '200')) {
      notes.push(`held GETs answered with other statuses: ${JSON.stringify(statusCounts)}`)
    }
    const rows: Row[] = [
      row({ metric: 'release after PUT ack, p50', unit: 'ms', origin: s.p50 }),
      row({
        metric: 'release after PUT ack, p99',
        unit: 'ms',
        origin: s.p99,
        target: { on: 'origin', op: '<=', value: 20 },
      }),
    ]
    return {
      rows,
      details: {
        releaseMs: s,
        statusCounts,
        rounds: options.holdRounds,
        getsPerRound: options.holdGets,
        settleMs: SETTLE_MS,
      },
      notes,
    }
  },
}
