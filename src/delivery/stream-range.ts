/**
 * Byte ranges of a media segment still uploading (docs/delivery.md#byte-ranges-in-progress):
 * what an LL-HLS player asks for a part addressed as a `BYTERANGE` of its segment, or for a
 * preload hint that gives only `BYTERANGE-START`. A bounded range `a-b` is answered `206` once
 * bytes a…b have arrived, with `Content-Length` and `Content-Range: bytes a-b/*` (RFC 9110:
 * the complete length is not known yet). An open-ended range `a-` is answered `206` as soon
 * as byte a has arrived, then each chunk as it arrives until the upload ends, in the chunked
 * transfer coding: its last byte is not known when the header block goes out, and RFC 9110
 * has no `Content-Range` for that, so none is sent. A range that the upload ends before
 * reaching, or whose upload fails before its header block went out, is answered by selection
 * again (`reselect`: the stored copy, with its length, or another copy); one that fails after
 * is cut off, as a whole answer in progress is.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { cutShort } from '../http/respond.js'
import type { Follower, InProgressBook, InProgressCopy } from '../objects/in-progress.js'
import { IN_PROGRESS_HEADER, UPLOAD_FAILED } from './stream.js'

/** A range of a copy in progress: bytes start…end, or start… to wherever the upload ends. */
export type ProgressRange =
  | { readonly kind: 'bounded'; readonly start: number; readonly end: number }
  | { readonly kind: 'open'; readonly start: number }

const BYTES = /^bytes=(\d{1,15})-(\d{0,15})$/

/**
 * What a request asks of a copy in progress: `whole` (no range, or one that RFC 9110 lets a
 * server ignore: malformed, several ranges, another unit), a `ProgressRange`, or `stored`
 * when only the stored copy can answer it (a suffix range needs the complete length, and
 * `If-Range` the stored copy's validators).
 */
export function progressRange(headers: IncomingHttpHeaders): ProgressRange | 'whole' | 'stored' {
  const header = headers.range
  if (header === undefined) return 'whole'
  if (headers['if-range'] !== undefined || /^bytes=\s*-/.test(header.trim())) return 'stored'
  const m = BYTES.exec(header.trim())
  if (!m) return 'whole'
  const start = Number(m[1])
  if (m[2] === '') return { kind: 'open', start }
  const end = Number(m[2])
  return end < start ? 'whole' : { kind: 'bounded', start, end }
}

/** How many bytes of the copy must have arrived before the range's header block can go out. */
export function bytesNeeded(range: ProgressRange): number {
  return range.kind === 'bounded' ? range.end + 1 : range.start + 1
}

/**
 * Answers `range` of `copy` from its chunks in memory (see the module comment). `headers`
 * is called when the header block goes out (a hold's `CMSD-Dynamic` counts until then).
 */
export function sendInProgressRange(
  req: IncomingMessage,
  res: ServerResponse,
  book: Pick<InProgressBook, 'follow'>,
  copy: InProgressCopy,
  range: ProgressRange,
  headers: () => OutgoingHttpHeaders,
  reselect: () => void,
): void {
  const head = req.method === 'HEAD'
  const base = (): OutgoingHttpHeaders => ({
    ...headers(),
    'Content-Type': copy.contentType,
    'Accept-Ranges': 'bytes',
    [IN_PROGRESS_HEADER]: '?1',
  })
  /** The pieces of the bounded range seen so far. */
  const pieces: Uint8Array[] = []
  /** Offset in the copy of the next chunk. */
  let at = 0
  let started = false
  let finished = false
  let stop: (() => void) | undefined
  const onClose = () => {
    finished = true
    stop?.()
  }
  const finish = () => {
    finished = true
    res.off('close', onClose)
    stop?.()
  }
  const follower: Follower = {
    chunk: (bytes) => {
      if (finished) return
      const from = at
      at += bytes.length
      if (at <= range.start) return
      const piece = bytes.subarray(Math.max(0, range.start - from))
      if (range.kind === 'bounded') {
        pieces.push(piece.subarray(0, Math.max(0, range.end + 1 - Math.max(from, range.start))))
        if (at <= range.end) return
        finish()
        res.writeHead(206, {
          ...base(),
          'Content-Length': range.end - range.start + 1,
          'Content-Range': `bytes ${range.start}-${range.end}/*`,
        })
        if (head) res.end()
        else {
          for (const p of pieces) res.write(p)
          res.end()
        }
        return
      }
      if (!started) {
        started = true
        res.writeHead(206, base())
        if (head) {
          finish()
          res.end()
          return
        }
      }
      res.write(piece)
    },
    end: (complete) => {
      if (finished) return
      finish()
      if (!started) process.nextTick(reselect)
      else if (complete) res.end()
      else cutShort(res, UPLOAD_FAILED)
    },
  }
  // The bytes so far go out as one write.
  res.cork()
  stop = book.follow(copy, follower)
  process.nextTick(() => res.uncork())
  if (finished) stop()
  else res.once('close', onClose)
}
