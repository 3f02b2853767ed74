/**
 * Rate-limited logging of shed requests: under a storm thousands of requests a second are
 * refused, and one log line each would add to the pressure. The first refusal of a class is
 * logged at once; later ones are counted and logged as one `warn` line per class at most
 * every `intervalMs`, with the number refused since the previous line. A count left when
 * refusals stop is logged when its interval ends.
 */
import type { RequestClass } from './classify.js'

/** The logger method used (pino's `warn` signature). */
export interface ShedLogger {
  warn(obj: Record<string, unknown>, msg: string): void
}

export interface ShedLogOptions {
  /** At most one line per class per this many ms. Default 1000. */
  readonly intervalMs?: number
  /** Monotonic clock, ms. Default `performance.now`. */
  readonly now?: () => number
}

interface ClassState {
  /** Refusals not logged yet. */
  pending: number
  /** When the last line was written. */
  lastAt: number
  timer: NodeJS.Timeout | undefined
  /** Context of the latest refusal, written with the next line. */
  context: Record<string, unknown>
}

export class ShedLog {
  readonly #log: ShedLogger
  readonly #intervalMs: number
  readonly #now: () => number
  readonly #classes = new Map<RequestClass, ClassState>()

  constructor(log: ShedLogger, options: ShedLogOptions = {}) {
    this.#log = log
    this.#intervalMs = options.intervalMs ?? 1000
    this.#now = options.now ?? (() => performance.now())
  }

  /** Records one refused request of `klass`; `context` (e.g. the pressure reading) goes with the line. */
  shed(klass: RequestClass, context: Record<string, unknown> = {}): void {
    let c = this.#classes.get(klass)
    if (c === undefined) {
      c = { pending: 0, lastAt: Number.NEGATIVE_INFINITY, timer: undefined, context }
      this.#classes.set(klass, c)
    }
    c.pending++
    c.context = context
    const waited = this.#now() - c.lastAt
    if (waited >= this.#intervalMs) {
      this.#write(klass, c)
      return
    }
    if (c.timer === undefined) this.#arm(klass, c, this.#intervalMs - waited)
  }

  /**
   * Writes the pending count once the interval has passed on this log's clock. Timers may
   * fire a fraction of a millisecond early against `performance.now`: then the timer is set
   * again for what is left, so that lines are never closer than `intervalMs`.
   */
  #arm(klass: RequestClass, c: ClassState, delayMs: number): void {
    c.timer = setTimeout(() => {
      const left = this.#intervalMs - (this.#now() - c.lastAt)
      if (left > 0) this.#arm(klass, c, left)
      else this.#write(klass, c)
    }, Math.ceil(delayMs))
    c.timer.unref()
  }

  /** Writes every pending count now and stops the timers. */
  flush(): void {
    for (const [klass, c] of this.#classes) if (c.pending > 0) this.#write(klass, c)
  }

  #write(klass: RequestClass, c: ClassState): void {
    clearTimeout(c.timer)
    c.timer = undefined
    const now = this.#now()
    this.#log.warn(
      {
        ...c.context,
        class: klass,
        shed: c.pending,
        sinceMs: Number.isFinite(c.lastAt) ? now - c.lastAt : null,
      },
      'requests shed under pressure',
    )
    c.pending = 0
    c.lastAt = now
  }
}
