/**
 * The storage contract. Every driver (embedded, cassandra, …) implements `StorageDriver`;
 * `src/storage/object-store.ts` builds streamed, chunked objects on top of it.
 *
 * Layout: an object is one commit record (`ObjectMeta`) per (channel, path, pipeline) plus
 * `meta.chunks` chunk records keyed by (upload token, index). Chunks are written first,
 * idempotently; the commit record is written last and makes the object visible atomically.
 * Replacing an object writes new chunks under a new token, then a new commit record.
 */

/** Identifies one pipeline's copy of one object. */
export interface ObjectKey {
  readonly channel: string
  /** Object path inside the channel, without a leading slash, e.g. `video/seg-00012.m4s`. */
  readonly path: string
  readonly pipeline: string
}

/** The commit record of one stored object. Small, JSON-serialisable. */
export interface ObjectMeta extends ObjectKey {
  /** Upload token (idempotency token) that names this object's chunks. Unique per upload. */
  readonly token: string
  /** Body size in bytes. */
  readonly size: number
  /** Size of every chunk but the last. */
  readonly chunkSize: number
  /** Number of chunk records (0 for an empty body). */
  readonly chunks: number
  /** Strong entity tag of the bytes, quoted, e.g. `"a1b2…"`. */
  readonly etag: string
  readonly contentType: string
  /** When the commit record was written (epoch ms). */
  readonly committedAt: number
  /** When the object may be deleted (epoch ms); 0 = never. */
  readonly expiresAt: number
  /** Segment-Defects as recorded (RFC 9651 List, serialised); '' when defect-free. */
  readonly defects: string
}

/** How a commit record is written. */
export interface CommitOptions {
  /**
   * The key is written once (a media segment): a second commit of it is a retry of the same
   * bytes, or a replacement that is last-writer-wins by the writing node's clock. The driver
   * need not read the record it replaces, and may then not report it.
   */
  readonly writeOnce?: boolean
}

/** Optional capabilities a driver declares up front. */
export interface DriverCapabilities {
  /** Records expire by themselves (e.g. Cassandra TTLs); otherwise `sweep()` must be called. */
  readonly nativeTtl: boolean
  /** Several processes of one machine may open the same store at once. */
  readonly multiProcess: boolean
}

export interface StorageDriver {
  readonly name: string
  readonly capabilities: DriverCapabilities

  /** Write one chunk. Idempotent: the same (token, index, bytes) may be written again. */
  putChunk(token: string, index: number, data: Uint8Array, expiresAt: number): Promise<void>
  /** Read one chunk, or undefined when it does not exist (never committed, expired, or swept). */
  getChunk(token: string, index: number): Promise<Buffer | undefined>
  /** Delete chunks [0, count) of an upload. Missing chunks are not an error. */
  deleteChunks(token: string, count: number): Promise<void>

  /**
   * Write the commit record, replacing any previous record of the same key atomically.
   * Resolves once durable (survives a process crash; LOCAL_QUORUM in the distributed shape).
   * Returns the record it replaced, if any; with `writeOnce`, a driver for which learning it
   * costs a read (Cassandra) skips that read and returns undefined.
   */
  commit(meta: ObjectMeta, options?: CommitOptions): Promise<ObjectMeta | undefined>
  /**
   * Move the expiry of `meta`'s object (chunks and record) to `expiresAt`, if `meta` is still
   * the current record of its key. A commit or remove of the key made meanwhile, on any node,
   * wins. Returns the record as it now is, or undefined when `meta` is no longer current.
   * Never shortens a lifetime.
   */
  extend(meta: ObjectMeta, expiresAt: number): Promise<ObjectMeta | undefined>
  /** Every pipeline's commit record for (channel, path): one round trip. Order unspecified. */
  list(channel: string, path: string): Promise<ObjectMeta[]>
  /** Remove one pipeline's commit record. Returns the removed record, if any. */
  remove(key: ObjectKey): Promise<ObjectMeta | undefined>

  /**
   * Control-plane records (channels, tokens, masks): small JSON documents by namespace and id.
   * `expiresAt` (epoch ms; 0 or absent: never) lets a record expire by itself, like an
   * object: once past, reads no longer see it and the store drops it (native TTL, or `sweep`).
   * A later `putRecord` of the same id replaces the expiry too.
   */
  putRecord(namespace: string, id: string, value: unknown, expiresAt?: number): Promise<void>
  getRecord<T = unknown>(namespace: string, id: string): Promise<T | undefined>
  listRecords<T = unknown>(namespace: string): Promise<Array<{ id: string; value: T }>>
  deleteRecord(namespace: string, id: string): Promise<void>

  /**
   * Delete everything whose `expiresAt` is non-zero and ≤ now. Drivers with `nativeTtl` may
   * implement it as a no-op. Returns the number of records removed.
   */
  sweep(now: number): Promise<number>

  /** Check that storage answers (for /readyz). Rejects when it does not. */
  ping(): Promise<void>
  close(): Promise<void>
}
