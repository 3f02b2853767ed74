/**
 * The in-process cache tier: a least-recently-used map bounded in bytes, with a lifetime per
 * entry. `ByteLru` is the generic structure (any value, caller-supplied size), synchronous,
 * for hot paths such as parsed candidate lists; `createMemoryCache` is the `CacheStore` of
 * object bytes built on it. Every operation is O(1): a `Map` finds entries, a doubly linked
 * list keeps them in recency order. (Evicting through a `Map`'s own insertion order is not
 * O(1) in V8: its iterator walks over the tombstones that deletions at the front leave.)
 */

import type { CacheStore } from './types.js'

/** Options of a `ByteLru`. */
export interface ByteLruOptions<V> {
  /** Upper bound of the sum of entry sizes. 0 caches nothing. */
  readonly maxBytes: number
  /** Size an entry is charged, in bytes (e.g. value bytes plus key length). */
  readonly sizeOf: (value: V, key: string) => number
  /** Clock for lifetimes (epoch ms). Default `Date.now`. */
  readonly now?: () => number
}

interface Entry<V> {
  key: string
  value: V
  bytes: number
  expiresAt: number
  older: Entry<V> | undefined
  newer: Entry<V> | undefined
}

/** A least-recently-used map bounded in bytes, with a lifetime per entry. */
export class ByteLru<V> {
  readonly maxBytes: number
  readonly #sizeOf: (value: V, key: string) => number
  readonly #now: () => number
  readonly #map = new Map<string, Entry<V>>()
  /** Least recently used end of the recency list. */
  #oldest: Entry<V> | undefined
  /** Most recently used end. */
  #newest: Entry<V> | undefined
  #bytes = 0

  constructor(options: ByteLruOptions<V>) {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 0) {
      throw new TypeError('ByteLru: option maxBytes must be an integer ≥ 0')
    }
    if (typeof options.sizeOf !== 'function') throw new TypeError('ByteLru: option sizeOf must be a function')
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new TypeError('ByteLru: option now must be a function')
    }
    this.maxBytes = options.maxBytes
    this.#sizeOf = options.sizeOf
    this.#now = options.now ?? Date.now
  }

  /** The live value of `key`, marking it most recently used. */
  get(key: string): V | undefined {
    const entry = this.#live(key)
    if (!entry) return undefined
    if (entry !== this.#newest) {
      this.#unlink(entry)
      this.#append(entry)
    }
    return entry.value
  }

  /** The live value of `key`, leaving its recency alone. */
  peek(key: string): V | undefined {
    return this.#live(key)?.value
  }

  has(key: string): boolean {
    return this.#live(key) !== undefined
  }

  /** Milliseconds `key` has left to live, or undefined when it is absent or expired. */
  lifetimeLeft(key: string): number | undefined {
    const entry = this.#live(key)
    return entry && entry.expiresAt - this.#now()
  }

  /**
   * Store `value` for `ttlMs` (default: until evicted), evicting least recently used entries
   * to make room. Returns false, and drops any older value of `key`, when the entry cannot be
   * kept: a lifetime ≤ 0 or a size above `maxBytes`.
   */
  set(key: string, value: V, ttlMs = Number.POSITIVE_INFINITY): boolean {
    this.delete(key)
    const bytes = this.#sizeOf(value, key)
    if (!(ttlMs > 0) || !(bytes <= this.maxBytes)) return false
    while (this.#oldest && this.#bytes + bytes > this.maxBytes) this.#remove(this.#oldest)
    const entry: Entry<V> = {
      key,
      value,
      bytes,
      expiresAt: this.#now() + ttlMs,
      older: undefined,
      newer: undefined,
    }
    this.#map.set(key, entry)
    this.#append(entry)
    this.#bytes += bytes
    return true
  }

  delete(key: string): boolean {
    const entry = this.#map.get(key)
    if (!entry) return false
    this.#remove(entry)
    return true
  }

  clear(): void {
    this.#map.clear()
    this.#oldest = undefined
    this.#newest = undefined
    this.#bytes = 0
  }

  /** Sum of the sizes of the entries held (expired ones included until they are touched or evicted). */
  bytes(): number {
    return this.#bytes
  }

  /** Number of entries held. */
  get size(): number {
    return this.#map.size
  }

  /** Keys from least to most recently used. */
  *keys(): IterableIterator<string> {
    for (let e = this.#oldest; e; e = e.newer) yield e.key
  }

  #live(key: string): Entry<V> | undefined {
    const entry = this.#map.get(key)
    if (!entry) return undefined
    if (entry.expiresAt <= this.#now()) {
      this.#remove(entry)
      return undefined
    }
    return entry
  }

  #remove(entry: Entry<V>): void {
    this.#map.delete(entry.key)
    this.#unlink(entry)
    this.#bytes -= entry.bytes
  }

  #unlink(entry: Entry<V>): void {
    if (entry.older) entry.older.newer = entry.newer
    else this.#oldest = entry.newer
    if (entry.newer) entry.newer.older = entry.older
    else this.#newest = entry.older
    entry.older = undefined
    entry.newer = undefined
  }

  #append(entry: Entry<V>): void {
    entry.older = this.#newest
    if (this.#newest) this.#newest.newer = entry
    else this.#oldest = entry
    this.#newest = entry
  }
}

