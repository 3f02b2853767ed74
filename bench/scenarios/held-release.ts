/**
 * Scenario 4 (origin only): held request release. Each round asks for the next segment
 * (N = live edge + 1, inside the hold window) with several concurrent GETs, one connection
 * each, which the origin holds; then the segment is PUT. The measure is the time from the
 * PUT's 2xx reaching the client to each held GET's answer head reaching it (negative: the GET
 * was answered before the PUT's acknowledgement arrived). Answer bodies are not read, so that
 * reading one 2 MiB body does not delay noticing the next answer. Two variants: a few GETs
 * per round (`--hold-gets`, 16; target p99 ≤ 20 ms) and 2,000 per round (3 rounds; target:
 * all answered ≤ 100 ms after the acknowledgement, p99).
 */
import { request } from 'undici'
import { burstGet, type HeadAnswer } from '../lib/burst.js'
import { summarize } from '../lib/percentile.js'
import { type Row, row } from '../lib/report.js'
import { forNumber } from '../lib/segment.js'
import { liveEdge, startedAgo } from '../lib/timing.js'
import { PIPELINE_HEADERS, type Scenario, type ScenarioOutcome } from './types.js'

interface Variant {
  readonly id: string
  readonly title: string
  readonly spec: string
  readonly channel: string
  /** GETs held per round and rounds (undefined: `--hold-gets`, `--hold-rounds`). */
  readonly gets?: number
  readonly rounds?: number
  /** Time given to the held GETs to reach the origin before the PUT. */
  readonly settleMs: number
  readonly targetMs: number
}

function heldReleaseScenario(v: Variant): Scenario {
  return {
    id: v.id,
    title: v.title,
    spec: v.spec,
    baseline: false,
    run: (ctx) => runHeldRelease(ctx, v),
  }
}

export const heldRelease = heldReleaseScenario({
  id: 'held-release',
  title: 'Held GETs released by the PUT of the awaited segment',
  spec: 'Held request released ≤ 20 ms (p99) after the PUT is acknowledged',
  channel: 'bench-hold',
  settleMs: 100,
  targetMs: 20,
})

export const heldReleaseMany = heldReleaseScenario({
  id: 'held-release-2000',
  title: '2,000 held GETs released by one PUT',
  spec: '2,000 requests held on one segment all answered ≤ 100 ms (p99) after the acknowledgement',
  channel: 'bench-hold-many',
  gets: 2000,
  rounds: 3,
  // 2,000 connections take longer to open and reach the hold than 16.
  settleMs: 1500,
  targetMs: 100,
})

async function runHeldRelease(ctx: Parameters<Scenario['run']>[0], v: Variant): Promise<ScenarioOutcome> {
  const o = ctx.origin
  if (!o) throw new Error(`needs liveorigin: ${ctx.originUnavailable ?? 'not running'}`)
  const { progress, options } = ctx
  const gets = v.gets ?? options.holdGets
  const rounds = v.rounds ?? options.holdRounds
  const CHANNEL = v.channel
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
  progress.begin(`${v.id}/liveorigin`)
  for (let round = 0; round < rounds; round++) {
    let n = 0
    let path = ''
    let putStarted = false
    let ackAt = 0
    const early: HeadAnswer[] = []
    const burst = await burstGet({
      host,
      port: o.ports.delivery,
      count: gets,
      headersOnly: true,
      path: () => {
        n = liveEdge(t, ctx.now()) + 1
        path = `/${CHANNEL}/r${round}/${n}.m4s`
        return path
      },
      onSent: async () => {
        await new Promise((r) => setTimeout(r, v.settleMs))
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
    if (early.length > 0) notes.push(`round ${round}: ${early.length} GETs answered before the PUT was sent`)
    progress.update({
      requests: (round + 1) * gets,
      detail: `round ${round + 1}/${rounds}`,
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
      target: { on: 'origin', op: '<=', value: v.targetMs },
    }),
  ]
  return {
    rows,
    details: {
      releaseMs: s,
      statusCounts,
      rounds,
      getsPerRound: gets,
      settleMs: v.settleMs,
    },
    notes,
  }
}
