/**
 * Copies of media segments still being uploaded, kept in memory so that readers can be given
 * each CMAF chunk as it arrives (docs/delivery.md#segments-in-progress). The ingest process
 * announces an upload, its complete chunks and its end as `ProgressEvent`s on the bus; every
 * process of the node applies them to its own book, so a delivery worker holds the same
 * chunks as the process that receives the upload. Bounded: a copy that would take the book
 * past `maxBytes` (or a copy past a quarter of it) is withdrawn, and a copy that hears
 * nothing for its idle limit (its ingest process died) fails.
 */

/** What the bus carries of an upload in progress. Chunk bytes travel as base64 between processes. */
export type ProgressEvent =
  | {
      type: 'progress-start'
      id: string
      channel: string
      path: string
      pipeline: string
      contentType: string
      /** Epoch ms: the upload's place in arrival order. */
      startedAt: number
      /** Fail the copy when no event arrives for this long. */
      idleMs: number
    }
  | { type: 'progress-chunk'; id: string; data: Uint8Array | string }
  /** `complete`: the upload committed without defects; otherwise it failed, or committed defective. */
  | { type: 'progress-end'; id: string; complete: boolean }

export type CopyState = 'open' | 'complete' | 'failed'

/** One pipeline's copy of an object, still uploading. */
export interface InProgressCopy {
  readonly id: string
  readonly channel: string
  readonly path: string
  readonly pipeline: string
  readonly contentType: string
  readonly startedAt: number
  /** The complete chunks so far, in order. */
  readonly chunks: readonly Uint8Array[]
  readonly bytes: number
  readonly state: CopyState
}

/** A reader following a copy: each chunk in order, then the end (`complete` false: cut it off). */
export interface Follower {
  chunk(bytes: Uint8Array): void
  end(complete: boolean): void
}

export interface InProgressBookOptions {
  /** Bytes of every copy together. */
  readonly maxBytes: number
  /** Called when a copy's first chunk arrives (held requests for the object can be answered). */
  readonly onFirstChunk?: (channel: string, path: string) => void
}

interface Entry extends InProgressCopy {
  chunks: Uint8Array[]
  bytes: number
  state: CopyState
  readonly idleMs: number
  timer: NodeJS.Timeout | undefined
  readonly followers: Set<Follower>
}

export class InProgressBook {
  readonly #byId = new Map<string, Entry>()
  readonly #byObject = new Map<string, Entry[]>()
  readonly #maxBytes: number
  readonly #onFirstChunk: ((channel: string, path: string) => void) | undefined
  #bytes = 0

  constructor(options: InProgressBookOptions) {
    this.#maxBytes = options.maxBytes
    this.#onFirstChunk = options.onFirstChunk
  }

  /** Bytes held by every copy. */
  get bytes(): number {
    return this.#bytes
  }

  /** Copies in progress (open). */
  get size(): number {
    return this.#byId.size
  }

  /** Whether copy `id` is still open (not ended, failed nor withdrawn). */
  isOpen(id: string): boolean {
    return this.#byId.has(id)
  }

  /** Whether any copy of the object is uploading. */
  has(channel: string, path: string): boolean {
    return this.#byObject.has(keyOf(channel, path))
  }

  /** The open copies of the object that have at least one chunk. */
  copies(channel: string, path: string): readonly InProgressCopy[] {
    const list = this.#byObject.get(keyOf(channel, path))
    return list ? list.filter((e) => e.chunks.length > 0) : []
  }

  /**
   * Gives `follower` the copy's chunks so far, synchronously, then each new one, then its end.
   * Returns a function that stops following (idempotent).
   */
  follow(copy: InProgressCopy, follower: Follower): () => void {
    const entry = this.#byId.get(copy.id)
    if (entry !== copy) {
      follower.end(copy.state === 'complete')
      return () => {}
    }
    for (const c of entry.chunks) follower.chunk(c)
    entry.followers.add(follower)
    return () => {
      entry.followers.delete(follower)
    }
  }

  apply(event: ProgressEvent): void {
    if (event.type === 'progress-start') this.#start(event)
    else if (event.type === 'progress-chunk') this.#chunk(event.id, event.data)
    else this.#end(event.id, event.complete ? 'complete' : 'failed')
  }

  /** Fails every copy (shutdown). */
  clear(): void {
    for (const id of [...this.#byId.keys()]) this.#end(id, 'failed')
  }

  #start(e: Extract<ProgressEvent, { type: 'progress-start' }>): void {
    if (this.#byId.has(e.id)) return
    const entry: Entry = {
      id: e.id,
      channel: e.channel,
      path: e.path,
      pipeline: e.pipeline,
      contentType: e.contentType,
      startedAt: e.startedAt,
      chunks: [],
      bytes: 0,
      state: 'open',
      idleMs: e.idleMs,
      timer: undefined,
      followers: new Set(),
    }
    const key = keyOf(e.channel, e.path)
    // A pipeline's new upload of the object replaces its older one still listed.
    const list = (this.#byObject.get(key) ?? []).filter((x) => {
      if (x.pipeline !== e.pipeline) return true
      this.#end(x.id, 'failed', false)
      return false
    })
    list.push(entry)
    this.#byObject.set(key, list)
    this.#byId.set(e.id, entry)
    this.#arm(entry)
  }

  #chunk(id: string, data: Uint8Array | string): void {
    const entry = this.#byId.get(id)
    if (!entry) return
    const bytes = typeof data === 'string' ? Buffer.from(data, 'base64') : data
    if (this.#bytes + bytes.length > this.#maxBytes || entry.bytes + bytes.length > this.#maxBytes / 4) {
      this.#end(id, 'failed')
      return
    }
    entry.chunks.push(bytes)
    entry.bytes += bytes.length
    this.#bytes += bytes.length
    this.#arm(entry)
    for (const f of entry.followers) f.chunk(bytes)
    if (entry.chunks.length === 1) this.#onFirstChunk?.(entry.channel, entry.path)
  }

  #end(id: string, state: 'complete' | 'failed', unlist = true): void {
    const entry = this.#byId.get(id)
    if (!entry) return
    this.#byId.delete(id)
    if (entry.timer) clearTimeout(entry.timer)
    entry.timer = undefined
    entry.state = state
    this.#bytes -= entry.bytes
    if (unlist) {
      const key = keyOf(entry.channel, entry.path)
      const list = this.#byObject.get(key)?.filter((x) => x !== entry) ?? []
      if (list.length === 0) this.#byObject.delete(key)
      else this.#byObject.set(key, list)
    }
    const followers = [...entry.followers]
    entry.followers.clear()
    for (const f of followers) f.end(state === 'complete')
  }

  #arm(entry: Entry): void {
    if (entry.timer) clearTimeout(entry.timer)
    entry.timer = setTimeout(() => this.#end(entry.id, 'failed'), entry.idleMs)
    entry.timer.unref()
  }
}

function keyOf(channel: string, path: string): string {
  return `${channel}\u0000${path}`
}
