/**
 * Streamed, chunked objects on any `StorageDriver` (docs/storage.md). A write cuts the body into
 * chunks as it arrives, writes them under a fresh upload token in parallel (bounded, each
 * retried; chunk writes are idempotent), hashes the bytes on the way for a strong ETag, and
 * finally writes one commit record that makes the object visible at once. A body that fails,
 * is aborted or grows past its limit commits nothing, and its chunks are deleted.
 *
 * Chunks are cut into buffers this store reuses once a driver has acknowledged their write
 * (at most `chunkConcurrency` of them kept spare): fresh memory for every chunk costs the
 * kernel's page faults, ten times the copy itself (docs/storage.md). A chunk whose write
 * failed on any attempt keeps its buffer; a driver may still hold it.
 *
 * When a commit replaces (or `remove` deletes) an object, its chunks are not deleted at once:
 * a reader may be streaming them. They are deleted `replacedGraceMs` later by a timer of this
 * process. A process that dies before then leaves them to the store's expiry (their
 * `expiresAt`, the same as the object's): `sweep` or the store's TTL collects them.
 */

import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { errors } from '../errors.js'
import { contentHash } from './content-hash.js'
import type { ObjectKey, ObjectMeta, StorageDriver } from './types.js'

/** Options of an `ObjectStore`. */
export interface ObjectStoreOptions {
  /** Bytes per chunk (every chunk but the last). Default 1 MiB. */
  readonly chunkSize?: number
  /** Chunk writes in flight per object write; also the read-ahead of reads. Default 4. */
  readonly chunkConcurrency?: number
  /** Extra attempts of a failed chunk write or read. Default 2. */
  readonly retries?: number
  /** Wait before the first retry; doubled for each next one. Default 10 ms. */
  readonly retryDelayMs?: number
  /** How long the chunks of a replaced or removed object stay readable. Default 30 s. */
  readonly replacedGraceMs?: number
  /** Clock for `committedAt` (epoch ms). Default `Date.now`. */
  readonly now?: () => number
}

/** Options of one `ObjectStore.write`. */
export interface WriteOptions {
  readonly contentType: string
  /** When the object may be deleted (epoch ms); 0 = never. Also applies to its chunks. */
  readonly expiresAt: number
  /**
   * Segment-Defects to record (serialised RFC 9651 List); default ''. A function is called
   * once the whole body has arrived, just before the commit, so that defects found while the
   * body streamed (e.g. by inspecting it in `onData`) are recorded with it.
   */
  readonly defects?: string | (() => string | Promise<string>)
  /** Refuse bodies longer than this with `LIVEORIGIN_ERR_TOO_LARGE`. */
  readonly maxBytes?: number
  /** Sees every piece of the body as it arrives, before it is stored; throwing aborts the write. */
  readonly onData?: (piece: Uint8Array) => void
  /** Aborting it abandons the write (even while the body is stalled); rejects with its reason. */
  readonly signal?: AbortSignal
  /**
   * The key is written once (a media segment): the commit skips reading the record it
   * replaces where that costs a storage read, and `replaced` may then be undefined even for
   * a second write (whose older chunks are left to their expiry).
   */
  readonly writeOnce?: boolean
  /**
   * Called with the commit record once the body is stored, right before the commit (e.g. to
   * announce it in a cache tier). Throwing fails the write: nothing is committed.
   */
  readonly beforeCommit?: (meta: ObjectMeta) => Promise<void>
}

/** What a successful write committed, and the record it replaced. */
export interface WriteResult {
  readonly meta: ObjectMeta
  readonly replaced: ObjectMeta | undefined
  /** Where the write's time went, in ms (docs/architecture.md#the-path-of-a-put). */
  readonly phases: WritePhases
}

/** The phases of one write, in ms; together they are its whole duration. */
export interface WritePhases {
  /** From the call to the body's last byte. */
  readonly receiveMs: number
  /** From the last byte until every chunk is stored. */
  readonly storeMs: number
  /** From then until the commit record is durable (the defects, `beforeCommit`, the commit). */
  readonly commitMs: number
}

