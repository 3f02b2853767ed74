/**
 * Announces a media segment of a low-latency channel while it uploads
 * (docs/delivery.md#segments-in-progress): each complete CMAF chunk (a `moof` and its
 * `mdat`) that inspected clean so far is published as it arrives, so that readers can be
 * given it before the upload commits. The bytes still go to storage as for any upload; this
 * only offers them early. A chunk that does not parse, a `slat` brand or a copy larger than
 * the in-progress budget allows withdraws the copy (its readers are cut off); the end says
 * whether the upload committed without defects.
 */
import { randomUUID } from 'node:crypto'
import type { FragmentInspector } from '../media/fmp4.js'
import type { ProgressEvent } from '../objects/in-progress.js'
import type { ObjectKey } from '../storage/types.js'

/** Where progress goes: the bus, and whether this process still lists the copy as open. */
export interface ProgressSink {
  publish(event: ProgressEvent): void
  isOpen(id: string): boolean
  /** A copy that holds more than this without a complete chunk is withdrawn. */
  readonly maxCopyBytes: number
}

export class InProgressUpload {
  readonly #sink: ProgressSink
  readonly #inspector: FragmentInspector
  readonly #id = randomUUID()
  /** Bytes received and not yet published (the start of an unfinished chunk). */
  #pending: Uint8Array[] = []
  #pendingBytes = 0
  /** Bytes published so far (a chunk boundary). */
  #published = 0
  #open = true

  constructor(
    sink: ProgressSink,
    inspector: FragmentInspector,
    key: ObjectKey,
    info: { contentType: string; startedAt: number; idleMs: number },
  ) {
    this.#sink = sink
    this.#inspector = inspector
    sink.publish({
      type: 'progress-start',
      id: this.#id,
      channel: key.channel,
      path: key.path,
      pipeline: key.pipeline,
      contentType: info.contentType,
      startedAt: info.startedAt,
      idleMs: info.idleMs,
    })
  }

  /** The next piece of the body, after the inspector has read it. */
  push(piece: Uint8Array): void {
    if (!this.#open) return
    this.#pending.push(piece)
    this.#pendingBytes += piece.byteLength
    const inspector = this.#inspector
    if (inspector.problem !== undefined || inspector.brands.includes('slat')) {
      this.end(false)
      return
    }
    const ready = inspector.chunkEnd - this.#published
    if (ready > 0) {
      this.#publish(ready)
      if (!this.#open) return
    }
    if (this.#pendingBytes > this.#sink.maxCopyBytes) this.end(false)
  }

  /** The upload ended: `complete` when it committed without defects (the rest is published first). */
  end(complete: boolean): void {
    if (!this.#open) return
    if (complete && this.#pendingBytes > 0) this.#publish(this.#pendingBytes)
    this.#open = false
    this.#pending = []
    this.#pendingBytes = 0
    this.#sink.publish({ type: 'progress-end', id: this.#id, complete })
  }

  #publish(bytes: number): void {
    const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending)
    const data = all.subarray(0, bytes)
    const rest = all.subarray(bytes)
    this.#pending = rest.byteLength > 0 ? [rest] : []
    this.#pendingBytes = rest.byteLength
    this.#published += bytes
    this.#sink.publish({ type: 'progress-chunk', id: this.#id, data })
    // The book withdrew the copy (over its budget): nothing more to offer.
    if (!this.#sink.isOpen(this.#id)) {
      this.#open = false
      this.#pending = []
      this.#pendingBytes = 0
    }
  }
}