/** Options of `createMemoryCache`. */
export interface MemoryCacheOptions {
  /** Upper bound of value bytes plus key lengths held. 0 disables the cache. */
  readonly maxBytes: number
  /** Clock for lifetimes (epoch ms). Default `Date.now`. */
  readonly now?: () => number
}

/** The memory tier: a `CacheStore` with synchronous access for the delivery hot path. */
export interface MemoryCache extends CacheStore {
  /** Synchronous `get`: marks the entry most recently used. */
  getSync(key: string): Buffer | undefined
  /** The value without touching its recency. */
  peek(key: string): Buffer | undefined
  /** Synchronous `set`; false when the value cannot be kept (too large, lifetime ≤ 0). */
  setSync(key: string, value: Uint8Array, ttlMs: number): boolean
  /** Bytes charged: value bytes plus key lengths. Never above `maxBytes`. */
  bytes(): number
  /** Entries held. */
  entries(): number
  clear(): void
}

const KNOWN = new Set(['maxBytes', 'now'])
/** Keep a view only when it does not pin much more memory than it shows. */
const MAX_PINNED_SLACK = 4096

/**
 * A memory cache bounded in bytes. Values are kept by reference (a view pinning a much
 * larger buffer is copied first, so the byte bound stays honest): callers must not modify a
 * buffer after `set`, nor one returned by `get`.
 */
export function createMemoryCache(options: MemoryCacheOptions): MemoryCache {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('memory cache: options must be an object')
  for (const name of Object.keys(options)) {
    if (!KNOWN.has(name)) throw new TypeError(`memory cache: unknown option ${name}`)
  }
  if (
    typeof options.maxBytes !== 'number' ||
    !Number.isSafeInteger(options.maxBytes) ||
    options.maxBytes < 0
  ) {
    throw new TypeError('memory cache: option maxBytes must be an integer ≥ 0')
  }
  const lru = new ByteLru<Buffer>({
    maxBytes: options.maxBytes,
    sizeOf: (value, key) => value.byteLength + key.length,
    ...(options.now ? { now: options.now } : {}),
  })
  const setSync = (key: string, value: Uint8Array, ttlMs: number): boolean => {
    const view =
      value.buffer.byteLength > value.byteLength + MAX_PINNED_SLACK
        ? Buffer.from(value)
        : Buffer.isBuffer(value)
          ? value
          : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    return lru.set(key, view, ttlMs)
  }
  return {
    name: 'memory',
    async get(key) {
      return lru.get(key)
    },
    async set(key, value, ttlMs) {
      setSync(key, value, ttlMs)
    },
    async delete(key) {
      lru.delete(key)
    },
    // Logs (`CacheStore.appendLog`): one process, so an append is a read and a write in one step.
    async appendLog(key, record, ttlMs, opening) {
      const k = `~l/${key}`
      const left = lru.lifetimeLeft(k)
      const old = left === undefined ? undefined : lru.peek(k)
      if (old) setSync(k, Buffer.concat([old, record]), left!)
      else setSync(k, Buffer.concat(opening ? [opening, record] : [record]), ttlMs)
      return !old
    },
    async extendLog(key, record) {
      const k = `~l/${key}`
      const left = lru.lifetimeLeft(k)
      const old = left === undefined ? undefined : lru.peek(k)
      if (old) setSync(k, Buffer.concat([old, record]), left!)
    },
    async getLog(key) {
      return lru.get(`~l/${key}`)
    },
    async close() {
      lru.clear()
    },
    getSync: (key) => lru.get(key),
    peek: (key) => lru.peek(key),
    setSync,
    bytes: () => lru.bytes(),
    entries: () => lru.size,
    clear: () => lru.clear(),
  }
}
