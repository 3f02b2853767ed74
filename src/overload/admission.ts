/**
 * Admission control per request class, driven by the origin's own pressure: event-loop delay
 * caused by this process's work, read latency (`isReadSample`: storage, or the shared cache
 * tier when it answered) and storage reads in flight. Pressure is the
 * largest of the three measurements divided by its threshold. DVR reads are refused once
 * pressure reaches 1; live-edge reads only when pressure is still at `liveEdgeFactor` after
 * DVR has been refused for a while. Ingest is never refused by reads: it runs in its own
 * process and admission is not consulted for writes; init segments and manifests are never
 * refused either (the delivery handler consults admission for media segments only). A class
 * stays refused for a minimum time and is admitted again once pressure falls below 80 % of
 * the level that refused it (so the state does not flap).
 *
 * Everything here is in-process and deterministic given its inputs: the clock and the
 * event-loop sampler are injected (`AdmissionOptions`); `./event-loop.ts` measures the real
 * process.
 */
import type { RequestClass } from './classify.js'
import { type EventLoopSample, processEventLoop } from './event-loop.js'

export interface AdmissionThresholds {
  eventLoopDelayMs: number
  storageLatencyMs: number
  maxInFlight: number
  liveEdgeFactor: number
  /**
   * DVR segment requests a process serves at once, whatever the pressure; one more is refused
   * at once instead of queueing for storage ahead of live-edge reads, init segments and
   * manifests. Unlimited when unset.
   */
  maxDvrInFlight?: number
}

export interface PressureReading {
  /** Event-loop delay the process's own work accounts for (see `ownEventLoopDelay`). */
  eventLoopDelayMs: number
  storageLatencyMs: number
  inFlight: number
}

/** Storage reads that requests wait for (not `listRecords`: the channels' periodic reload). */
const REQUEST_STORAGE_READS: ReadonlySet<string> = new Set(['list', 'getChunk', 'getRecord'])

/**
 * Whether a finished operation is a sample of the read latency admission watches: the latency
 * of the tier that answered a read a request waits for. A storage read counts whatever its
 * result (a timeout is latency too); a shared cache tier's `get` counts when it found the
 * value, and a miss does not, since the storage read that follows it is the answer's sample.
 * So while the cache tier answers most reads, a slow storage replica does not make live reads
 * look slow: the window holds what the reads really waited for.
 */
export function isReadSample(
  tier: 'storage' | 'cache',
  op: string,
  result: 'ok' | 'miss' | 'error',
): boolean {
  if (tier === 'storage') return REQUEST_STORAGE_READS.has(op)
  return op === 'get' && result === 'ok'
}

/** Operations a latency window needs before its quantiles count. */
export const MIN_SAMPLES = 5

/** Samples a latency window keeps at most (the oldest go first). */
export const MAX_SAMPLES = 4096

/**
 * Sliding record of storage operation latencies, by the time each operation started (the
 * operations started in the last `windowMs`), so that after a class is refused the window
 * soon reflects only what came after.
 */
