/**
 * Measures this process's event loop for admission control: the delay of its timers (p99),
 * and how much of the time the process itself was busy — event-loop utilization and CPU time
 * per wall-clock time — over the same span, so that delay caused by other programs on the
 * machine can be told from delay caused by the origin's own work (`ownEventLoopDelay`).
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'

/** One measurement over the span since the window last restarted. */
export interface EventLoopSample {
  /**
   * p99 delay of the event loop's timers, ms: the larger of the current window's and the
   * previous window's, so that it covers at least the last `windowMs` (as the storage
   * latency window does).
   */
  readonly delayMs: number
  /** Event-loop utilization: share of the time the loop was running callbacks, 0..1. */
  readonly utilization: number
  /** CPU time the process used (user + system) per wall-clock time (above 1 with threads). */
  readonly cpu: number
}

/**
 * The live measurement of this process. Utilization and CPU cover the time since the window
 * last restarted; the window restarts (after the sample) once it spans `windowMs`.
 */
export function processEventLoop(windowMs = 1000): { sample(): EventLoopSample; stop(): void } {
  const histogram = monitorEventLoopDelay({ resolution: 10 })
  histogram.enable()
  let since = performance.now()
  let elu = performance.eventLoopUtilization()
  let cpu = process.cpuUsage()
  let previousDelayMs = 0
  return {
    sample() {
      const now = performance.now()
      const wallUs = Math.max(1, (now - since) * 1000)
      const used = process.cpuUsage(cpu)
      const delayMs = histogram.count > 0 ? histogram.percentile(99) / 1e6 : 0
      const s: EventLoopSample = {
        delayMs: Math.max(delayMs, previousDelayMs),
        utilization: performance.eventLoopUtilization(elu).utilization,
        cpu: (used.user + used.system) / wallUs,
      }
      if (now - since >= windowMs) {
        histogram.reset()
        previousDelayMs = delayMs
        since = now
        elu = performance.eventLoopUtilization()
        cpu = process.cpuUsage()
      }
      return s
    },
    stop() {
      histogram.disable()
    },
  }
}
