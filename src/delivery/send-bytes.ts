/**
 * Sends bytes the origin made itself (a repaired copy, a filler) with the same HTTP
 * semantics as a stored object: validators, conditional requests (304), a single byte range
 * (206/416) and HEAD.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { startAnswer } from '../http/representation.js'
import type { MadeBody } from '../substitutes/copies.js'

export function sendBytes(
  req: IncomingMessage,
  res: ServerResponse,
  body: MadeBody,
  headers: OutgoingHttpHeaders,
): number {
  const answer = startAnswer(req, res, { ...body, size: body.bytes.length }, headers)
  if (typeof answer === 'number') return answer
  const { status, start, end } = answer
  res.writeHead(status, answer.headers)
  if (req.method === 'HEAD') res.end()
  else res.end(status === 206 ? body.bytes.subarray(start, end + 1) : body.bytes)
  return status
}
