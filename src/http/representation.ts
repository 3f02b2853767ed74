/**
 * The start of an answer with a body, whatever holds the bytes (a stored object, a copy the
 * origin made): validators (`ETag`, `Last-Modified`), conditional requests (304) and a single
 * byte range (206/416).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { errors } from '../errors.js'
import { notModified, parseRange } from './conditional.js'
import { sendError } from './respond.js'

/** What the validators and the range of an answer are computed from. */
export interface Representation {
  /** Strong entity tag, quoted. */
  readonly etag: string
  /** `Last-Modified` (epoch ms). */
  readonly modifiedAt: number
  readonly size: number
  readonly contentType: string
}

/** A 200 or 206 still to send: its status and headers, and the bytes [start, end] it carries. */
export interface BodyAnswer {
  readonly status: 200 | 206
  readonly headers: OutgoingHttpHeaders
  readonly start: number
  readonly end: number
}

/**
 * Answers a 304 (the client's copy is current) or a 416 (the range cannot be served) and
 * returns its status; otherwise returns the 200 or 206 to send, for the caller to write with
 * its bytes.
 */
export function startAnswer(
  req: IncomingMessage,
  res: ServerResponse,
  rep: Representation,
  headers: OutgoingHttpHeaders,
): number | BodyAnswer {
  // One header object per answer, completed in place (a 304 carries the validators only).
  const out: OutgoingHttpHeaders = {
    ...headers,
    ETag: rep.etag,
    'Last-Modified': httpDate(rep.modifiedAt),
    'Accept-Ranges': 'bytes',
  }
  if (notModified(req.headers, rep.etag, rep.modifiedAt)) {
    res.writeHead(304, out)
    res.end()
    return 304
  }
  const range = parseRange(req.headers, rep.size, rep.etag)
  if (range.kind === 'unsatisfiable') {
    sendError(req, res, errors.rangeNotSatisfiable(rep.size), headers)
    return 416
  }
  const start = range.kind === 'partial' ? range.start : 0
  const end = range.kind === 'partial' ? range.end : rep.size - 1
  const status = range.kind === 'partial' ? 206 : 200
  out['Content-Type'] = rep.contentType
  out['Content-Length'] = Math.max(0, end - start + 1)
  if (status === 206) out['Content-Range'] = `bytes ${start}-${end}/${rep.size}`
  return { status, headers: out, start, end }
}

let lastDateMs = Number.NaN
let lastDate = ''
/**
 * `Last-Modified` of `ms` (IMF-fixdate). The last one is kept: the answers of a busy
 * listener (every waiter of one held object, the live edge) are mostly of one object.
 */
function httpDate(ms: number): string {
  if (ms !== lastDateMs) {
    lastDate = new Date(ms).toUTCString()
    lastDateMs = ms
  }
  return lastDate
}
