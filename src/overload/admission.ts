/**
 * Admission control per request class, driven by measured pressure: event-loop delay,
 * storage latency and storage reads in flight. Pressure is the largest of the three
 * measurements divided by its threshold. DVR reads are refused once pressure reaches 1;
 * live-edge reads only once it reaches `liveEdgeFactor` (DVR is refused by then). Ingest is
 * never refused by reads: ingest runs in its own process and its own admission is not
 * consulted for writes. A class is admitted again when pressure falls below 80 % of the
 * level that refused it (hysteresis, so the state does not flap).
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

/** Sliding record of storage operation latencies (the last `windowMs`). */
export class LatencyWindow {
  readonly #samples: Array<{ at: number; ms: number }> = []
  readonly #windowMs: number
  constructor(windowMs = 1000) {
    this.#windowMs = windowMs
  }
  add(ms: number, at = performance.now()): void {
    this.#samples.push({ at, ms })
    if (this.#samples.length > 4096) this.#samples.splice(0, this.#samples.length - 4096)
  }
  /** The `q` quantile of the samples of the last window (0 when there are none). */
  quantile(q: number, at = performance.now()): number {
    const from = at - this.#windowMs
    let i = 0
    while (i < this.#samples.length && this.#samples[i]!.at < from) i++
    if (i > 0) this.#samples.splice(0, i)
    if (this.#samples.length === 0) return 0
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

/** Pure state step: which classes are shed after a new pressure value. */
export function nextShedState(
  current: { dvr: boolean; live: boolean },
  pressure: number,
  liveEdgeFactor: number,
): { dvr: boolean; live: boolean } {
  const dvr = current.dvr ? pressure >= 0.8 : pressure >= 1
  const live = current.live ? pressure >= 0.8 * liveEdgeFactor : dvr && pressure >= liveEdgeFactor
  return { dvr, live: live && dvr }
}

export class AdmissionController {
  readonly #thresholds: AdmissionThresholds
  readonly #read: () => { storageLatencyMs: number; inFlight: number }
  readonly #onUpdate: (state: { dvr: boolean; live: boolean }, reading: PressureReading) => void
  #histogram: IntervalHistogram | undefined
  #timer: NodeJS.Timeout | undefined
  #shed = { dvr: false, live: false }
  #reading: PressureReading = { eventLoopDelayMs: 0, storageLatencyMs: 0, inFlight: 0 }

  constructor(
    thresholds: AdmissionThresholds,
    read: () => { storageLatencyMs: number; inFlight: number },
    onUpdate: (state: { dvr: boolean; live: boolean }, reading: PressureReading) => void = () => {},
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
    )
    this.#onUpdate(this.#shed, reading)
  }

  admit(klass: RequestClass): boolean {
    if (klass === 'dvr') return !this.#shed.dvr
    if (klass === 'live') return !this.#shed.live
    return true
  }

  get state(): { dvr: boolean; live: boolean; reading: PressureReading } {
    return { ...this.#shed, reading: this.#reading }
  }
}
