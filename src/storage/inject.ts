/**
 * Pressure on purpose (docs/overload.md `storage.inject`): wraps a driver so that every operation
 * waits `latencyMs` on a real timer and at most `maxConcurrent` operations run at once; the
 * rest queue in arrival order. Used for drills and tests of load shedding.
 */

import { setTimeout as sleep } from 'node:timers/promises'
import { wrapDriver } from './instrumented.js'
import type { StorageDriver } from './types.js'

/** Options of `withInjectedPressure`. */
export interface InjectOptions {
  /** Added to every operation, in ms. Default 0. */
  readonly latencyMs?: number
  /** Operations allowed to run at once (added latency included); unlimited when unset. */
  readonly maxConcurrent?: number
}

/** Operations running (holding a slot, added latency included) and waiting for one. */
export interface PressureStats {
  readonly inFlight: number
  readonly queued: number
}

export type PressuredDriver = StorageDriver & { stats(): PressureStats }

const KNOWN = new Set(['latencyMs', 'maxConcurrent'])

/** `driver` with added latency and a concurrency limit on every operation but `close`. */
export function withInjectedPressure(driver: StorageDriver, options: InjectOptions): PressuredDriver {
  if (typeof options !== 'object' || options === null) throw new TypeError('storage.inject must be an object')
  for (const name of Object.keys(options)) {
    if (!KNOWN.has(name)) throw new TypeError(`storage.inject: unknown option ${name}`)
  }
  const latencyMs = options.latencyMs ?? 0
  if (typeof latencyMs !== 'number' || !Number.isFinite(latencyMs) || latencyMs < 0) {
    throw new TypeError('storage.inject: option latencyMs must be a number ≥ 0')
  }
  const maxConcurrent = options.maxConcurrent ?? Number.POSITIVE_INFINITY
  if (
    options.maxConcurrent !== undefined &&
    (typeof options.maxConcurrent !== 'number' || !Number.isSafeInteger(maxConcurrent) || maxConcurrent < 1)
  ) {
    throw new TypeError('storage.inject: option maxConcurrent must be an integer ≥ 1')
  }

  let inFlight = 0
  const waiting: Array<() => void> = []
  const acquire = async () => {
    if (inFlight < maxConcurrent) {
      inFlight++
      return
    }
    // The releasing operation hands its slot over directly, so inFlight never dips.
    await new Promise<void>((resolve) => waiting.push(resolve))
  }
  const release = () => {
    const next = waiting.shift()
    if (next) next()
    else inFlight--
  }

  const wrapped = wrapDriver(driver, async (_op, call) => {
    await acquire()
    try {
      if (latencyMs > 0) await sleep(latencyMs)
      return await call()
    } finally {
      release()
    }
  })
  return Object.assign(wrapped, { stats: (): PressureStats => ({ inFlight, queued: waiting.length }) })
}
