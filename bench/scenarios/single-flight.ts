/**
 * Scenario 6 (origin only): 5,000 concurrent GETs of one segment, counting the storage reads
 * they cause from the origin's `/metrics` (`liveorigin_storage_operations_total`, by `op`).
 * Two cases:
 * - cold: the segment is stored, the origin has just been restarted (empty in-process cache),
 *   then 5,000 GETs arrive at once;
 * - held: 5,000 GETs of the next segment are held, then the segment is PUT and releases them.
 * Target: one storage read per node (one object read: one commit-record lookup plus its
 * chunks). The held case also reports the origin's resident memory per held request.
 */
import { type BurstResult, burstGet } from '../lib/burst.js'
import { putOrThrow } from '../lib/http.js'
import { diffCounts, type Sample, sumBy } from '../lib/metrics.js'
import type { OriginServer } from '../lib/origin.js'
import { summarize } from '../lib/percentile.js'
import { type Row, row } from '../lib/report.js'
import { groupRss } from '../lib/rss.js'
import { forNumber } from '../lib/segment.js'
import { liveEdge, startedAgo } from '../lib/timing.js'
import { type BenchContext, PIPELINE_HEADERS, type Scenario, type ScenarioOutcome } from './types.js'

const CHANNEL = 'bench-flight'
export const STORAGE_OPS = 'liveorigin_storage_operations_total'

/** Storage operations that read (by op label): anything but writes, deletes and sweeps. */
export function isReadOp(op: string): boolean {
  return /get|list|read|fetch|load|select/i.test(op) && !/put|write|commit|delete|remove|sweep/i.test(op)
}

/** Sum of every gauge that counts held requests right now (names containing `held`). */
export function heldNow(samples: readonly Sample[]): number | undefined {
  let found = false
  let sum = 0
  for (const s of samples) {
    if (!s.name.startsWith('liveorigin_') || !/held/.test(s.name)) continue
    if (/_(total|bucket|sum|count|created)$/.test(s.name)) continue
    found = true
    sum += s.value
  }
  return found ? sum : undefined
}

async function storageOps(o: OriginServer): Promise<Record<string, number>> {
  return sumBy(await o.metrics(), STORAGE_OPS, 'op')
}

function readsOf(delta: Record<string, number>): number {
  return Object.entries(delta)
    .filter(([op]) => isReadOp(op))
    .reduce((a, [, v]) => a + v, 0)
}

function statusNote(label: string, r: BurstResult, notes: string[]): void {
  const other = Object.entries(r.statusCounts).filter(([k]) => k !== '200')
  if (other.length > 0)
    notes.push(
      `${label}: answers ${JSON.stringify(r.statusCounts)}${r.firstError ? `, first error: ${r.firstError}` : ''}`,
    )
}

