/**
 * Scenario 3: PUT of a 2 MiB segment over one keep-alive connection, sequentially, as a
 * packager sends a rendition: its init segment first (not timed), then its segments in order,
 * each a valid, new segment for the origin (one rendition per server and round). The servers
 * (nginx, liveorigin, the bare node reference, and that reference writing each body to a file
 * as it arrives) take turns (see `alternate`); each server's latencies are pooled over its
 * rounds. Targets: origin p50 ≤ 2 × nginx p50, origin p99 ≤ 10 ms.
 */

import { putOrThrow } from '../lib/http.js'
import { touchMemory } from '../lib/memory.js'
import { histogramMeans, type Sample } from '../lib/metrics.js'
import type { OriginServer } from '../lib/origin.js'
import { type Summary, summarize } from '../lib/percentile.js'
import { type PutLoopResult, putLoop } from '../lib/put-loop.js'
import { type Row, row, type Target } from '../lib/report.js'
import { minorFaults } from '../lib/rss.js'
import { forNumber } from '../lib/segment.js'
import { startedAgo } from '../lib/timing.js'
import {
  alternate,
  type BenchContext,
  CONTENDER_LABELS,
  type Contender,
  PIPELINE_HEADERS,
  ratioDoubt,
  roundSpreadNote,
  type Scenario,
  type ScenarioOutcome,
  side,
} from './types.js'

const CHANNEL = 'bench-put'
const WARMUP_PUTS = 20
const P50_TARGET: Target = { on: 'ratio', op: '<=', value: 2 }

interface Measured {
  summary: Summary
  loop: PutLoopResult
}

/**
 * The rendition `<origin>/bench-put/<rendition>/`: its init segment, then warm-up PUTs of
 * segments 1, 2, …, then `count` measured PUTs of the segments after them.
 */
export async function measurePuts(
  ctx: BenchContext,
  label: string,
  origin: string,
  rendition: string,
  count: number,
  extra: {
    maxMs?: number
    warmup?: boolean
    beforeMeasured?: () => Promise<void>
    /** Headers besides the pipeline's. */
    headers?: Readonly<Record<string, string>>
  } = {},
): Promise<Measured> {
  const { progress } = ctx
  const headers = { ...PIPELINE_HEADERS, ...extra.headers }
  // The origin knows the rendition's init segment before its first segment, as it does in
  // service, and checks every segment against it.
  await putOrThrow(`${origin}/${CHANNEL}/${rendition}/init.mp4`, ctx.media.init, headers)
  const segment = (n: number) => `/${CHANNEL}/${rendition}/${n}.m4s`
  const warmups = extra.warmup === false ? 0 : WARMUP_PUTS
  if (warmups > 0) {
    progress.begin(`${label} warm-up`)
    await putLoop({
      origin,
      path: (i) => segment(1 + i),
      body: (i) => forNumber(ctx.media, 1 + i),
      count: warmups,
      headers,
      progress,
    })
  }
  await extra.beforeMeasured?.()
  progress.begin(label)
  const first = 1 + warmups
  const loop = await putLoop({
    origin,
    path: (i) => segment(first + i),
    body: (i) => forNumber(ctx.media, first + i),
    count,
    headers,
    progress,
    ...(extra.maxMs === undefined ? {} : { maxMs: extra.maxMs }),
  })
  if (loop.latenciesMs.length === 0) throw new Error(`${label}: no PUT succeeded: ${loop.firstFailure ?? ''}`)
  const summary = summarize(loop.latenciesMs)
  progress.end(
    `${summary.count} PUTs, p50 ${summary.p50.toFixed(2)} ms, p99 ${summary.p99.toFixed(2)} ms${loop.failures ? `, ${loop.failures} failed` : ''}`,
  )
  return { summary, loop }
}

/**
 * Creates the PUT channel on an origin: segment 1 is at the live edge, late uploads allowed
 * (every round's rendition starts again at segment 1).
 */
export async function createPutChannel(
  ctx: BenchContext,
  o: Pick<OriginServer, 'createChannel'>,
): Promise<void> {
  const t = startedAgo(ctx.now(), ctx.media.durationMs, 500)
  await o.createChannel(CHANNEL, {
    segmentDurationMs: t.durationMs,
    availabilityStartTime: t.ast,
    pipelines: ['east'],
    // Each rendition starts at segment 1, seconds to minutes into the run: keep it on time.
    lateAllowanceMs: 3_600_000,
  })
}

/** What `latest.json` keeps of one server's PUTs. */
function detailsOf(m: Measured): Record<string, unknown> {
  return { ...m.summary, statusCounts: m.loop.statusCounts, failures: m.loop.failures }
}

