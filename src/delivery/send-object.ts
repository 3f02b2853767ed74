/**
 * Sends a stored object: validators (`ETag`, `Last-Modified`), conditional requests (304),
 * a single byte range (206/416), HEAD without a body, and the body from memory or streamed
 * from storage. With `headFirst` (requests released together from a hold) the header block
 * goes out at once, before the body is read, and the body on a later turn of the event loop,
 * so that every waiter released together gets its answer's head as soon as selection has
 * chosen the copy, before any of them gets a whole body (docs/protocol.md#holds). A body that
 * then cannot be read ends the connection short of its `Content-Length`, as a body streamed
 * from storage does: no cache keeps such an answer.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { startAnswer } from '../http/representation.js'
import { cutShort } from '../http/respond.js'
import type { ObjectReader } from '../objects/reader.js'
import type { ObjectMeta } from '../storage/types.js'

/** How an answer cut short because its body could not be read from storage is counted. */
const STORAGE_FAILED = 503

export async function sendObject(
  reader: Pick<ObjectReader, 'cacheable' | 'body' | 'stream'>,
  req: IncomingMessage,
  res: ServerResponse,
  meta: ObjectMeta,
  headers: OutgoingHttpHeaders,
  headFirst = false,
): Promise<number> {
  const answer = startAnswer(
    req,
    res,
    { etag: meta.etag, modifiedAt: meta.committedAt, size: meta.size, contentType: meta.contentType },
    headers,
  )
  if (typeof answer === 'number') return answer
  const { status, headers: out, start, end } = answer
  const head = req.method === 'HEAD'

  if (reader.cacheable(meta)) {
    if (head) {
      res.writeHead(status, out)
      res.end()
      return status
    }
    if (headFirst) {
      res.writeHead(status, out)
      res.flushHeaders()
    }
    let body: Buffer
    try {
      body = await reader.body(meta)
    } catch (err) {
      if (headFirst) cutShort(res, STORAGE_FAILED)
      throw err
    }
    const bytes = status === 206 ? body.subarray(start, end + 1) : body
    if (!headFirst) {
      res.writeHead(status, out)
      res.end(bytes)
    } else setImmediate(() => res.end(bytes))
    return status
  }
  res.writeHead(status, out)
  if (head || meta.size === 0) {
    res.end()
    return status
  }
  try {
    await pipeline(Readable.from(cutShortOnFailure(reader.stream(meta, { start, end }), res)), res)
  } catch (err) {
    // The client left mid-body: nobody to answer, and nothing went wrong here (counted 499).
    if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err
  }
  return status
}

/**
 * The body's pieces; a read that fails cuts the answer short as a storage failure while the
 * connection is still open (a client that left ends the pieces without a failure).
 */
async function* cutShortOnFailure(
  pieces: AsyncIterable<Buffer>,
  res: ServerResponse,
): AsyncGenerator<Buffer> {
  try {
    yield* pieces
  } catch (err) {
    cutShort(res, STORAGE_FAILED)
    throw err
  }
}