/** An inclusive byte range, as in an HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  readonly start: number
  readonly end: number
}

const MiB = 1024 * 1024

function optionInt(
  options: ObjectStoreOptions,
  name: keyof ObjectStoreOptions,
  fallback: number,
  min: number,
) {
  const v = options[name]
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new TypeError(`ObjectStore: option ${name} must be an integer ≥ ${min}`)
  }
  return v
}

/** Streamed, chunked objects on a storage driver. One instance per process and driver. */
export class ObjectStore {
  readonly driver: StorageDriver
  readonly chunkSize: number
  readonly chunkConcurrency: number
  readonly #retries: number
  readonly #retryDelayMs: number
  readonly #graceMs: number
  readonly #now: () => number
  readonly #pendingDeletes = new Map<string, { count: number; timer: NodeJS.Timeout }>()
  readonly #runningDeletes = new Set<Promise<void>>()
  /** Chunk-sized buffers whose writes were acknowledged, to cut the next chunks into. */
  readonly #spare: Buffer[] = []

  constructor(driver: StorageDriver, options: ObjectStoreOptions = {}) {
    if (typeof driver !== 'object' || driver === null || typeof driver.commit !== 'function') {
      throw new TypeError('ObjectStore: driver must be a StorageDriver')
    }
    this.driver = driver
    this.chunkSize = optionInt(options, 'chunkSize', MiB, 1)
    this.chunkConcurrency = optionInt(options, 'chunkConcurrency', 4, 1)
    this.#retries = optionInt(options, 'retries', 2, 0)
    this.#retryDelayMs = optionInt(options, 'retryDelayMs', 10, 0)
    this.#graceMs = optionInt(options, 'replacedGraceMs', 30_000, 0)
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new TypeError('ObjectStore: option now must be a function')
    }
    this.#now = options.now ?? Date.now
  }

  /**
   * Store `body` as `key`'s object, replacing any previous one whole. Resolves once the commit
   * record is durable. Body pieces must not be modified after they are yielded (as with Node
   * streams). At most about `chunkConcurrency + 1` chunks are held in memory.
   */
  async write(key: ObjectKey, body: AsyncIterable<Uint8Array>, opts: WriteOptions): Promise<WriteResult> {
    if (typeof opts.contentType !== 'string')
      throw new TypeError('ObjectStore.write: contentType must be a string')
    if (typeof opts.expiresAt !== 'number' || !Number.isFinite(opts.expiresAt) || opts.expiresAt < 0) {
      throw new TypeError('ObjectStore.write: expiresAt must be a finite number ≥ 0 (0 = never)')
    }
    const maxBytes = opts.maxBytes ?? Number.POSITIVE_INFINITY
    const { signal, onData } = opts
    signal?.throwIfAborted()
    const startedAt = performance.now()
    let receivedAt = startedAt

    const token = randomUUID()
    const chunkSize = this.chunkSize
    const hash = await contentHash()
    const inFlight = new Set<Promise<void>>()
    let failure: { error: unknown } | undefined
    let dispatched = 0
    let size = 0
    let pending: Uint8Array[] = []
    let pendingBytes = 0

    const dispatch = async ([data, buffer]: [Uint8Array, Buffer | undefined]) => {
      while (inFlight.size >= this.chunkConcurrency) await Promise.race(inFlight)
      if (failure) throw failure.error
      const index = dispatched++
      const run: Promise<void> = this.#putChunk(token, index, data, opts.expiresAt).then(
        (firstTry) => {
          inFlight.delete(run)
          if (buffer && firstTry && this.#spare.length < this.chunkConcurrency) this.#spare.push(buffer)
        },
        (error: unknown) => {
          inFlight.delete(run)
          failure ??= { error }
        },
      )
      inFlight.add(run)
    }
    // Cut exactly `n` bytes off the front of the pending pieces: the chunk, and the reusable
    // buffer it was copied into (none when it is a piece as it came, or small).
    const take = (n: number): [Uint8Array, Buffer | undefined] => {
      const first = pending[0]!
      if (first.byteLength === n) {
        pending.shift()
        pendingBytes -= n
        return [first, undefined]
      }
      const buffer = n > chunkSize / 2 ? (this.#spare.pop() ?? Buffer.allocUnsafe(chunkSize)) : undefined
      const out = buffer ? buffer.subarray(0, n) : Buffer.allocUnsafe(n)
      let filled = 0
      while (filled < n) {
        const piece = pending[0]!
        const used = Math.min(piece.byteLength, n - filled)
        out.set(used === piece.byteLength ? piece : piece.subarray(0, used), filled)
        filled += used
        if (used === piece.byteLength) pending.shift()
        else pending[0] = piece.subarray(used)
      }
      pendingBytes -= n
      return [out, buffer]
    }

    const iterator = body[Symbol.asyncIterator]()
    let finished = false
    let abortListener: (() => void) | undefined
    const aborted = signal
      ? new Promise<never>((_, reject) => {
          abortListener = () => reject(signal.reason)
          signal.addEventListener('abort', abortListener, { once: true })
        })
      : undefined
    aborted?.catch(() => {})
    try {
      for (;;) {
        const step = aborted ? await Promise.race([iterator.next(), aborted]) : await iterator.next()
        if (step.done) {
          finished = true
          break
        }
        const piece = step.value
        if (piece.byteLength === 0) continue
        size += piece.byteLength
        if (size > maxBytes) throw errors.tooLarge(maxBytes)
        onData?.(piece)
        hash.update(piece)
        pending.push(piece)
        pendingBytes += piece.byteLength
        while (pendingBytes >= chunkSize) await dispatch(take(chunkSize))
      }
      receivedAt = performance.now()
      if (pendingBytes > 0) await dispatch(take(pendingBytes))
      while (inFlight.size > 0) await Promise.race(inFlight)
      if (failure) throw failure.error
      signal?.throwIfAborted()
    } catch (error) {
      pending = []
      if (!finished) void Promise.resolve(iterator.return?.()).catch(() => {})
      await Promise.allSettled([...inFlight])
      // After a storage failure the store is unlikely to take the deletes now; don't make the
      // caller wait for them. After a body failure it is healthy: clean up before answering.
      const cleanup = dispatched > 0 ? this.driver.deleteChunks(token, dispatched).catch(() => {}) : undefined
      if (!failure || error !== failure.error) await cleanup
      throw error
    } finally {
      if (abortListener) signal?.removeEventListener('abort', abortListener)
    }

    const storedAt = performance.now()
    const defects = typeof opts.defects === 'function' ? await opts.defects() : (opts.defects ?? '')
    const meta: ObjectMeta = {
      channel: key.channel,
      path: key.path,
      pipeline: key.pipeline,
      token,
      size,
      chunkSize,
      chunks: dispatched,
      etag: hash.etag(),
      contentType: opts.contentType,
      committedAt: this.#now(),
      expiresAt: opts.expiresAt,
      defects,
    }
    if (opts.beforeCommit) {
      try {
        await opts.beforeCommit(meta)
      } catch (error) {
        await this.driver.deleteChunks(token, dispatched).catch(() => {})
        throw error
      }
    }
    // Not retried and not cleaned up on failure: a commit that reports failure may still have
    // landed (a timeout in a distributed store), and then its chunks must stay. They expire.
    const replaced = await this.driver.commit(meta, opts.writeOnce ? { writeOnce: true } : undefined)
    if (replaced && replaced.token !== token) this.#deleteLater(replaced.token, replaced.chunks)
    const phases: WritePhases = {
      receiveMs: receivedAt - startedAt,
      storeMs: storedAt - receivedAt,
      commitMs: performance.now() - storedAt,
    }
    return { meta, replaced: replaced?.token === token ? undefined : replaced, phases }
  }

  /**
   * Stream an object's bytes, or the inclusive `range` of them. Reads ahead up to
   * `chunkConcurrency` chunks. Throws `LIVEORIGIN_ERR_RANGE_NOT_SATISFIABLE` for a range
   * outside the object, and `LIVEORIGIN_ERR_STORAGE_UNAVAILABLE` when a chunk is missing
   * (the object was replaced or expired long ago) or unreadable.
   */
  async *read(meta: ObjectMeta, range?: ByteRange): AsyncGenerator<Buffer, void, undefined> {
    const { size, chunkSize } = meta
    if (range !== undefined) {
      const { start, end } = range
      if (
        !Number.isSafeInteger(start) ||
        !Number.isSafeInteger(end) ||
        start < 0 ||
        end < start ||
        end >= size
      ) {
        throw errors.rangeNotSatisfiable(size)
      }
    }
    if (size === 0) return
    const start = range?.start ?? 0
    const end = range?.end ?? size - 1
    const first = Math.floor(start / chunkSize)
    const last = Math.floor(end / chunkSize)
    const ahead: Array<Promise<Buffer>> = []
    let next = first
    const fetchNext = () => {
      const p = this.#getChunk(meta, next++)
      // Handled when awaited; this only keeps an abandoned read-ahead from being "unhandled".
      p.catch(() => {})
      ahead.push(p)
    }
    while (ahead.length < this.chunkConcurrency && next <= last) fetchNext()
    for (let i = first; i <= last; i++) {
      const chunk = await ahead.shift()!
      if (next <= last) fetchNext()
      const from = i === first ? start - i * chunkSize : 0
      const to = i === last ? end - i * chunkSize + 1 : chunk.byteLength
      yield from === 0 && to === chunk.byteLength ? chunk : chunk.subarray(from, to)
    }
  }

  /** The whole object in one buffer (for small objects and caches). */
  async readAll(meta: ObjectMeta): Promise<Buffer> {
    if (meta.chunks === 1) return this.#getChunk(meta, 0)
    const out = Buffer.allocUnsafe(meta.size)
    let offset = 0
    for await (const part of this.read(meta)) {
      out.set(part, offset)
      offset += part.byteLength
    }
    return out
  }

  /** Every pipeline's commit record for (channel, path). */
  list(channel: string, path: string): Promise<ObjectMeta[]> {
    return this.driver.list(channel, path)
  }

  /**
   * Move the expiry of a stored object (chunks and record) to `expiresAt` when `meta` is still
   * its current copy: the record as it now is, or undefined when it was replaced or removed.
   */
  extend(meta: ObjectMeta, expiresAt: number): Promise<ObjectMeta | undefined> {
    return this.driver.extend(meta, expiresAt)
  }

  /** Remove one pipeline's copy; its chunks go after the grace period. */
  async remove(key: ObjectKey): Promise<ObjectMeta | undefined> {
    const removed = await this.driver.remove(key)
    if (removed) this.#deleteLater(removed.token, removed.chunks)
    return removed
  }

  /** Chunk deletions waiting for their grace period. */
  pendingDeletions(): number {
    return this.#pendingDeletes.size
  }

  /** Run every waiting chunk deletion now and wait for all of them (e.g. before closing). */
  async flushDeletions(): Promise<void> {
    for (const [token, { count, timer }] of this.#pendingDeletes) {
      clearTimeout(timer)
      this.#pendingDeletes.delete(token)
      this.#startDelete(token, count)
    }
    await Promise.allSettled([...this.#runningDeletes])
  }

  #deleteLater(token: string, count: number): void {
    if (count <= 0 || this.#pendingDeletes.has(token)) return
    if (this.#graceMs === 0) {
      this.#startDelete(token, count)
      return
    }
    const timer = setTimeout(() => {
      this.#pendingDeletes.delete(token)
      this.#startDelete(token, count)
    }, this.#graceMs)
    timer.unref()
    this.#pendingDeletes.set(token, { count, timer })
  }

  #startDelete(token: string, count: number): void {
    // Best effort: chunks left behind expire with the object.
    const p: Promise<void> = this.driver
      .deleteChunks(token, count)
      .catch(() => {})
      .finally(() => this.#runningDeletes.delete(p))
    this.#runningDeletes.add(p)
  }

  /** Writes a chunk, retried; resolves to whether the first attempt took it. */
  async #putChunk(token: string, index: number, data: Uint8Array, expiresAt: number): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.driver.putChunk(token, index, data, expiresAt)
        return attempt === 0
      } catch (error) {
        if (attempt >= this.#retries) throw error
        await sleep(this.#retryDelayMs * 2 ** attempt)
      }
    }
  }

  async #getChunk(meta: ObjectMeta, index: number): Promise<Buffer> {
    const expected = index < meta.chunks - 1 ? meta.chunkSize : meta.size - (meta.chunks - 1) * meta.chunkSize
    for (let attempt = 0; ; attempt++) {
      let chunk: Buffer | undefined
      try {
        chunk = await this.driver.getChunk(meta.token, index)
      } catch (error) {
        if (attempt >= this.#retries) {
          const why = error instanceof Error ? error.message : String(error)
          const e = errors.storageUnavailable(`reading chunk ${index} of ${describe(meta)}: ${why}`)
          throw Object.assign(e, { cause: error })
        }
        await sleep(this.#retryDelayMs * 2 ** attempt)
        continue
      }
      if (chunk === undefined) {
        throw errors.storageUnavailable(`chunk ${index} of ${describe(meta)} is gone (replaced or expired)`)
      }
      if (chunk.byteLength !== expected) {
        throw errors.storageUnavailable(
          `chunk ${index} of ${describe(meta)} has ${chunk.byteLength} bytes, expected ${expected}`,
        )
      }
      return chunk
    }
  }
}

function describe(meta: ObjectMeta): string {
  return `${meta.channel}/${meta.path} from pipeline ${meta.pipeline}`
}
