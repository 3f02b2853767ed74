/**
 * Guards an upload's body as it is read (docs/protocol.md#ingest, docs/security.md): no bytes for `idleMs` is a stall
 * (408 `UPLOAD_TIMEOUT`), fewer than `minBytesPerSecond` on average over a window is a
 * trickle (408 `UPLOAD_TOO_SLOW`), more than `maxBytes` is refused (413 `MANIFEST_TOO_LARGE`).
 * Only time spent waiting for the client counts: while storage holds the body back, the
 * clocks stop. A refusal fails the body's iteration, so nothing is committed, and is handed
 * to `onRefuse` so that the caller can answer with it.
 */
import type { IncomingMessage } from 'node:http'
import { errors, type LiveOriginError } from '../errors.js'

export interface GuardOptions {
  readonly idleMs: number
  /** 0: no minimum rate. */
  readonly minBytesPerSecond: number
  readonly windowMs: number
  /** Bytes beyond this fail with `MANIFEST_TOO_LARGE` (only manifests have a limit of their own). */
  readonly maxBytes?: number | undefined
  readonly onRefuse: (err: LiveOriginError) => void
}

export async function* guardBody(req: IncomingMessage, options: GuardOptions): AsyncGenerator<Buffer> {
  const { idleMs, minBytesPerSecond, windowMs, maxBytes, onRefuse } = options
  const chunks = req[Symbol.asyncIterator]()
  const minWindowBytes = (minBytesPerSecond * windowMs) / 1000
  let total = 0
  let windowBytes = 0
  /** Time spent waiting for the client in the current window. */
  let windowWaited = 0
  let idleTimer: NodeJS.Timeout | undefined
  let rateTimer: NodeJS.Timeout | undefined
  let fail: ((err: LiveOriginError) => void) | undefined
  const refuse = (err: LiveOriginError) => {
    onRefuse(err)
    fail?.(err)
  }
  // The window is over: a trickle is refused, otherwise the next window starts.
  const windowEnds = (): boolean => {
    if (minWindowBytes > 0 && windowBytes < minWindowBytes) {
      refuse(errors.uploadTooSlow(windowBytes, windowMs, minBytesPerSecond))
      return false
    }
    windowBytes = 0
    windowWaited = 0
    return true
  }
  try {
    for (;;) {
      const waitStart = performance.now()
      const failed = new Promise<never>((_, reject) => {
        fail = reject
      })
      idleTimer = setTimeout(() => refuse(errors.uploadTimeout(idleMs)), idleMs)
      if (minWindowBytes > 0) {
        const armRate = (ms: number) => {
          rateTimer = setTimeout(() => {
            if (windowEnds()) armRate(windowMs)
          }, ms)
        }
        armRate(Math.max(0, windowMs - windowWaited))
      }
      let next: IteratorResult<Buffer>
      try {
        next = await Promise.race([chunks.next(), failed])
      } finally {
        clearTimeout(idleTimer)
        clearTimeout(rateTimer)
        fail = undefined
      }
      if (next.done) return
      const chunk = next.value
      total += chunk.byteLength
      windowBytes += chunk.byteLength
      windowWaited += performance.now() - waitStart
      if (maxBytes !== undefined && total > maxBytes) {
        const err = errors.manifestTooLarge(maxBytes)
        onRefuse(err)
        throw err
      }
      if (minWindowBytes > 0 && windowWaited >= windowMs && !windowEnds()) {
        throw errors.uploadTooSlow(windowBytes, windowMs, minBytesPerSecond)
      }
      yield chunk
    }
  } finally {
    clearTimeout(idleTimer)
    clearTimeout(rateTimer)
  }
}
