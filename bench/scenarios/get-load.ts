/**
 * The scaffolding the GET comparison scenarios share (get-cached, get-future): each server is
 * probed (and given its objects) first, then measured in rotating rounds of one load phase
 * each; the rounds are combined, and answers other than the expected ones become notes.
 */
import type { Answer } from '../lib/http.js'
import { combineLoads, type LoadResult, runLoad } from '../lib/load.js'
import { type Row, row, type Target, type Unit } from '../lib/report.js'
import type { EdgePath } from '../lib/timing.js'
import { alternate, type BenchContext, type Contender, ratioDoubt, roundSpreadNote, side } from './types.js'

/** What every load phase of a scenario asks for. */
export interface GetPhase {
  /** Scenario id, the prefix of the progress line. */
  id: string
  /** Follow the live edge instead of the server URL's path. */
  edge?: EdgePath
  expectStatus: number
  /** Answers smaller than this count as short. */
  expectMinBytes?: number
  /** The progress line's ending after a phase. */
  summary(r: LoadResult): string
}

/** One server of a comparison: the URL loaded, and a probe that prepares it and answers once. */
export interface GetSide {
  url: string
  probe(): Promise<Answer>
}

async function measure(ctx: BenchContext, phase: GetPhase, label: string, url: string, answerBytes: number) {
  const { options, progress } = ctx
  const durationSec = options.durationSec / options.rounds
  progress.begin(`${phase.id}/${label}`, durationSec + options.warmupSec)
  const r = await runLoad({
    url,
    ...(phase.edge ? { edge: phase.edge } : {}),
    tool: options.loadTool,
    threads: options.wrkThreads,
    answerBytes,
    connections: options.connections,
    durationSec,
    warmupSec: options.warmupSec,
    maxRequests: options.maxRequests,
    sampleEveryMs: 250,
    expectStatus: phase.expectStatus,
    ...(phase.expectMinBytes !== undefined ? { expectMinBytes: phase.expectMinBytes } : {}),
    progress,
  })
  progress.end(phase.summary(r))
  return r
}

/** The combined load results of each contender that was measured. */
export interface GetResults {
  nginx: LoadResult | undefined
  origin: LoadResult | undefined
  bare: LoadResult | undefined
  /** Servers (`nginx`, `liveorigin`, `bare`) whose rounds disagreed ({@link roundSpreadNote}). */
  unsteady: Set<string>
}

const SIDES = [
  ['nginx', 'nginx'],
  ['liveorigin', 'origin'],
  ['bare', 'bare'],
] as const

/**
 * Measures nginx, liveorigin and the bare node reference (each when it runs and its probe
 * succeeds) in rotating rounds; records the combined and per-round results in `details`.
 * Throws when no side could be measured.
 */
export async function compareGets(
  ctx: BenchContext,
  phase: GetPhase,
  sides: { nginx: GetSide | undefined; liveorigin: GetSide | undefined; bare: GetSide | undefined },
  notes: string[],
  details: Record<string, unknown>,
): Promise<GetResults> {
  if (!ctx.origin) notes.push(`liveorigin not measured: ${ctx.originUnavailable ?? 'not running'}`)
  const contenders: Array<Contender<LoadResult>> = []
  for (const [name] of SIDES) {
    const s = sides[name]
    if (!s) continue
    const probe = await side(name, notes, () => s.probe())
    if (probe) {
      contenders.push({
        name,
        measure: (r) => measure(ctx, phase, `${name} #${r + 1}`, s.url, probe.bytes + probe.headerBytes),
      })
    }
  }
  const runs = await alternate(ctx.options.rounds, contenders, notes)
  const results: GetResults = { nginx: undefined, origin: undefined, bare: undefined, unsteady: new Set() }
  for (const [name, key] of SIDES) {
    const rounds = runs[name]
    if (!rounds) continue
    const combined = combineLoads(rounds)
    results[key] = combined
    details[key] = { combined, rounds }
    const spread = roundSpreadNote(
      name,
      'answers/s',
      rounds.map((r) => r.expectedPerSec),
      'req/s',
    )
    if (spread) {
      notes.push(spread)
      results.unsteady.add(name)
    }
  }
  if (!results.nginx && !results.origin && !results.bare)
    throw new Error(notes.join('; ') || 'nothing measured')
  for (const [name, key] of SIDES) {
    const r = results[key]
    if (r && r.requests === 0) notes.push(`${name}: no answer completed in the measured time`)
    if (r && (r.unexpected > 0 || r.short > 0 || r.errors > 0)) {
      notes.push(
        `${name}: ${r.unexpected} answers with another status than ${phase.expectStatus} (${JSON.stringify(r.statusCounts)}; sampled ${JSON.stringify(r.sampled ?? {})}), ${r.short} short bodies, ${r.errors} errors`,
      )
    }
  }
  return results
}

/** A report row of one measure (`pick`) of each side that was measured. */
export function compareRow(
  metric: string,
  unit: Unit,
  results: GetResults,
  pick: (r: LoadResult) => number,
  target?: Target,
): Row {
  const { nginx, origin, bare } = results
  const doubt = ratioDoubt(target, results.unsteady)
  return row({
    metric,
    unit,
    ...(origin ? { origin: pick(origin) } : {}),
    ...(nginx ? { nginx: pick(nginx) } : {}),
    ...(bare ? { bare: pick(bare) } : {}),
    ...(target ? { target } : {}),
    ...(doubt === undefined ? {} : { doubt }),
  })
}
