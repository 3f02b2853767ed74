/**
 * Admission control per request class, driven by measured pressure: event-loop delay,
 * storage latency and storage reads in flight. Pressure is the largest of the three
 * measurements divided by its threshold. DVR reads are refused once pressure reaches 1;
 * live-edge reads only when pressure is still at `liveEdgeFactor` after DVR has been refused
 * for a while. Ingest is never refused by reads: it runs in its own process and admission is
 * not consulted for writes. A class stays refused for a minimum time and is admitted again
 * once pressure falls below 80 % of the level that refused it (so the state does not flap).
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks'
import type { RequestClass } from './classify.js'

export interface AdmissionThresholds {
  eventLoopDelayMs: number
  storageLatencyMs: number
  maxInFlight: number
  liveEdgeFactor: number
}

export interface PressureReading {
  eventLoopDelayMs: number
  storageLatencyMs: number
  inFlight: number
}

/** Operations a latency window needs before its quantiles count. */
const MIN_SAMPLES = 5

/**
 * Sliding record of storage operation latencies, by the time each operation started (the
 * operations started in the last `windowMs`), so that after a class is refused the window
 * soon reflects only what came after.
 */
export class LatencyWindow {
  readonly #samples: Array<{ at: number; ms: number }> = []
  readonly #windowMs: number
  constructor(windowMs = 1000) {
    this.#windowMs = windowMs
  }
  add(ms: number, at = performance.now() - ms): void {
    this.#samples.push({ at, ms })
    if (this.#samples.length > 4096) this.#samples.splice(0, this.#samples.length - 4096)
  }
  /** The `q` quantile of the samples of the last window (0 when there are none). */
  quantile(q: number, at = performance.now()): number {
    const from = at - this.#windowMs
    let i = 0
    while (i < this.#samples.length && this.#samples[i]!.at < from) i++
    if (i > 0) this.#samples.splice(0, i)
    // A handful of operations says nothing about pressure (one slow read on an idle node).
    if (this.#samples.length < MIN_SAMPLES) return 0
    const sorted = this.#samples.map((s) => s.ms).sort((a, b) => a - b)
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
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
  } else if (dvr && !live && pressure < 0.8 && now - dvrSince >= timing.minShedMs) {
    dvr = false
  }
  if (!live && dvr && now - dvrSince >= timing.settleMs && pressure >= liveEdgeFactor) {
    live = true
    liveSince = now
  } else if (live && pressure < 0.8 * liveEdgeFactor && now - liveSince >= timing.minShedMs) {
    live = false
  }
  return { dvr, live, dvrSince, liveSince }
}

export class AdmissionController {
  readonly #thresholds: AdmissionThresholds
  readonly #read: () => { storageLatencyMs: number; inFlight: number }
  readonly #onUpdate: (state: ShedState, reading: PressureReading) => void
  #histogram: IntervalHistogram | undefined
  #timer: NodeJS.Timeout | undefined
  #shed: ShedState = ADMITTED
  #reading: PressureReading = { eventLoopDelayMs: 0, storageLatencyMs: 0, inFlight: 0 }

  constructor(
    thresholds: AdmissionThresholds,
    read: () => { storageLatencyMs: number; inFlight: number },
    onUpdate: (state: ShedState, reading: PressureReading) => void = () => {},
  ) {
    this.#thresholds = thresholds
    this.#read = read
    this.#onUpdate = onUpdate
  }

  /** Starts measuring (every `intervalMs`). */
  start(intervalMs = 100): void {
    this.#histogram = monitorEventLoopDelay({ resolution: 10 })
    this.#histogram.enable()
    let ticks = 0
    this.#timer = setInterval(() => {
      const h = this.#histogram!
      const eld = h.percentile(99) / 1e6
      // The event-loop histogram covers about one second.
      if (++ticks % Math.max(1, Math.round(1000 / intervalMs)) === 0) h.reset()
      this.update({ eventLoopDelayMs: eld, ...this.#read() })
    }, intervalMs)
    this.#timer.unref()
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#histogram?.disable()
  }

  /** Feeds one reading (also used directly by tests). */
  update(reading: PressureReading): void {
    this.#reading = reading
    this.#shed = nextShedState(
      this.#shed,
      pressureOf(reading, this.#thresholds),
      this.#thresholds.liveEdgeFactor,
      Date.now(),
    )
    this.#onUpdate(this.#shed, reading)
  }

  admit(klass: RequestClass): boolean {
    if (klass === 'dvr') return !this.#shed.dvr
    if (klass === 'live') return !this.#shed.live
    return true
  }

  get state(): { dvr: boolean; live: boolean; reading: PressureReading } {
    return { dvr: this.#shed.dvr, live: this.#shed.live, reading: this.#reading }
  }
}
