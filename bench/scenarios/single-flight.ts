/**
 * Scenario 6 (origin only): 5,000 concurrent GETs of one segment, counting the storage reads
 * they cause from the origin's `/metrics`: `liveorigin_object_reads_total` (object fetches
 * from storage after single flight) and `liveorigin_storage_operations_total` by `op`.
 * Two cases:
 * - cold: the segment is stored, the origin has just been restarted (empty in-process cache),
 *   then 5,000 GETs arrive at once;
 * - held: 5,000 GETs of the next segment are held, then the segment is PUT and releases them.
 * Target: one storage read per node. The held case also reports the origin's resident memory
 * per held request (target ≤ 10 KB).
 */
import { type BurstResult, burstGet } from '../lib/burst.js'
import { putOrThrow } from '../lib/http.js'
import { diffCounts, type Sample, sumBy, sumMetric } from '../lib/metrics.js'
import type { OriginServer } from '../lib/origin.js'
import { summarize } from '../lib/percentile.js'
import { type Row, row } from '../lib/report.js'
import { groupRss } from '../lib/rss.js'
import { forNumber } from '../lib/segment.js'
import { edgePathAt, liveEdge } from '../lib/timing.js'
import { edgeFor, storeEdge } from './edge.js'
import { type BenchContext, PIPELINE_HEADERS, type Scenario, type ScenarioOutcome } from './types.js'

const CHANNEL = 'bench-flight'
export const STORAGE_OPS = 'liveorigin_storage_operations_total'
export const OBJECT_READS = 'liveorigin_object_reads_total'

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

interface Counters {
  /** Storage operations by op. */
  ops: Record<string, number>
  /** Object fetches after single flight, when the origin exports them. */
  objectReads: number | undefined
}

async function counters(o: OriginServer): Promise<Counters> {
  const samples = await o.metrics()
  return {
    ops: sumBy(samples, STORAGE_OPS, 'op'),
    objectReads: samples.some((s) => s.name === OBJECT_READS) ? sumMetric(samples, OBJECT_READS) : undefined,
  }
}

interface Delta {
  ops: Record<string, number>
  readOps: number
  objectReads: number | undefined
}

function delta(before: Counters, after: Counters): Delta {
  const ops = diffCounts(before.ops, after.ops)
  return {
    ops,
    readOps: Object.entries(ops)
      .filter(([op]) => isReadOp(op))
      .reduce((a, [, v]) => a + v, 0),
    objectReads:
      before.objectReads === undefined || after.objectReads === undefined
        ? undefined
        : after.objectReads - before.objectReads,
  }
}

function readRows(label: string, d: Delta): Row[] {
  const ops = Object.keys(d.ops).filter(isReadOp).join('+') || 'none'
  const rows: Row[] = []
  if (d.objectReads !== undefined) {
    rows.push(
      row({
        metric: `object reads from storage, ${label}`,
        unit: 'count',
        origin: d.objectReads,
        target: { on: 'origin', op: '<=', value: 1 },
      }),
    )
  }
  rows.push(row({ metric: `storage read operations, ${label} (${ops})`, unit: 'count', origin: d.readOps }))
  return rows
}