/** The rounds of one server as one sample: latencies pooled, percentiles over all of them. */
function combinePuts(runs: readonly Measured[]): Measured {
  const latenciesMs = runs.flatMap((r) => r.loop.latenciesMs)
  const statusCounts: Record<string, number> = {}
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.loop.statusCounts)) statusCounts[k] = (statusCounts[k] ?? 0) + v
  }
  const loop: PutLoopResult = {
    latenciesMs,
    statusCounts,
    failures: runs.reduce((a, r) => a + r.loop.failures, 0),
    bytes: runs.reduce((a, r) => a + r.loop.bytes, 0),
    elapsedMs: runs.reduce((a, r) => a + r.loop.elapsedMs, 0),
  }
  const firstFailure = runs.find((r) => r.loop.firstFailure !== undefined)?.loop.firstFailure
  if (firstFailure !== undefined) loop.firstFailure = firstFailure
  return { summary: summarize(latenciesMs), loop }
}

const UPLOAD_PHASE = 'liveorigin_upload_phase_seconds'
const PHASES = ['receive', 'store', 'commit', 'announce'] as const

/** Mean ms per upload phase over the rounds' scrapes (the phases the origin reports). */
export function uploadPhases(
  scrapes: ReadonlyArray<{ before: Sample[]; after: Sample[] }>,
): Record<string, number> {
  const total: Record<string, { count: number; ms: number }> = {}
  for (const { before, after } of scrapes) {
    for (const [phase, { count, meanMs }] of Object.entries(
      histogramMeans(before, after, UPLOAD_PHASE, 'phase'),
    )) {
      const t = total[phase] ?? { count: 0, ms: 0 }
      total[phase] = { count: t.count + count, ms: t.ms + meanMs * count }
    }
  }
  const out: Record<string, number> = {}
  for (const phase of PHASES) {
    const t = total[phase]
    if (t && t.count > 0) out[phase] = t.ms / t.count
  }
  return out
}

/**
 * Where liveorigin's mean PUT went, by the origin's own phases, and what is left of the mean
 * the client saw (parsing the request, the answer, the connection). Undefined when the origin
 * reported no phases (an older build).
 */
export function phaseNote(
  phases: Record<string, number>,
  latenciesMs: readonly number[],
): string | undefined {
  const known = PHASES.filter((p) => phases[p] !== undefined)
  if (known.length === 0 || latenciesMs.length === 0) return undefined
  const mean = latenciesMs.reduce((a, b) => a + b, 0) / latenciesMs.length
  const inside = known.reduce((a, p) => a + phases[p]!, 0)
  const parts = known.map((p) => `${p} ${phases[p]!.toFixed(2)} ms`).join(', ')
  return `liveorigin's mean PUT ${mean.toFixed(2)} ms by the origin's phases (${UPLOAD_PHASE}): ${parts}; the other ${(mean - inside).toFixed(2)} ms are the request's head, the answer and the connection`
}

