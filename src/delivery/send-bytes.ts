/**
 * Sends bytes the origin made itself (a repaired copy, a filler) with the same HTTP
 * semantics as a stored object: validators, conditional requests (304), a single byte range
 * (206/416) and HEAD.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { errors } from '../errors.js'
import { notModified, parseRange } from '../http/conditional.js'
import { sendError } from '../http/respond.js'
import type { MadeBody } from '../substitutes/copies.js'

export function sendBytes(
  req: IncomingMessage,
  res: ServerResponse,
  body: MadeBody,
  headers: OutgoingHttpHeaders,
): number {
  const size = body.bytes.length
  const base: OutgoingHttpHeaders = {
    ...headers,
    ETag: body.etag,
    'Last-Modified': new Date(body.modifiedAt).toUTCString(),
    'Accept-Ranges': 'bytes',
  }
  if (notModified(req.headers, body.etag, body.modifiedAt)) {
    res.writeHead(304, base)
    res.end()
    return 304
  }
  const range = parseRange(req.headers, size, body.etag)
  if (range.kind === 'unsatisfiable') {
    sendError(req, res, errors.rangeNotSatisfiable(size), headers)
    return 416
  }
  const start = range.kind === 'partial' ? range.start : 0
  const end = range.kind === 'partial' ? range.end : size - 1
  const status = range.kind === 'partial' ? 206 : 200
  const out: OutgoingHttpHeaders = {
    ...base,
    'Content-Type': body.contentType,
    'Content-Length': Math.max(0, end - start + 1),
  }
  if (status === 206) out['Content-Range'] = `bytes ${start}-${end}/${size}`
  res.writeHead(status, out)
  if (req.method === 'HEAD') res.end()
  else res.end(status === 206 ? body.bytes.subarray(start, end + 1) : body.bytes)
  return status
}