function statusNote(label: string, r: BurstResult, notes: string[]): void {
  const other = Object.entries(r.statusCounts).filter(([k]) => k !== '200')
  if (other.length > 0) {
    notes.push(
      `${label}: answers ${JSON.stringify(r.statusCounts)}${r.firstError ? `, first error: ${r.firstError}` : ''}`,
    )
  }
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
    // Every segment the cold burst may ask for (the live edge, a few seconds from now, after the
    // restart) is stored first; a segment older than the live-edge class would be sheddable.
    const edge = edgeFor(ctx, CHANNEL)
    const t = edge.template
    await ctx.origin.createChannel(CHANNEL, {
      segmentDurationMs: t.durationMs,
      availabilityStartTime: t.ast,
      pipelines: ['east'],
    })
    await storeEdge(ctx, ctx.origin.ingestUrl, edge, 30_000)

    // Cold: a fresh process has nothing cached.
    progress.log('  restarting the origin to empty its caches…')
    let o = await ctx.restartOrigin()
    const coldBefore = await counters(o)
    progress.begin(`single-flight/cold ${count} GETs`)
    let coldPath = ''
    const cold = await burstGet({
      host: new URL(o.deliveryUrl).hostname,
      port: o.ports.delivery,
      path: () => {
        coldPath = edgePathAt(edge, ctx.now())
        return coldPath
      },
      count,
      progress,
    })
    const coldDelta = delta(coldBefore, await counters(o))
    progress.end(`${JSON.stringify(cold.statusCounts)}, storage ops ${JSON.stringify(coldDelta.ops)}`)
    statusNote('cold', cold, notes)
    details.cold = {
      path: coldPath,
      statusCounts: cold.statusCounts,
      storageOps: coldDelta.ops,
      objectReads: coldDelta.objectReads,
      connectMs: cold.connectMs,
      answerMs: cold.latenciesMs.length ? summarize(cold.latenciesMs) : undefined,
    }
    rows.push(...readRows(`${count} cold GETs`, coldDelta))

    // Held: the GETs wait for the next segment of another rendition (the cold one's segments
    // are all stored already), its PUT releases them all.
    o = ctx.origin ?? o
    let rssConnected = 0
    let rssHeld = 0
    let heldSeen: number | undefined
    let n = 0
    let heldBefore: Counters | undefined
    progress.begin(`single-flight/held ${count} GETs`)
    const rssIdle = groupRss(o.pid)
    const held = await burstGet({
      host: new URL(o.deliveryUrl).hostname,
      port: o.ports.delivery,
      path: () => {
        n = liveEdge(t, ctx.now()) + 1
        return `/${CHANNEL}/h/${n}.m4s`
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
        heldBefore = await counters(o)
        await putOrThrow(`${o.ingestUrl}/${CHANNEL}/h/${n}.m4s`, forNumber(media, n), PIPELINE_HEADERS)
      },
    })
    const heldDelta = delta(heldBefore!, await counters(o))
    progress.end(`${JSON.stringify(held.statusCounts)}, storage ops ${JSON.stringify(heldDelta.ops)}`)
    statusNote('held', held, notes)
    if (heldSeen === undefined) notes.push('no held-requests gauge in /metrics; waited 2 s before the PUT')
    else if (heldSeen < count)
      notes.push(`only ${heldSeen} of ${count} requests were reported held before the PUT`)
    details.held = {
      segment: n,
      statusCounts: held.statusCounts,
      storageOps: heldDelta.ops,
      objectReads: heldDelta.objectReads,
      heldReported: heldSeen,
      rssBytes: { idle: rssIdle, connected: rssConnected, held: rssHeld },
      answerMs: held.latenciesMs.length ? summarize(held.latenciesMs) : undefined,
    }
    // RSS that fell between two samples (the garbage collector gave back more than the
    // requests took) measures nothing: no value (NaN, shown as —), and the target is not
    // reported met.
    const perRequest = (from: number, what: string): number => {
      if (rssHeld > from) return (rssHeld - from) / count
      notes.push(`resident memory ${what}: RSS fell from ${from} to ${rssHeld} bytes (GC): not measured`)
      return Number.NaN
    }
    rows.push(
      ...readRows(`${count} held GETs then PUT`, heldDelta),
      // The target applies to the request with its connection: a CDN's held request is one.
      row({
        metric: 'resident memory per held request, with its connection',
        unit: 'bytes',
        origin: perRequest(rssIdle, 'with the connection'),
        target: { on: 'origin', op: '<=', value: 10 * 1024 },
      }),
      row({
        metric: 'resident memory per held request, connection excluded',
        unit: 'bytes',
        origin: perRequest(rssConnected, 'without the connection'),
      }),
    )
    notes.push(
      `object reads: ${OBJECT_READS} (fetches after single flight); storage read operations: every read of the storage driver (one object read is a commit-record lookup plus its chunks, 2 × 1 MiB here)`,
      'resident memory: RSS of the origin process group (GC makes it noisy); per request = (held − idle) / GETs, or (held − connected) / GETs without the connection',
    )
    return { rows, details, notes }
  },
}
