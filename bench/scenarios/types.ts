/**
 * The contract between `bench/run.ts` and each scenario module: a scenario gets the running
 * servers and shared settings, measures, and returns rows for the report.
 */
import type { BenchOptions } from '../lib/args.js'
import type { BareServer } from '../lib/bare.js'
import type { NginxServer } from '../lib/nginx.js'
import type { OriginServer } from '../lib/origin.js'
import type { ProgressLine } from '../lib/progress.js'
import type { Row, Target } from '../lib/report.js'
import type { MediaFixture } from '../lib/segment.js'

/** What every scenario may use. */
export interface BenchContext {
  readonly options: BenchOptions
  readonly progress: ProgressLine
  /** The 2 MiB fMP4 segment and its init segment. */
  readonly media: MediaFixture
  /** The nginx baseline, when it is running. */
  readonly nginx: NginxServer | undefined
  /** The bare node:http reference, when it is running. */
  readonly bare: BareServer | undefined
  /** The origin under test, when it is running. */
  readonly origin: OriginServer | undefined
  /** Why there is no origin (not built yet, failed to start…). */
  readonly originUnavailable: string | undefined
  /** Starts an additional origin with the common args plus `extraArgs`; the caller stops it. */
  startOrigin(extraArgs: readonly string[]): Promise<OriginServer>
  /**
   * Restarts the main origin on the same data directory (a fresh process: empty in-process
   * caches, same stored objects) and returns the new one.
   */
  restartOrigin(): Promise<OriginServer>
  /** Milliseconds since the epoch (the origin's timing uses wall-clock time). */
  now(): number
}

export interface ScenarioOutcome {
  rows: Row[]
  details: Record<string, unknown>
  notes: string[]
  /** Why nothing was measured (e.g. no Cassandra ring given). */
  skipped?: string
}

export interface Scenario {
  /** Id used by `--only`. */
  readonly id: string
  readonly title: string
  /** The docs/benchmarks.md target this measures, in words. */
  readonly spec: string
  /** Whether the scenario measures nginx and bare node too (otherwise it is origin-only). */
  readonly baseline: boolean
  /** Whether an origin-only scenario measures bare node too (nginx has no equivalent). */
  readonly bareReference?: boolean
  /** Whether an origin-only scenario loads nginx and bare node as the origin's neighbours. */
  readonly neighbours?: boolean
  /** Why the scenario cannot run on this machine (e.g. no Cassandra ring given): it is reported skipped. */
  readonly unavailable?: () => string | undefined
  run(ctx: BenchContext): Promise<ScenarioOutcome>
}

/** Header that names the pipeline in open ingest mode (docs/protocol.md#ingest). */
export const PIPELINE_HEADERS = { 'pipeline-id': 'east' } as const

/**
 * Runs one side of a comparison (nginx, bare node or liveorigin). A failure becomes a note, so that the
 * other side's numbers are still reported.
 */
export async function side<T>(name: string, notes: string[], fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn()
  } catch (err) {
    notes.push(`${name} failed: ${(err as Error).message.split('\n')[0]}`)
    return undefined
  }
}

/** One server measured by a comparison scenario. */
export interface Contender<T> {
  /** `bare-file`: bare node writing each PUT's body to a file as it arrives (`put` only). */
  name: 'nginx' | 'liveorigin' | 'bare' | 'bare-file'
  /** Measures one round (0-based). */
  measure: (round: number) => Promise<T>
}

/** Contenders as reports name them (`nginx` and `liveorigin` as they are). */
export const CONTENDER_LABELS: Readonly<Record<string, string>> = {
  bare: 'bare node',
  'bare-file': 'bare node writing to a file',
}

/**
 * Measures the contenders in `rounds` rounds, rotating the order by one each round (nginx,
 * liveorigin, bare; then liveorigin, bare, nginx; then bare, nginx, liveorigin; with two
 * contenders: they alternate), so that every contender takes every place in turn and a change
 * in the shared machine's background load during the scenario does not favour one of them. A
 * contender that fails is dropped with a note; the others go on. `beforeEach` runs before every
 * contender's round. Returns each contender's results by name.
 */
export async function alternate<T>(
  rounds: number,
  contenders: ReadonlyArray<Contender<T>>,
  notes: string[],
  beforeEach?: () => Promise<unknown>,
): Promise<Partial<Record<Contender<T>['name'], T[]>>> {
  const out: Partial<Record<Contender<T>['name'], T[]>> = {}
  const failed = new Set<string>()
  for (let round = 0; round < rounds; round++) {
    const k = contenders.length === 0 ? 0 : round % contenders.length
    const order = [...contenders.slice(k), ...contenders.slice(0, k)]
    for (const c of order) {
      if (failed.has(c.name)) continue
      await beforeEach?.()
      const r = await side(c.name, notes, () => c.measure(round))
      if (r === undefined) {
        failed.add(c.name)
        continue
      }
      const list = out[c.name] ?? []
      list.push(r)
      out[c.name] = list
    }
  }
  for (const name of failed) delete out[name as Contender<T>['name']]
  return out
}

/**
 * Beyond this factor between one server's best and worst round of a scenario, the machine's
 * speed changed while it ran (docs/benchmarks.md#reading-the-numbers).
 */
export const ROUND_SPREAD_LIMIT = 2

/**
 * A note when one server's rounds of a scenario disagree by more than {@link ROUND_SPREAD_LIMIT}
 * × (`values`: its `what` in each round, in `unit`): the ratios of such a scenario say less than
 * they seem, since the rotation spreads a change of speed over the servers only on average.
 */
export function roundSpreadNote(
  name: string,
  what: string,
  values: readonly number[],
  unit: string,
): string | undefined {
  if (values.length < 2) return undefined
  const lo = Math.min(...values)
  const hi = Math.max(...values)
  if (!(lo > 0) || hi / lo <= ROUND_SPREAD_LIMIT) return undefined
  const shown = values.map((v) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(3)))
  return `${name}: ${what} ${(hi / lo).toFixed(1)} × apart between rounds (${shown.join(', ')} ${unit}): the machine's speed changed during the scenario; compare its ratios with another run`
}

/**
 * The `doubt` of a row whose target compares servers (`ratio`: liveorigin and nginx;
 * `ratioBare`: liveorigin and bare node) when one of them is in `unsteady` (its rounds
 * disagreed, {@link roundSpreadNote}); undefined otherwise.
 */
export function ratioDoubt(target: Target | undefined, unsteady: ReadonlySet<string>): string | undefined {
  if (!target || target.on === 'origin') return undefined
  const compared = target.on === 'ratio' ? ['liveorigin', 'nginx'] : ['liveorigin', 'bare']
  const off = compared.filter((name) => unsteady.has(name)).map((name) => CONTENDER_LABELS[name] ?? name)
  return off.length === 0 ? undefined : `the rounds of ${off.join(' and ')} disagree`
}
