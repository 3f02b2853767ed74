/**
 * The read path: candidates (every pipeline's commit record of an object) and bodies, from
 * the in-process memory cache, then the shared cache tier (memcached, when configured),
 * then storage. Concurrent reads of one object on one process share one storage read
 * (single flight). Bodies are cached by upload token, which never changes meaning, so a
 * cached body can never be stale; candidate lists are always read from the shared tier or
 * storage so that a reader sees every acknowledged write.
 */

import { randomUUID } from 'node:crypto'
import type { NodeFlight } from '../cache/node-flight.js'
import { SingleFlight } from '../cache/single-flight.js'
import type { CacheStore } from '../cache/types.js'
import { type CountTally, type Metrics, tallyOf } from '../observability/metrics.js'
import type { ObjectStore } from '../storage/object-store.js'
import type { ObjectMeta } from '../storage/types.js'
import {
  type CandidateLog,
  encodeRecord,
  encodeRecords,
  type LogRecord,
  parseLog,
  reconcile,
} from './candidate-log.js'

export interface MemoryTier {
  peek(key: string): Buffer | undefined
  set(key: string, value: Uint8Array, ttlMs: number): Promise<void>
  delete(key: string): Promise<void>
}

export interface ReaderOptions {
  /** Bodies larger than this are streamed from storage and not cached in memory. */
  maxCachedObjectBytes: number
  /**
   * Whether this process answers delivery requests (default true): a process that only
   * ingests keeps no media segment it wrote in memory, since nothing of it reads them.
   */
  delivers?: boolean
  /**
   * Single flight with the other processes of the node (`serve`'s workers): a body this
   * process lacks is read by one of them and handed to the others (`cache/node-flight.ts`).
   */
  nodeFlight?: NodeFlight
}

const RECENT_LISTS = 10_000
/** Lifetime of a candidate log in the shared cache tier (from its first record). */
const SHARED_LIST_TTL_MS = 30_000
/**
 * A commit announced this long ago and not confirmed sends readers to storage: its writer
 * died after the commit, or the commit timed out and may have landed. Younger, it is most
 * likely in progress (a commit takes milliseconds), and its confirmation is on its way.
 */
export const PENDING_RESOLVE_MS = 500
/** …and no longer than this: a commit that has not landed by then never will. */
const PENDING_HORIZON_MS = SHARED_LIST_TTL_MS

