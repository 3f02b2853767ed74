/**
 * Sends a media segment still uploading (docs/delivery.md#segments-in-progress): a 200 without
 * `Content-Length` (chunked transfer coding), the chunks that arrived so far at once, then
 * each one as it arrives, from memory. When the upload commits without defects the answer
 * ends normally; when it fails, or commits defective, the answer is cut off (the connection
 * is closed without the last chunk of the transfer coding), so that neither a cache nor a
 * player takes the part for the whole, and the player's retry gets the copy selection picks
 * then. HEAD gets the same header block without a body. Byte ranges: `stream-range.ts`.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { cutShort } from '../http/respond.js'
import type { InProgressBook, InProgressCopy } from '../objects/in-progress.js'

/** Says that an answer carries a copy still uploading (RFC 9651 Boolean). */
export const IN_PROGRESS_HEADER = 'Segment-In-Progress'

/** How an answer in progress cut off (its upload failed or committed defective) is counted. */
export const UPLOAD_FAILED = 502

export function sendInProgress(
  req: IncomingMessage,
  res: ServerResponse,
  book: Pick<InProgressBook, 'follow'>,
  copy: InProgressCopy,
  headers: OutgoingHttpHeaders,
): void {
  res.writeHead(200, { ...headers, 'Content-Type': copy.contentType, [IN_PROGRESS_HEADER]: '?1' })
  if (req.method === 'HEAD') {
    res.end()
    return
  }
  let stop: (() => void) | undefined
  let ended = false
  const onClose = () => stop?.()
  // The chunks so far go out as one write.
  res.cork()
  stop = book.follow(copy, {
    chunk: (bytes) => {
      res.write(bytes)
    },
    end: (complete) => {
      ended = true
      res.off('close', onClose)
      if (complete) res.end()
      else cutShort(res, UPLOAD_FAILED)
    },
  })
  process.nextTick(() => res.uncork())
  if (!ended) res.once('close', onClose)
}