export const singleFlight: Scenario = {
  id: 'single-flight',
  title: '5,000 concurrent GETs of one segment: storage reads',
  spec: '5,000 concurrent GETs of one segment: one storage read per node',
  baseline: false,
  async run(ctx: BenchContext): Promise<ScenarioOutcome> {
    if (!ctx.origin) throw new Error(`needs liveorigin: ${ctx.originUnavailable ?? 'not running'}`)
    const { progress, options, media } = ctx
    const notes: string[] = []
    const rows: Row[] = []
    const details: Record<string, unknown> = {}
    const count = options.flightGets
    const t = startedAgo(ctx.now(), media.durationMs, 500)
    await ctx.origin.createChannel(CHANNEL, {
      segmentDurationMs: t.durationMs,
      availabilityStartTime: t.ast,
      pipelines: ['east'],
      lateAllowanceMs: 3_600_000,
    })
    await putOrThrow(`${ctx.origin.ingestUrl}/${CHANNEL}/v/init.mp4`, media.init, PIPELINE_HEADERS)
    await putOrThrow(`${ctx.origin.ingestUrl}/${CHANNEL}/v/1.m4s`, forNumber(media, 1), PIPELINE_HEADERS)
    const metricNames = new Set((await ctx.origin.metrics()).map((s) => s.name))
    if (!metricNames.has(STORAGE_OPS)) {
      notes.push(`the origin exposes no ${STORAGE_OPS}; storage reads could not be counted`)
    }

    // Cold: a fresh process has nothing cached.
    progress.log('  restarting the origin to empty its caches…')
    let o = await ctx.restartOrigin()
    const before = await storageOps(o)
    progress.begin(`single-flight/cold ${count} GETs`)
    const cold = await burstGet({
      host: new URL(o.deliveryUrl).hostname,
      port: o.ports.delivery,
      path: `/${CHANNEL}/v/1.m4s`,
      count,
      progress,
    })
    const coldOps = diffCounts(before, await storageOps(o))
    progress.end(`${JSON.stringify(cold.statusCounts)}, storage ops ${JSON.stringify(coldOps)}`)
    statusNote('cold', cold, notes)
    details.cold = {
      statusCounts: cold.statusCounts,
      storageOps: coldOps,
      connectMs: cold.connectMs,
      answerMs: cold.latenciesMs.length ? summarize(cold.latenciesMs) : undefined,
    }
    rows.push(
      row({
        metric: `storage reads, ${count} cold GETs (${Object.keys(coldOps).filter(isReadOp).join('+') || 'no read ops'})`,
        unit: 'count',
        origin: readsOf(coldOps),
      }),
    )

    // Held: the GETs wait for the next segment, its PUT releases them all.
    o = ctx.origin ?? o
    let rssIdle = 0
    let rssConnected = 0
    let rssHeld = 0
    let heldSeen: number | undefined
    let n = 0
    let heldBefore: Record<string, number> = {}
    let afterPut: Record<string, number> = {}
    progress.begin(`single-flight/held ${count} GETs`)
    rssIdle = groupRss(o.pid)
    const held = await burstGet({
      host: new URL(o.deliveryUrl).hostname,
      port: o.ports.delivery,
      path: () => {
        n = liveEdge(t, ctx.now()) + 1
        return `/${CHANNEL}/v/${n}.m4s`
      },
      count,
      progress,
      onConnected: () => {
        rssConnected = groupRss(o.pid)
      },
      onSent: async () => {
        // Wait until the origin reports them held (or 2 s if it has no such gauge).
        const deadline = Date.now() + 2000
        while (Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100))
          heldSeen = heldNow(await o.metrics())
          if (heldSeen !== undefined && heldSeen >= count) break
        }
        rssHeld = groupRss(o.pid)
        heldBefore = await storageOps(o)
        await putOrThrow(`${o.ingestUrl}/${CHANNEL}/v/${n}.m4s`, forNumber(media, n), PIPELINE_HEADERS)
      },
    })
    afterPut = await storageOps(o)
    const heldOps = diffCounts(heldBefore, afterPut)
    progress.end(`${JSON.stringify(held.statusCounts)}, storage ops ${JSON.stringify(heldOps)}`)
    statusNote('held', held, notes)
    if (heldSeen === undefined) notes.push('no held-requests gauge in /metrics; waited 2 s before the PUT')
    else if (heldSeen < count)
      notes.push(`only ${heldSeen} of ${count} requests were reported held before the PUT`)
    const perHeld = (rssHeld - rssConnected) / count
    const perHeldWithConn = (rssHeld - rssIdle) / count
    details.held = {
      segment: n,
      statusCounts: held.statusCounts,
      storageOps: heldOps,
      heldReported: heldSeen,
      rssBytes: { idle: rssIdle, connected: rssConnected, held: rssHeld },
      answerMs: held.latenciesMs.length ? summarize(held.latenciesMs) : undefined,
    }
    rows.push(
      row({
        metric: `storage reads, ${count} held GETs then PUT (${Object.keys(heldOps).filter(isReadOp).join('+') || 'no read ops'})`,
        unit: 'count',
        origin: readsOf(heldOps),
      }),
      row({
        metric: 'resident memory per held request',
        unit: 'bytes',
        origin: perHeld,
        target: { on: 'origin', op: '<=', value: 10 * 1024 },
      }),
      row({
        metric: 'resident memory per held request, with its connection',
        unit: 'bytes',
        origin: perHeldWithConn,
      }),
    )
    notes.push(
      'storage reads count every read operation of the storage driver; one object read is one commit-record lookup plus its chunks (2 × 1 MiB for this segment)',
      'resident memory is the RSS of the origin process group (GC makes it noisy); per request = (held − connected) / GETs',
    )
    return { rows, details, notes }
  },
}
