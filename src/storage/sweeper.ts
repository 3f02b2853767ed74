/**
 * Periodic expiry for drivers whose records do not expire by themselves (`nativeTtl` false,
 * e.g. the embedded store): calls `driver.sweep(now())` every `intervalMs`, one sweep at a
 * time, so that segments older than their DVR window (plus margin) leave the disk instead of
 * staying forever. Runs in the process that owns writes (the ingest role).
 */
import type { StorageDriver } from './types.js'

/** What one sweep did: records removed and how long it took, or the error it failed with. */
export type SweepOutcome =
  | { readonly removed: number; readonly durationMs: number }
  | { readonly error: unknown; readonly durationMs: number }

/**
 * Starts sweeping `driver` every `intervalMs` with the time `now()` (epoch ms, the clock the
 * objects' `expiresAt` were computed with). A failed sweep is reported and retried at the
 * next interval. The timer does not keep the process alive. Returns `stop`, which cancels the
 * next sweep and resolves once a sweep in progress has finished (call it before closing the
 * driver).
 */
export function startSweeper(
  driver: StorageDriver,
  intervalMs: number,
  now: () => number,
  onSwept: (outcome: SweepOutcome) => void = () => {},
): () => Promise<void> {
  if (!Number.isSafeInteger(intervalMs) || intervalMs <= 0) {
    throw new TypeError('startSweeper: intervalMs must be a positive integer')
  }
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined

  const sweepOnce = async (): Promise<void> => {
    const started = performance.now()
    try {
      const removed = await driver.sweep(now())
      onSwept({ removed, durationMs: performance.now() - started })
    } catch (error) {
      onSwept({ error, durationMs: performance.now() - started })
    }
  }
  const schedule = () => {
    if (stopped) return
    timer = setTimeout(() => {
      timer = undefined
      running = sweepOnce().finally(() => {
        running = undefined
        schedule()
      })
    }, intervalMs)
    timer.unref()
  }
  schedule()

  return async () => {
    stopped = true
    if (timer) clearTimeout(timer)
    timer = undefined
    await running
  }
}