export const put: Scenario = {
  id: 'put',
  title: 'PUT of a 2 MiB segment, one keep-alive connection, sequential',
  spec: 'PUT of a 2 MB segment (one keep-alive connection), embedded: p50 ≤ 2 × nginx p50 and p99 ≤ 10 ms',
  baseline: true,
  async run(ctx): Promise<ScenarioOutcome> {
    const notes: string[] = []
    const details: Record<string, unknown> = {}
    const { rounds } = ctx.options
    const count = Math.max(1, Math.round(ctx.options.putCount / rounds))
    const contenders: Array<Contender<Measured>> = []
    const nginxServer = ctx.nginx
    if (nginxServer) {
      contenders.push({
        name: 'nginx',
        measure: (r) =>
          measurePuts(ctx, `put/nginx #${r + 1}`, nginxServer.url, `r${r}`, count, { warmup: r === 0 }),
      })
    }
    const o = ctx.origin
    // The origin's own account of its measured PUTs, phase by phase (its /metrics around each round).
    const phaseScrapes: Array<{ before: Sample[]; after: Sample[] }> = []
    // And the ingest worker's page faults over the measured PUTs (docs/benchmarks.md#freed-memory-kept).
    const faults = { count: 0, puts: 0 }
    if (!o) notes.push(`liveorigin not measured: ${ctx.originUnavailable ?? 'not running'}`)
    else if (await side('liveorigin', notes, () => createPutChannel(ctx, o).then(() => true))) {
      contenders.push({
        name: 'liveorigin',
        measure: async (r) => {
          let before: Sample[] = []
          const ingest = [...o.roles()].find(([, role]) => role === 'ingest')?.[0]
          let faultsBefore: number | undefined
          const measured = await measurePuts(ctx, `put/liveorigin #${r + 1}`, o.ingestUrl, `r${r}`, count, {
            warmup: r === 0,
            beforeMeasured: async () => {
              before = await o.metrics()
              faultsBefore = ingest === undefined ? undefined : minorFaults(ingest)
            },
          })
          const faultsAfter = ingest === undefined ? undefined : minorFaults(ingest)
          if (faultsBefore !== undefined && faultsAfter !== undefined) {
            faults.count += faultsAfter - faultsBefore
            faults.puts += measured.loop.latenciesMs.length
          }
          phaseScrapes.push({ before, after: await o.metrics() })
          return measured
        },
      })
    }
    const bare = ctx.bare
    if (bare) {
      contenders.push({
        name: 'bare',
        measure: (r) => measurePuts(ctx, `put/bare #${r + 1}`, bare.url, `r${r}`, count, { warmup: r === 0 }),
      })
      // The same server writing each body to a file as it arrives, as nginx does: what storing
      // the bytes at all adds on this machine, before any hashing, chunking or database.
      contenders.push({
        name: 'bare-file',
        measure: (r) =>
          measurePuts(ctx, `put/bare writing #${r + 1}`, bare.url, `f${r}`, count, {
            warmup: r === 0,
            headers: bare.writeHeaders,
          }),
      })
    }
    // What one round stores, warm-up included, is touched again before every round: the host
    // takes back the pages the scenario's first touch freed within seconds, and a later round
    // would otherwise pay for fresh memory that the earlier ones did not.
    const roundMib = Math.min(
      ctx.options.warmMib,
      Math.ceil((2 * (count + WARMUP_PUTS) * ctx.media.segment.length) / 2 ** 20),
    )
    const runs = await alternate(
      rounds,
      contenders,
      notes,
      roundMib > 0 ? () => touchMemory(roundMib) : undefined,
    )
    /** Servers whose rounds disagreed: a ratio with one of them judges nothing. */
    const unsteady = new Set<string>()
    for (const [name, measured] of Object.entries(runs)) {
      const spread = roundSpreadNote(
        CONTENDER_LABELS[name] ?? name,
        'PUT p50',
        measured.map((m) => m.summary.p50),
        'ms',
      )
      if (spread) {
        notes.push(spread)
        unsteady.add(name)
      }
    }
    const nginx = runs.nginx && combinePuts(runs.nginx)
    const origin = runs.liveorigin && combinePuts(runs.liveorigin)
    const bareRuns = runs.bare && combinePuts(runs.bare)
    const bareFile = runs['bare-file'] && combinePuts(runs['bare-file'])
    if (nginx) details.nginx = detailsOf(nginx)
    if (origin) details.origin = detailsOf(origin)
    if (bareRuns) details.bare = detailsOf(bareRuns)
    if (bareFile) details.bareWritingFile = detailsOf(bareFile)
    if (origin && bareFile && bareRuns) {
      notes.push(
        `liveorigin's PUT p50 is ${(origin.summary.p50 / bareFile.summary.p50).toFixed(2)} × bare node's writing the body to a file (${(origin.summary.p50 / bareRuns.summary.p50).toFixed(2)} × bare node's keeping it in memory only)`,
      )
    }
    if (origin && phaseScrapes.length > 0) {
      const phases = uploadPhases(phaseScrapes)
      details.originPhasesMs = phases
      const note = phaseNote(phases, origin.loop.latenciesMs)
      if (note) notes.push(note)
    }
    if (origin && faults.puts > 0) {
      details.ingestFaultsPerPut = faults.count / faults.puts
      notes.push(
        `liveorigin's ingest worker took ${Math.round(faults.count / faults.puts)} minor page faults per measured PUT (/proc/<pid>/stat)`,
      )
    }
    if (!nginx && !origin && !bareRuns) throw new Error(notes.join('; ') || 'nothing measured')
    for (const [name, m] of [
      ['nginx', nginx],
      ['liveorigin', origin],
      [CONTENDER_LABELS.bare!, bareRuns],
      [CONTENDER_LABELS['bare-file']!, bareFile],
    ] as const) {
      if (m && m.loop.failures > 0)
        notes.push(`${name}: ${m.loop.failures} PUTs failed, first: ${m.loop.firstFailure}`)
    }
    const p50Doubt = ratioDoubt(P50_TARGET, unsteady)
    const rows: Row[] = [
      row({
        metric: 'PUT latency p50',
        unit: 'ms',
        ...(origin ? { origin: origin.summary.p50 } : {}),
        ...(nginx ? { nginx: nginx.summary.p50 } : {}),
        ...(bareRuns ? { bare: bareRuns.summary.p50 } : {}),
        target: P50_TARGET,
        ...(p50Doubt === undefined ? {} : { doubt: p50Doubt }),
      }),
      row({
        metric: 'PUT latency p99',
        unit: 'ms',
        ...(origin ? { origin: origin.summary.p99 } : {}),
        ...(nginx ? { nginx: nginx.summary.p99 } : {}),
        ...(bareRuns ? { bare: bareRuns.summary.p99 } : {}),
        target: { on: 'origin', op: '<=', value: 10 },
      }),
    ]
    if (bareFile) {
      for (const [p, v] of [
        ['p50', bareFile.summary.p50],
        ['p99', bareFile.summary.p99],
      ] as const) {
        const n = nginx?.summary[p]
        rows.push(
          row({
            metric: `PUT latency ${p}, bare node writing the body to a file`,
            unit: 'ms',
            bare: v,
            ...(n === undefined ? {} : { nginx: n, ratio: v / n, ratioOf: 'bare node writing/nginx' }),
          }),
        )
      }
    }
    return { rows, details, notes }
  },
}