/** The shared tier's log operations, when it has them. */
type LogTier = Required<Pick<CacheStore, 'appendLog' | 'extendLog' | 'getLog'>>

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
  /** Candidate logs in the shared tier (undefined without one: lists come from storage). */
  readonly #logs: LogTier | undefined
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
  /** Seals of candidate logs this process created for commits not yet confirmed, by token. */
  readonly #sealing = new Map<string, Promise<void>>()
  /** Copies replaced by commits of this process not yet confirmed: new token → replaced token. */
  readonly #replaced = new Map<string, string>()
  /** Tokens whose bodies this process wrote to the shared tier before their commit. */
  readonly #bodiesWritten = new Set<string>()
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
    this.#logs =
      shared?.appendLog && shared.extendLog && shared.getLog ? (shared as CacheStore & LogTier) : undefined
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
    if (this.#logs && !storage) {
      const hit = await this.#logs.getLog(key, true)
      const log = hit ? parseLog(hit, Date.now()) : undefined
      if (!log?.copies.some((m) => !seen.has(m.token)) && !(log && unresolved(log, Date.now()))) return false
    }
    const list = await this.candidates(channel, path)
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
    if (!this.#logs) return this.#store.list(channel, path)
    const hit = await this.#logs.getLog(key)
    const log = hit ? parseLog(hit, Date.now()) : undefined
    if (!log?.sealed) return this.#seal(channel, path, key, log)
    if (!unresolved(log, Date.now())) return log.copies
    // A commit announced and never confirmed: storage decides, and the log is told.
    const list = await this.#store.list(channel, path)
    this.#background(this.#logs.extendLog(key, encodeRecords(reconcile(log, list))))
    return list
  }

  /**
   * Lists storage into a log that is absent, unsealed or damaged: an opening first, so that
   * every commit after the listing confirms itself into the same log; then the listing and
   * the seal (docs/storage.md#candidate-logs).
   */
  async #seal(
    channel: string,
    path: string,
    key: string,
    log: CandidateLog | undefined,
  ): Promise<ObjectMeta[]> {
    const id = randomUUID()
    await this.#logs!.appendLog(key, encodeRecord({ g: id }), SHARED_LIST_TTL_MS)
    const list = await this.#store.list(channel, path)
    this.#background(this.#logs!.extendLog(key, encodeRecords([...reconcile(log, list), { s: id }])))
    return list
  }

  #background(work: Promise<void>): void {
    work.catch(() => {
      // The tier failed: its log expires within SHARED_LIST_TTL_MS, or a later reader fixes it.
    })
  }

  /** True when the body is small enough to be served from (and kept in) memory. */
  cacheable(meta: ObjectMeta): boolean {
    return meta.size <= this.#options.maxCachedObjectBytes
  }

  /**
   * The whole body of a cacheable object: memory, shared tier, then storage (single flight in
   * this process, and with the node's other processes when `nodeFlight` is given).
   */
  body(meta: ObjectMeta): Promise<Buffer> {
    const key = bodyKey(meta.token)
    const hit = this.#memory.peek(key)
    if (hit) {
      this.#memoryGets.hit.inc()
      return Promise.resolve(hit)
    }
    this.#memoryGets.miss.inc()
    return this.#bodies.do(key, async () => {
      const fetch = async () => {
        let bytes: Buffer | undefined
        if (this.#shared) {
          bytes = await this.#shared.get(key)
          if (bytes && bytes.length !== meta.size) bytes = undefined
        }
        if (!bytes) {
          this.#metrics.objectReads.inc()
          bytes = await this.#store.readAll(meta)
        }
        return bytes
      }
      const node = this.#options.nodeFlight
      const bytes = node ? await node.read(key, fetch, (b) => b.length === meta.size) : await fetch()
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
   * and media segments when this process also delivers) are kept, and `written` puts those
   * in memory.
   */
  get writesThroughBodies(): boolean {
    return this.#shared !== undefined
  }

  /** Whether this process answers delivery requests (see `ReaderOptions.delivers`). */
  get delivers(): boolean {
    return this.#options.delivers ?? true
  }

  /**
   * Before a commit on this process: the commit is announced in the shared tier's candidate
   * log, so that readers look for it in storage if it is never confirmed there (this process
   * dies after the commit, or the commit fails in a way that may still have landed); and the
   * body is written through, so that it is there before any reader learns of the copy.
   */
  async committing(meta: ObjectMeta, body?: Buffer): Promise<void> {
    const logs = this.#logs
    if (!logs) return
    const key = candidatesKey(meta.channel, meta.path)
    const record = encodeRecord({ p: { pipeline: meta.pipeline, token: meta.token, at: Date.now() } })
    // The first writer of an object creates its log, opened with its token, and seals it with
    // a listing of storage (the other pipelines' copies, if the log was lost rather than new).
    // The listing runs alongside the commit; the confirmation waits for the seal (`written`).
    const opening = encodeRecord({ g: meta.token })
    const [created] = await Promise.all([
      logs.appendLog(key, record, listTtl([meta]), opening).catch(() => false),
      body && this.cacheable(meta) ? this.#writeBody(meta, body) : undefined,
    ])
    if (!created) return
    const sealing = this.#store
      .list(meta.channel, meta.path)
      .then((list) => logs.extendLog(key, encodeRecords([...reconcile(undefined, list), { s: meta.token }])))
      .catch(() => {
        // Unsealed: the first reader seals it.
      })
    this.#sealing.set(meta.token, sealing)
    // A commit that fails is never confirmed: forget its seal once done.
    void sealing.then(() => setTimeout(() => this.#sealing.delete(meta.token), 60_000).unref())
  }

  /**
   * Write-through after a commit on this process: the new body, and the commit confirmed in
   * the candidate log (one append, no storage read: the log merges every writer's records).
   */
  async written(meta: ObjectMeta, body: Buffer | undefined): Promise<void> {
    if (body && this.cacheable(meta)) await this.#memory.set(bodyKey(meta.token), body, ttlOf(meta))
    if (!this.#shared) return
    const sealing = this.#sealing.get(meta.token)
    this.#sealing.delete(meta.token)
    await Promise.all([
      // Confirmed once the log is sealed, so that no reader that sees the copy lists storage.
      sealing ? sealing.then(() => this.#confirm(meta)) : this.#confirm(meta),
      // Bodies too large to cache are streamed from storage by every reader: not worth a copy.
      body && this.cacheable(meta) && !this.#bodiesWritten.delete(meta.token)
        ? this.#shared.set(bodyKey(meta.token), body, ttlOf(meta))
        : undefined,
    ])
  }

  #confirm(meta: ObjectMeta): Promise<boolean> | undefined {
    const replaced = this.#replaced.get(meta.token)
    this.#replaced.delete(meta.token)
    // A replaced copy is reported gone with the confirmation: whatever the clocks of the
    // nodes that wrote the two say, the log then lists the new one.
    const records: LogRecord[] = replaced ? [{ c: meta }, { r: [replaced] }] : [{ c: meta }]
    return this.#logs?.appendLog(
      candidatesKey(meta.channel, meta.path),
      encodeRecords(records),
      listTtl([meta]),
    )
  }

  /**
   * After a commit on this process that replaced a copy (a mutable object: a manifest, an
   * init segment), before `written`: the confirmation reports the replaced copy gone.
   */
  replacing(meta: ObjectMeta, replaced: ObjectMeta): void {
    if (!this.#logs || replaced.token === meta.token) return
    this.#replaced.set(meta.token, replaced.token)
    if (this.#replaced.size > RECENT_LISTS) this.#replaced.delete(this.#replaced.keys().next().value!)
  }

  /** Writes a body to the shared tier ahead of its commit (`committing`), once. */
  async #writeBody(meta: ObjectMeta, body: Buffer): Promise<void> {
    this.#bodiesWritten.add(meta.token)
    if (this.#bodiesWritten.size > RECENT_LISTS)
      this.#bodiesWritten.delete(this.#bodiesWritten.values().next().value!)
    await this.#shared!.set(bodyKey(meta.token), body, ttlOf(meta))
  }

  /**
   * After a removal on this process: the log is read, then storage (which no longer has the
   * copy), and the log is told which of the copies it confirms are gone.
   */
  async removed(channel: string, path: string): Promise<void> {
    if (!this.#logs) return
    const key = candidatesKey(channel, path)
    const hit = await this.#logs.getLog(key)
    if (!hit) return
    const records = reconcile(parseLog(hit, Date.now()), await this.#store.list(channel, path))
    if (records.length > 0) await this.#logs.extendLog(key, encodeRecords(records))
  }
}

/** Whether a log announces a commit old enough to look for in storage (see PENDING_RESOLVE_MS). */
function unresolved(log: CandidateLog, now: number): boolean {
  return log.pending.some((p) => now - p.at >= PENDING_RESOLVE_MS && now - p.at < PENDING_HORIZON_MS)
}

/** Lifetime of a candidate log created for these copies. */
function listTtl(list: readonly ObjectMeta[]): number {
  return Math.min(SHARED_LIST_TTL_MS, ...list.map(ttlOf))
}

/** Cache lifetime of an object: until it expires, or an hour for objects that never do. */
function ttlOf(meta: ObjectMeta): number {
  return meta.expiresAt > 0 ? Math.max(1000, meta.expiresAt - Date.now()) : 3_600_000
}
