/**
 * The read path: candidates (every pipeline's commit record of an object) and bodies, from
 * the in-process memory cache, then the shared cache tier (memcached, when configured),
 * then storage. Concurrent reads of one object on one process share one storage read
 * (single flight). Bodies are cached by upload token, which never changes meaning, so a
 * cached body can never be stale; candidate lists are always read from the shared tier or
 * storage so that a reader sees every acknowledged write.
 */

import { SingleFlight } from '../cache/single-flight.js'
import type { CacheStore } from '../cache/types.js'
import { type CountTally, type Metrics, tallyOf } from '../observability/metrics.js'
import type { ObjectStore } from '../storage/object-store.js'
import type { ObjectMeta } from '../storage/types.js'

export interface MemoryTier {
  peek(key: string): Buffer | undefined
  set(key: string, value: Uint8Array, ttlMs: number): Promise<void>
  delete(key: string): Promise<void>
}

export interface ReaderOptions {
  /** Bodies larger than this are streamed from storage and not cached in memory. */
  maxCachedObjectBytes: number
}

const RECENT_LISTS = 10_000
/** Lifetime of a candidate list in the shared cache tier. */
const SHARED_LIST_TTL_MS = 30_000

export function candidatesKey(channel: string, path: string): string {
  return `c:${channel}/${path}`
}

export function bodyKey(token: string): string {
  return `b:${token}`
}

export class ObjectReader {
  readonly #store: ObjectStore
  readonly #memory: MemoryTier
  readonly #shared: CacheStore | undefined
  readonly #metrics: Metrics
  readonly #options: ReaderOptions
  /** Memory tier lookups of bodies (every delivery of a cached object): hits and misses. */
  readonly #memoryGets: { hit: CountTally; miss: CountTally }
  readonly #lists = new SingleFlight<string, ObjectMeta[]>()
  readonly #bodies = new SingleFlight<string, Buffer>()
  /** Objects this process heard were committed (bus), for segments requested before they are due. */
  readonly #committed = new Map<string, true>()
  /** Recently read non-empty candidate lists, for immutable media segments (see `candidates`). */
  readonly #recent = new Map<string, { list: ObjectMeta[]; at: number }>()
  /**
   * Changes (commits, removals) this process heard of: a counter, and the count at each
   * object's last change. A read that started before a change may miss it (see `mark`).
   */
  #changes = 0
  readonly #changedAt = new Map<string, number>()

  constructor(
    store: ObjectStore,
    memory: MemoryTier,
    shared: CacheStore | undefined,
    metrics: Metrics,
    options: ReaderOptions,
  ) {
    this.#store = store
    this.#memory = memory
    this.#shared = shared
    this.#metrics = metrics
    this.#options = options
    const cacheOps = tallyOf(metrics.cacheOps)
    this.#memoryGets = { hit: cacheOps('memory', 'get', 'hit'), miss: cacheOps('memory', 'get', 'miss') }
  }

