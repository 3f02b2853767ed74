/**
 * Small helpers shared by the three listeners: JSON error bodies, lifetime headers and
 * method checks. Every answer carries `Cache-Control` and `Cache-TTL-Ms` (docs/protocol.md#delivery).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { errors, isLiveOriginError, type LiveOriginError } from '../errors.js'
import { cacheControlFor } from './cache-control.js'

/** `Cache-Control` in whole seconds (rounded down) and `Cache-TTL-Ms` in milliseconds. */
export function ttlHeaders(ttlMs: number): OutgoingHttpHeaders {
  return { ...cacheControlFor(ttlMs) }
}

/** Lifetime of error answers that are not about an object's timing (a 400 for a bad name, …). */
export const ERROR_TTL_MS = 1000

export function toLiveOriginError(err: unknown): LiveOriginError {
  return isLiveOriginError(err) ? err : errors.internal()
}

/** Where a response cut short by the origin keeps the status its request is counted with. */
export const CUT_STATUS = Symbol('liveorigin.cutStatus')

/**
 * Ends an answer whose head has gone out but whose body the origin cannot finish (storage
 * failed, the upload it streamed failed): the connection is closed short of the body, which
 * no cache keeps, and the request is counted with `status` rather than as a client that left
 * (499): 503 when storage failed, 502 when the upload did (docs/architecture.md#one-request-lifecycle).
 * A connection the client has already closed stays a 499.
 */
export function cutShort(res: ServerResponse, status: number): void {
  if (!res.destroyed && res.socket?.destroyed === false)
    (res as ServerResponse & { [CUT_STATUS]?: number })[CUT_STATUS] ??= status
  res.destroy()
}

const bodies = new Map<string, string>()
/** The JSON body of an error; the few distinct ones a busy listener sends are kept. */
function errorBody(err: LiveOriginError): string {
  const key = `${err.code}\u0000${err.message}`
  let body = bodies.get(key)
  if (body === undefined) {
    body = JSON.stringify(err.toJSON())
    if (bodies.size < 1000) bodies.set(key, body)
  }
  return body
}

/**
 * An error answer prepared once and written many times (the 404 of a segment not due yet is
 * the most frequent answer of a busy delivery listener): status, JSON body, and the error's
 * own headers with `Content-Type` and `Content-Length` as a flat `[name, value, …]` list.
 */
export interface PreparedError {
  readonly status: number
  readonly body: string
  readonly tail: readonly string[]
}

/** Prepares `err`'s answer; only for errors without headers of their own that callers override. */
export function prepareError(err: LiveOriginError): PreparedError {
  const body = errorBody(err)
  const tail: string[] = []
  for (const [name, value] of Object.entries(err.headers)) tail.push(name, value)
  tail.push('Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(body)))
  return { status: err.status, body, tail }
}

/**
 * Writes a prepared error with `head` (a flat `[name, value, …]` list of the headers that
 * differ per answer, none of them among the error's own) and its lifetime: the same answer as
 * {@link sendError} with those headers, without an `Error` or a merged header object per answer.
 */
export function sendPreparedError(
  req: IncomingMessage,
  res: ServerResponse,
  prepared: PreparedError,
  head: string[],
): void {
  if (res.headersSent) {
    cutShort(res, prepared.status)
    return
  }
  for (const h of prepared.tail) head.push(h)
  res.writeHead(prepared.status, head)
  res.end(req.method === 'HEAD' ? undefined : prepared.body)
}

/** Writes `err` as `{"error": {"code", "message"}}` with its status and headers. */
export function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  err: LiveOriginError,
  extraHeaders: OutgoingHttpHeaders = {},
): void {
  if (res.headersSent) {
    cutShort(res, err.status)
    return
  }
  const body = errorBody(err)
  res.writeHead(err.status, {
    ...ttlHeaders(ERROR_TTL_MS),
    ...err.headers,
    ...extraHeaders,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  })
  res.end(req.method === 'HEAD' ? undefined : body)
}

export function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  const body = JSON.stringify(value)
  res.writeHead(status, {
    ...ttlHeaders(0),
    'Cache-Control': 'no-store',
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  })
  res.end(req.method === 'HEAD' ? undefined : body)
}

/** Throws 405 with `Allow` unless `req.method` is one of `allowed`. */
export function checkMethod(req: IncomingMessage, allowed: readonly string[]): void {
  if (!allowed.includes(req.method ?? ''))
    throw errors.methodNotAllowed(req.method ?? '?', allowed.join(', '))
}
