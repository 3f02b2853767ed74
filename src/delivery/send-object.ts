/**
 * Sends a stored object: validators (`ETag`, `Last-Modified`), conditional requests (304),
 * a single byte range (206/416), HEAD without a body, and the body from memory or streamed
 * from storage.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { errors } from '../errors.js'
import { notModified, parseRange } from '../http/conditional.js'
import { sendError } from '../http/respond.js'
import type { ObjectReader } from '../objects/reader.js'
import type { ObjectMeta } from '../storage/types.js'

export async function sendObject(
  reader: Pick<ObjectReader, 'cacheable' | 'body' | 'stream'>,
  req: IncomingMessage,
  res: ServerResponse,
  meta: ObjectMeta,
  headers: OutgoingHttpHeaders,
): Promise<number> {
  const base: OutgoingHttpHeaders = {
    ...headers,
    ETag: meta.etag,
    'Last-Modified': new Date(meta.committedAt).toUTCString(),
    'Accept-Ranges': 'bytes',
  }
  if (notModified(req.headers, meta.etag, meta.committedAt)) {
    res.writeHead(304, base)
    res.end()
    return 304
  }
  const range = parseRange(req.headers, meta.size, meta.etag)
  if (range.kind === 'unsatisfiable') {
    sendError(req, res, errors.rangeNotSatisfiable(meta.size), headers)
    return 416
  }
  const head = req.method === 'HEAD'
  const start = range.kind === 'partial' ? range.start : 0
  const end = range.kind === 'partial' ? range.end : meta.size - 1
  const status = range.kind === 'partial' ? 206 : 200
  const out: OutgoingHttpHeaders = {
    ...base,
    'Content-Type': meta.contentType,
    'Content-Length': Math.max(0, end - start + 1),
  }
  if (status === 206) out['Content-Range'] = `bytes ${start}-${end}/${meta.size}`

  if (reader.cacheable(meta)) {
    const body = head ? undefined : await reader.body(meta)
    res.writeHead(status, out)
    if (!body) res.end()
    else res.end(status === 206 ? body.subarray(start, end + 1) : body)
    return status
  }
  res.writeHead(status, out)
  if (head || meta.size === 0) {
    res.end()
    return status
  }
  await pipeline(Readable.from(reader.stream(meta, { start, end })), res)
  return status
}
