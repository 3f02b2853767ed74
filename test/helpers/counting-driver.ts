/** Wraps a real storage driver and counts the reads that reach it (candidate listings, chunk reads). */
import type { StorageDriver } from '../../src/storage/types.js'

export interface ReadCounts {
  list: number
  getChunk: number
}

export function countingDriver(driver: StorageDriver, counts: ReadCounts): StorageDriver {
  return new Proxy(driver, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver)
      if (prop === 'list' || prop === 'getChunk') {
        return (...args: unknown[]) => {
          counts[prop]++
          return (v as (...a: unknown[]) => unknown).apply(target, args)
        }
      }
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
}