export class LatencyWindow {
  readonly #samples: Array<{ at: number; ms: number }> = []
  readonly #windowMs: number
  readonly #now: () => number
  constructor(windowMs = 1000, now: () => number = () => performance.now()) {
    this.#windowMs = windowMs
    this.#now = now
  }
  /** Records an operation that took `ms` and started at `at` (default: `ms` before now). */
  add(ms: number, at = this.#now() - ms): void {
    this.#samples.push({ at, ms })
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, splice(0, 0) changes nothing
    if (this.#samples.length > MAX_SAMPLES) this.#samples.splice(0, this.#samples.length - MAX_SAMPLES)
  }
  /** Samples currently kept (after dropping those older than the window at `at`). */
  size(at = this.#now()): number {
    this.#drop(at)
    return this.#samples.length
  }
  /**
   * The `q` quantile (nearest rank; `q` outside [0, 1] is clamped) of the samples of the last window; 0 when
   * it holds fewer than `MIN_SAMPLES`.
   */
  quantile(q: number, at = this.#now()): number {
    this.#drop(at)
    // A handful of operations says nothing about pressure (one slow read on an idle node).
    if (this.#samples.length < MIN_SAMPLES) return 0
    const sorted = this.#samples.map((s) => s.ms).sort((a, b) => a - b)
    // Nearest rank: the smallest value with at least q of the samples at or below it.
    const rank = Math.ceil(q * sorted.length) - 1
    return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!
  }
  #drop(at: number): void {
    const from = at - this.#windowMs
    let i = 0
    while (i < this.#samples.length && this.#samples[i]!.at < from) i++
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, splice(0, 0) changes nothing
    if (i > 0) this.#samples.splice(0, i)
  }
}

/**
 * The part of a measured event-loop delay that the process's own work accounts for: the
 * delay times the share of the time the process was busy, taken as the smaller of its
 * event-loop utilization and its CPU time per wall-clock time (each clamped to [0, 1]).
 * Another program loading the machine delays this process's timers too, but then the
 * process is mostly idle (low utilization) or, when it has work, gets little CPU time for
 * it (low CPU share): either way that delay is not counted.
 */
export function ownEventLoopDelay(s: EventLoopSample): number {
  const busy = Math.min(s.utilization, s.cpu)
  return s.delayMs * Math.min(1, Math.max(0, busy))
}

/**
 * The reading admission uses, from an event-loop sample (none before `start`) and the
 * storage measurements: the event-loop delay the process's own work accounts for, and the
 * storage latency less the event loop's delay over the same time (an operation's measured
 * latency includes the wait for the loop to run its callback; that wait is the loop's, not
 * storage's, and is what another program's load adds).
 */
export function ownReading(
  loop: EventLoopSample | undefined,
  storage: { storageLatencyMs: number; inFlight: number },
): PressureReading {
  if (loop === undefined) return { eventLoopDelayMs: 0, ...storage }
  return {
    eventLoopDelayMs: ownEventLoopDelay(loop),
    storageLatencyMs: Math.max(0, storage.storageLatencyMs - loop.delayMs),
    inFlight: storage.inFlight,
  }
}

/** Pressure from a reading: the largest ratio of measurement to threshold. */
export function pressureOf(r: PressureReading, t: AdmissionThresholds): number {
  return Math.max(
    r.eventLoopDelayMs / t.eventLoopDelayMs,
    r.storageLatencyMs / t.storageLatencyMs,
    r.inFlight / t.maxInFlight,
  )
}

export interface ShedState {
  readonly dvr: boolean
  readonly live: boolean
  /** When DVR (live) shedding began, epoch ms; meaningful while shed. */
  readonly dvrSince: number
  readonly liveSince: number
}

export const ADMITTED: ShedState = { dvr: false, live: false, dvrSince: 0, liveSince: 0 }

export interface ShedTiming {
  /** A class stays shed at least this long once refused (so a class does not flap). */
  readonly minShedMs: number
  /**
   * Live-edge reads are refused only on pressure measured after DVR has been refused this
   * long: DVR reads cause most storage load, and the measurements need time to show that
   * refusing them helped.
   */
  readonly settleMs: number
}

export const DEFAULT_SHED_TIMING: ShedTiming = { minShedMs: 2000, settleMs: 3000 }

/** A class is admitted again below this share of the pressure that refused it. */
export const HYSTERESIS = 0.8

/** Pure state step: which classes are shed after a new pressure value at `now`. */
export function nextShedState(
  current: ShedState,
  pressure: number,
  liveEdgeFactor: number,
  now: number,
  timing: ShedTiming = DEFAULT_SHED_TIMING,
): ShedState {
  let { dvr, live, dvrSince, liveSince } = current
  if (!dvr && pressure >= 1) {
    dvr = true
    dvrSince = now
  } else if (dvr && !live && pressure < HYSTERESIS && now - dvrSince >= timing.minShedMs) {
    // DVR comes back only after live has: the lower class is never admitted above a higher one.
    dvr = false
  }
  if (!live && dvr && now - dvrSince >= timing.settleMs && pressure >= liveEdgeFactor) {
    live = true
    liveSince = now
  } else if (live && pressure < HYSTERESIS * liveEdgeFactor && now - liveSince >= timing.minShedMs) {
    live = false
  }
  return { dvr, live, dvrSince, liveSince }
}

/** Measures the process's event loop; `stop` ends the measurement. */
export interface EventLoopSampler {
  sample(): EventLoopSample
  stop(): void
}

export interface AdmissionOptions {
  /** Clock for shed timing (epoch ms). Default `Date.now`. */
  readonly now?: () => number
  /** Shedding delays. Default `DEFAULT_SHED_TIMING`. */
  readonly timing?: ShedTiming
  /** Event-loop measurement used once started. Default: this process's (`processEventLoop`). */
  readonly eventLoop?: () => EventLoopSampler
}

export class AdmissionController {
  readonly #thresholds: AdmissionThresholds
  readonly #read: () => { storageLatencyMs: number; inFlight: number }
  readonly #onUpdate: (state: ShedState, reading: PressureReading) => void
  readonly #now: () => number
  readonly #timing: ShedTiming
  readonly #eventLoop: () => EventLoopSampler
  #sampler: EventLoopSampler | undefined
  #timer: NodeJS.Timeout | undefined
  #shed: ShedState = ADMITTED
  readonly #maxDvrInFlight: number
  #dvrInFlight = 0
  #reading: PressureReading = { eventLoopDelayMs: 0, storageLatencyMs: 0, inFlight: 0 }

  constructor(
    thresholds: AdmissionThresholds,
    read: () => { storageLatencyMs: number; inFlight: number },
    onUpdate: (state: ShedState, reading: PressureReading) => void = () => {},
    options: AdmissionOptions = {},
  ) {
    this.#thresholds = thresholds
    this.#maxDvrInFlight = thresholds.maxDvrInFlight ?? Number.POSITIVE_INFINITY
    this.#read = read
    this.#onUpdate = onUpdate
    this.#now = options.now ?? Date.now
    this.#timing = options.timing ?? DEFAULT_SHED_TIMING
    this.#eventLoop = options.eventLoop ?? processEventLoop
  }

  /** Starts measuring: one `tick` every `intervalMs`. */
  start(intervalMs = 100): void {
    this.stop()
    this.#sampler = this.#eventLoop()
    this.#timer = setInterval(() => this.tick(), intervalMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#sampler?.stop()
    this.#sampler = undefined
  }

  /** Takes one measurement (event loop, if started, and storage) and updates the state. */
  tick(): void {
    this.update(ownReading(this.#sampler?.sample(), this.#read()))
  }

  /** Feeds one reading. */
  update(reading: PressureReading): void {
    this.#reading = reading
    this.#shed = nextShedState(
      this.#shed,
      pressureOf(reading, this.#thresholds),
      this.#thresholds.liveEdgeFactor,
      this.#now(),
      this.#timing,
    )
    this.#onUpdate(this.#shed, reading)
  }

  /**
   * Whether a request of `klass` is admitted now (ingest always is). A DVR request is also
   * refused while `maxDvrInFlight` DVR requests are in progress: those admitted are counted
   * from `begin('dvr')` to `end('dvr')`.
   */
  admit(klass: RequestClass): boolean {
    if (klass === 'dvr') return !this.#shed.dvr && this.#dvrInFlight < this.#maxDvrInFlight
    if (klass === 'live') return !this.#shed.live
    return true
  }

  /** An admitted DVR request starts (other classes are not counted). */
  begin(klass: RequestClass): void {
    if (klass === 'dvr') this.#dvrInFlight++
  }

  /** An admitted DVR request is over (answered, failed or abandoned). */
  end(klass: RequestClass): void {
    if (klass === 'dvr' && this.#dvrInFlight > 0) this.#dvrInFlight--
  }

  /** DVR requests admitted and not yet over. */
  get dvrInFlight(): number {
    return this.#dvrInFlight
  }

  get state(): { dvr: boolean; live: boolean; reading: PressureReading } {
    return { dvr: this.#shed.dvr, live: this.#shed.live, reading: this.#reading }
  }
}
