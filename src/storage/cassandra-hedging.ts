/**
 * Hedging (speculative execution) for the `cassandra` storage driver: when a statement of a
 * profile has not answered after the profile's hedge delay, the driver also sends it to the
 * next coordinator and takes the first answer (docs/running-at-scale.md#driver-profiles-a-slow-replica-is-not-waited-for).
 */
import type cassandra from 'cassandra-driver'
import type { CassandraProfileName } from './cassandra-options.js'

/** Latencies kept per profile. */
const RECENT = 512
/** Latencies needed before their p99 counts: until then the floor is the delay. */
const MIN_RECENT = 20

/** The 99th percentile (nearest rank) of `samples`, or 0 with fewer than `MIN_RECENT`. */
export function p99(samples: readonly number[]): number {
  if (samples.length < MIN_RECENT) return 0
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]!
}

/**
 * When to hedge the statements of one profile: after the 99th percentile of the profile's
 * last 512 latencies, never sooner than the profile's `hedgeAfterMs` and never later
 * than half its timeout. A stalled coordinator makes a few statements slow, which the p99 of
 * hundreds does not notice, so they are hedged after the floor; a ring slow everywhere (an
 * overloaded one) raises the p99, so statements are not all sent twice for nothing, which
 * would only add to its load.
 */
export class HedgeDelay {
  readonly #recent: number[] = []
  #next = 0
  readonly #floor: number
  readonly #ceiling: number
  #delay: number
  #at = Number.NEGATIVE_INFINITY
  constructor(floor: number, timeoutMs: number) {
    this.#floor = floor
    this.#ceiling = Math.max(floor, Math.floor(timeoutMs / 2))
    this.#delay = floor
  }
  /** A statement of the profile answered after `ms`. */
  record(ms: number): void {
    this.#recent[this.#next] = ms
    this.#next = (this.#next + 1) % RECENT
  }
  /** The current delay (recomputed at most every 100 ms: the quantile sorts the window). */
  get(): number {
    const now = performance.now()
    if (now - this.#at >= 100) {
      this.#at = now
      this.#delay = Math.min(this.#ceiling, Math.max(this.#floor, p99(this.#recent)))
    }
    return this.#delay
  }
}

export type HedgeDelays = Record<CassandraProfileName, HedgeDelay>

/**
 * Hedges the statements that have a profile, after that profile's delay (`HedgeDelay`): a
 * coordinator that stalls (a GC pause, a hung disk) then costs one delay, and the next
 * coordinator answers. Writes too, since every statement is idempotent and a quorum of 3 does
 * not need the stalled node. The driver only hedges statements marked idempotent.
 */
export class ProfileHedgingPolicy
  implements cassandra.policies.speculativeExecution.SpeculativeExecutionPolicy
{
  readonly #profiles: ReadonlyMap<string, CassandraProfileName>
  readonly #delays: HedgeDelays
  readonly #max: number
  constructor(profiles: ReadonlyMap<string, CassandraProfileName>, delays: HedgeDelays, max: number) {
    this.#profiles = profiles
    this.#delays = delays
    this.#max = max
  }
  init(): void {}
  shutdown(): void {}
  getOptions(): Map<string, object> {
    return new Map()
  }
  newPlan(_keyspace: string, query: string | object[]): { nextExecution: () => number } {
    const profile = typeof query === 'string' ? this.#profiles.get(query) : undefined
    if (profile === undefined || this.#max === 0) return { nextExecution: () => -1 }
    const delay = this.#delays[profile].get()
    let executions = 0
    return { nextExecution: () => (executions++ < this.#max ? delay : -1) }
  }
}
