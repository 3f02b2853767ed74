/**
 * Measuring wrappers for storage drivers and cache tiers. Every operation reports its driver,
 * name, result and duration to an `observe` callback (the process wires it to metrics);
 * drivers themselves neither log nor count (STYLE.md). `wrapDriver` is the shared plumbing:
 * one function around every driver operation.
 */

import type { CacheStore } from '../cache/types.js'
import type { StorageDriver } from './types.js'

/** The operations of a `StorageDriver` (everything but `close`). */
export type DriverOp =
  | 'putChunk'
  | 'getChunk'
  | 'deleteChunks'
  | 'commit'
  | 'list'
  | 'remove'
  | 'putRecord'
  | 'getRecord'
  | 'listRecords'
  | 'deleteRecord'
  | 'sweep'
  | 'extend'
  | 'ping'

/** One finished operation. `miss`: a read found nothing (undefined, or an empty listing). */
export interface OperationEvent {
  readonly driver: string
  readonly op: string
  readonly result: 'ok' | 'error' | 'miss'
  readonly durationMs: number
}

/** Runs one driver operation; may add behaviour before, after or around it. */
export type AroundOperation = <T>(op: DriverOp, call: () => Promise<T>) => Promise<T>

/**
 * A driver whose every operation (but `close`) goes through `around`. Name and capabilities
 * are those of the wrapped driver.
 */
export function wrapDriver(driver: StorageDriver, around: AroundOperation): StorageDriver {
  return {
    name: driver.name,
    capabilities: driver.capabilities,
    putChunk: (token, index, data, expiresAt) =>
      around('putChunk', () => driver.putChunk(token, index, data, expiresAt)),
    getChunk: (token, index) => around('getChunk', () => driver.getChunk(token, index)),
    deleteChunks: (token, count) => around('deleteChunks', () => driver.deleteChunks(token, count)),
    commit: (meta, options) => around('commit', () => driver.commit(meta, options)),
    extend: (meta, expiresAt) => around('extend', () => driver.extend(meta, expiresAt)),
    list: (channel, path) => around('list', () => driver.list(channel, path)),
    remove: (key) => around('remove', () => driver.remove(key)),
    putRecord: (namespace, id, value, expiresAt) =>
      around('putRecord', () => driver.putRecord(namespace, id, value, expiresAt)),
    getRecord: <T>(namespace: string, id: string) =>
      around('getRecord', () => driver.getRecord<T>(namespace, id)),
    listRecords: <T>(namespace: string) => around('listRecords', () => driver.listRecords<T>(namespace)),
    deleteRecord: (namespace, id) => around('deleteRecord', () => driver.deleteRecord(namespace, id)),
    sweep: (now) => around('sweep', () => driver.sweep(now)),
    ping: () => around('ping', () => driver.ping()),
    close: () => driver.close(),
  }
}

const MISS_WHEN_EMPTY: ReadonlySet<string> = new Set([
  'getChunk',
  'getRecord',
  'remove',
  'list',
  'get',
  'getLocal',
  'getLog',
  'getLogLocal',
])

function resultOf(op: string, value: unknown): 'ok' | 'miss' {
  if (!MISS_WHEN_EMPTY.has(op)) return 'ok'
  if (value === undefined) return 'miss'
  return Array.isArray(value) && value.length === 0 ? 'miss' : 'ok'
}

function timed(name: string, observe: (e: OperationEvent) => void) {
  const report = (op: string, result: OperationEvent['result'], start: number) => {
    try {
      observe({ driver: name, op, result, durationMs: performance.now() - start })
    } catch {
      // A broken observer must not fail the storage operation it watched.
    }
  }
  return async <T>(op: string, call: () => Promise<T>): Promise<T> => {
    const start = performance.now()
    try {
      const value = await call()
      report(op, resultOf(op, value), start)
      return value
    } catch (error) {
      report(op, 'error', start)
      throw error
    }
  }
}

/** A driver that reports every operation to `observe`. */
export function instrumentDriver(driver: StorageDriver, observe: (e: OperationEvent) => void): StorageDriver {
  return wrapDriver(driver, timed(driver.name, observe))
}

/**
 * A cache tier that reports every `get`, `getLocal`, `set`, `delete`, `appendLog`, `extendLog` and `getLog`
 * (`getLogLocal` when local only) to `observe` (`driver` = tier name).
 */
export function instrumentCache(cache: CacheStore, observe: (e: OperationEvent) => void): CacheStore {
  const run = timed(cache.name, observe)
  return {
    name: cache.name,
    get: (key) => run('get', () => cache.get(key)),
    ...(cache.getLocal ? { getLocal: (key: string) => run('getLocal', () => cache.getLocal!(key)) } : {}),
    set: (key, value, ttlMs) => run('set', () => cache.set(key, value, ttlMs)),
    ...(cache.appendLog
      ? {
          appendLog: (key: string, record: Uint8Array, ttlMs: number, opening?: Uint8Array) =>
            run('appendLog', () => cache.appendLog!(key, record, ttlMs, opening)),
        }
      : {}),
    ...(cache.extendLog
      ? {
          extendLog: (key: string, record: Uint8Array) =>
            run('extendLog', () => cache.extendLog!(key, record)),
        }
      : {}),
    ...(cache.getLog
      ? {
          getLog: (key: string, localOnly?: boolean) =>
            run(localOnly ? 'getLogLocal' : 'getLog', () => cache.getLog!(key, localOnly)),
        }
      : {}),
    delete: (key) => run('delete', () => cache.delete(key)),
    close: () => cache.close(),
  }
}
