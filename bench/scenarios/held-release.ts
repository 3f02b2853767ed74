/**
 * Scenario 4 (origin only): held request release. Each round asks for the next segment
 * (N = live edge + 1, inside the hold window) with several concurrent GETs, which the origin
 * holds; then the segment is PUT. The measure is the time from the PUT's 2xx reaching the
 * client to each held GET's answer reaching it (negative: the GET was answered before the
 * PUT's acknowledgement arrived). Target: p99 ≤ 20 ms.
 */
import { Pool } from 'undici'
import { summarize } from '../lib/percentile.js'
import { type Row, row } from '../lib/report.js'
import { forNumber } from '../lib/segment.js'
import { liveEdge, startedAgo } from '../lib/timing.js'
import { PIPELINE_HEADERS, type Scenario, type ScenarioOutcome } from './types.js'

const CHANNEL = 'bench-hold'
/** Time given to the held GETs to reach the origin before the PUT. */
const SETTLE_MS = 100

interface HeldAnswer {
  status: number
  at: number
  held: boolean
  bytes: number
}

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
    const gets = new Pool(o.deliveryUrl, { connections: options.holdGets, pipelining: 1 })
    const ingest = new Pool(o.ingestUrl, { connections: 1, pipelining: 1 })
    const delays: number[] = []
    const statusCounts: Record<string, number> = {}
    let notHeld = 0
    let answeredBeforePut = 0
    let putFailures = 0
    progress.begin('held-release/liveorigin')
    try {
      for (let round = 0; round < options.holdRounds; round++) {
        const n = liveEdge(t, ctx.now()) + 1
        const path = `/${CHANNEL}/r${round}/${n}.m4s`
        const body = forNumber(ctx.media, n)
        let putStarted = false
        const held = Array.from({ length: options.holdGets }, async (): Promise<HeldAnswer> => {
          const res = await gets.request({ method: 'GET', path })
          const at = performance.now()
          if (!putStarted) answeredBeforePut++
          const buf = await res.body.arrayBuffer()
          const cmsd = res.headers['cmsd-dynamic']
          return {
            status: res.statusCode,
            at,
            held: typeof cmsd === 'string' && /ht=\d/.test(cmsd),
            bytes: buf.byteLength,
          }
        })
        await new Promise((r) => setTimeout(r, SETTLE_MS))
        putStarted = true
        const put = await ingest.request({
          method: 'PUT',
          path,
          body,
          headers: { 'content-type': 'video/mp4', ...PIPELINE_HEADERS },
        })
        const ackAt = performance.now()
        await put.body.text()
        if (put.statusCode < 200 || put.statusCode >= 300) putFailures++
        for (const a of await Promise.all(held)) {
          statusCounts[a.status] = (statusCounts[a.status] ?? 0) + 1
          if (!a.held) notHeld++
          if (a.status === 200 && a.bytes === body.length) delays.push(a.at - ackAt)
        }
        progress.update({
          requests: (round + 1) * options.holdGets,
          detail: `round ${round + 1}/${options.holdRounds}`,
        })
      }
    } finally {
      await gets.close()
      await ingest.close()
    }
    if (delays.length === 0)
      throw new Error(`no held GET was answered with the segment: ${JSON.stringify(statusCounts)}`)
    const s = summarize(delays)
    progress.end(`${s.count} releases, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms`)
    if (notHeld > 0) notes.push(`${notHeld} answers carried no CMSD-Dynamic ht= (not reported as held)`)
    if (answeredBeforePut > 0)
      notes.push(`${answeredBeforePut} GETs were answered before the PUT was sent (not held)`)
    if (putFailures > 0) notes.push(`${putFailures} PUTs failed`)
    const other = Object.entries(statusCounts).filter(([k]) => k !== '200')
    if (other.length > 0)
      notes.push(`held GETs answered with other statuses: ${JSON.stringify(statusCounts)}`)
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