  /**
   * Every pipeline's committed copy of (channel, path). With `maxAgeMs` > 0 a non-empty list
   * read by this process less than `maxAgeMs` ago is reused: media segments are written once,
   * and a commit or removal announced on the bus drops the entry at once, so the reuse only
   * matters for writes this process hears nothing about (other nodes), bounded by `maxAgeMs`.
   */
  candidates(channel: string, path: string, maxAgeMs = 0): Promise<ObjectMeta[]> {
    const key = candidatesKey(channel, path)
    if (maxAgeMs > 0) {
      const hit = this.#recent.get(key)
      if (hit && performance.now() - hit.at < maxAgeMs) return Promise.resolve(hit.list)
    }
    return this.#lists.do(key, async () => {
      const mark = this.#changes
      const list = await this.#readCandidates(channel, path, key)
      // A list read across a change may lack its copy: not kept for reuse.
      if (list.length > 0 && !this.#changedSince(key, mark)) {
        this.#recent.delete(key)
        this.#recent.set(key, { list, at: performance.now() })
        if (this.#recent.size > RECENT_LISTS) this.#recent.delete(this.#recent.keys().next().value!)
      }
      return list
    })
  }

  /**
   * Re-reads the candidates of (channel, path) and tells whether a copy appeared that this
   * process had not seen: how held requests learn of commits made where no bus reaches.
   * With a shared cache tier only the node's own zone of that tier is read (ingest writes
   * lists through to every zone before its 2xx) unless `storage` is set: then the other
   * zones and storage too, the fallback for a list the local zone lost.
   */
  async appeared(channel: string, path: string, storage = true): Promise<boolean> {
    const key = candidatesKey(channel, path)
    const seen = new Set((this.#recent.get(key)?.list ?? []).map((m) => m.token))
    let list: ObjectMeta[]
    if (this.#shared && !storage) {
      const hit = await (this.#shared.getLocal ? this.#shared.getLocal(key) : this.#shared.get(key))
      list = hit ? (parseList(hit) ?? []) : []
      if (!list.some((m) => !seen.has(m.token))) return false
    }
    list = await this.candidates(channel, path)
    return list.some((m) => !seen.has(m.token))
  }

  /**
   * Forgets what this process knows of (channel, path) after a commit or removal anywhere.
   * A listing already running may have missed the change: later readers start their own.
   */
  invalidate(channel: string, path: string): void {
    const key = candidatesKey(channel, path)
    this.#recent.delete(key)
    this.#lists.forget(key)
    this.#changedAt.delete(key)
    this.#changedAt.set(key, ++this.#changes)
    if (this.#changedAt.size > RECENT_LISTS) this.#changedAt.delete(this.#changedAt.keys().next().value!)
  }

  /**
   * A mark to take before reading candidates: `changedSince` then tells whether a change to
   * the object was heard after it. A request about to wait for a commit checks it, since a
   * commit announced while its read was running releases nobody and would be missed.
   */
  mark(): number {
    return this.#changes
  }

  /** Whether this process heard of a commit or removal of (channel, path) after `mark`. */
  changedSince(channel: string, path: string, mark: number): boolean {
    return this.#changedSince(candidatesKey(channel, path), mark)
  }

  #changedSince(key: string, mark: number): boolean {
    return (this.#changedAt.get(key) ?? 0) > mark
  }

  /** Notes that (channel, path) was committed somewhere this process hears of (the bus). */
  noteCommit(channel: string, path: string): void {
    const key = candidatesKey(channel, path)
    this.#committed.delete(key)
    this.#committed.set(key, true)
    if (this.#committed.size > RECENT_LISTS) this.#committed.delete(this.#committed.keys().next().value!)
  }

  /**
   * Whether a copy of (channel, path) may exist, from memory alone: a segment asked for before
   * it is due is answered 404 from the template unless this process heard of its commit.
   */
  mayExist(channel: string, path: string): boolean {
    const key = candidatesKey(channel, path)
    return this.#committed.has(key) || this.#recent.has(key)
  }

  /** Storage reads in progress (after single flight). */
  inFlight(): number {
    return this.#lists.inFlight() + this.#bodies.inFlight()
  }

  async #readCandidates(channel: string, path: string, key: string): Promise<ObjectMeta[]> {
    if (this.#shared) {
      const hit = await this.#shared.get(key)
      const list = hit && parseList(hit)
      if (list) return list
    }
    return this.#store.list(channel, path)
  }

  /** True when the body is small enough to be served from (and kept in) memory. */
  cacheable(meta: ObjectMeta): boolean {
    return meta.size <= this.#options.maxCachedObjectBytes
  }

  /** The whole body of a cacheable object: memory, shared tier, then storage (single flight). */
  body(meta: ObjectMeta): Promise<Buffer> {
    const key = bodyKey(meta.token)
    const hit = this.#memory.peek(key)
    if (hit) {
      this.#memoryGets.hit.inc()
      return Promise.resolve(hit)
    }
    this.#memoryGets.miss.inc()
    return this.#bodies.do(key, async () => {
      let bytes: Buffer | undefined
      if (this.#shared) {
        bytes = await this.#shared.get(key)
        if (bytes && bytes.length !== meta.size) bytes = undefined
      }
      if (!bytes) {
        this.#metrics.objectReads.inc()
        bytes = await this.#store.readAll(meta)
      }
      await this.#memory.set(key, bytes, ttlOf(meta))
      return bytes
    })
  }

  /** Streams (part of) a body straight from storage, for objects too large to cache. */
  stream(meta: ObjectMeta, range?: { start: number; end: number }): AsyncIterable<Buffer> {
    this.#metrics.objectReads.inc()
    return this.#store.read(meta, range)
  }

  /**
   * The write-through policy for bodies: with a shared cache tier every new body small enough
   * to cache is worth keeping while it uploads (every node but the writer then serves it from
   * that tier); without one, only bodies the writer reads itself (init segments, manifests,
   * inspected segments) are kept, and `written` puts those in memory.
   */
  get writesThroughBodies(): boolean {
    return this.#shared !== undefined
  }

  /** Write-through after a commit on this process: the new body and the new candidate list. */
  async written(meta: ObjectMeta, body: Buffer | undefined): Promise<void> {
    if (body && this.cacheable(meta)) await this.#memory.set(bodyKey(meta.token), body, ttlOf(meta))
    if (this.#shared) {
      const list = await this.#store.list(meta.channel, meta.path)
      const ttl = Math.min(ttlOf(meta), SHARED_LIST_TTL_MS)
      await Promise.all([
        this.#setList(meta.channel, meta.path, list, ttl),
        // Bodies too large to cache are streamed from storage by every reader: not worth a copy.
        body && this.cacheable(meta)
          ? this.#shared.set(bodyKey(meta.token), body, ttlOf(meta))
          : Promise.resolve(),
      ])
      this.#settle(meta.channel, meta.path, list, ttl)
    }
  }

  /** After a removal: the shared tier's candidate list is rewritten from storage. */
  async removed(channel: string, path: string): Promise<void> {
    if (!this.#shared) return
    const list = await this.#store.list(channel, path)
    await this.#setList(channel, path, list, SHARED_LIST_TTL_MS)
    this.#settle(channel, path, list, SHARED_LIST_TTL_MS)
  }

  // Candidate lists change (replacements, other pipelines): a list that a zone kept by mistake
  // (a lost set and a lost delete) is stale for at most SHARED_LIST_TTL_MS.
  #setList(channel: string, path: string, list: ObjectMeta[], ttlMs: number): Promise<void> {
    return this.#shared!.set(candidatesKey(channel, path), Buffer.from(JSON.stringify(list)), ttlMs)
  }

  /**
   * Lists are written whole and the last write wins. Redundant pipelines commit copies of a
   * segment at the same moment, on different nodes: a node whose listing started before the
   * other copy committed can write its list after the other node wrote the complete one, and
   * hide that copy for the list's lifetime. So every writer reads storage again after its
   * write, and writes again until storage holds what it wrote: whichever write lands last is
   * followed by a listing that sees every copy committed before it. In the background: the
   * writer's own copy is already listed, its 2xx need not wait.
   */
  #settle(channel: string, path: string, written: ObjectMeta[], ttlMs: number): void {
    const run = async () => {
      let last = written
      for (let round = 0; round < SETTLE_ROUNDS; round++) {
        const now = await this.#store.list(channel, path)
        if (sameCopies(now, last)) return
        await this.#setList(channel, path, now, ttlMs)
        last = now
      }
    }
    run().catch(() => {
      // Storage or the cache tier failed: the list in the tier expires within SHARED_LIST_TTL_MS.
    })
  }
}

/** Rounds of re-reading after a list write (one is enough unless commits keep arriving). */
const SETTLE_ROUNDS = 3

function sameCopies(a: readonly ObjectMeta[], b: readonly ObjectMeta[]): boolean {
  if (a.length !== b.length) return false
  const tokens = new Set(a.map((m) => m.token))
  return b.every((m) => tokens.has(m.token))
}

/** A candidate list from the shared tier; undefined for a garbled entry (a miss). */
function parseList(bytes: Buffer): ObjectMeta[] | undefined {
  try {
    const list: unknown = JSON.parse(bytes.toString('utf8'))
    return Array.isArray(list) ? (list as ObjectMeta[]) : undefined
  } catch {
    return undefined
  }
}

/** Cache lifetime of an object: until it expires, or an hour for objects that never do. */
function ttlOf(meta: ObjectMeta): number {
  return meta.expiresAt > 0 ? Math.max(1000, meta.expiresAt - Date.now()) : 3_600_000
}
