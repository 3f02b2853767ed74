/**
 * One request lifecycle for every listener (ingest, delivery, control): the request target
 * in origin form, a request id, the finish metrics, an access log line, and any error the
 * handler throws or rejects with answered as JSON with its catalogue code. Handlers only
 * decide the answer; what differs between listeners is passed in.
 */
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { Socket } from 'node:net'
import { errors, type LiveOriginError } from '../errors.js'
import { type Logger, nextRequestId } from '../observability/log.js'
import { type Metrics, observeTally, tallyOf } from '../observability/metrics.js'
import { CUT_STATUS, sendError, toLiveOriginError } from './respond.js'

/** What the lifecycle knows of one request, handed to its handler. */
export interface Exchange {
  /** The request id: in the log lines of the request (and `X-Request-Id` where sent). */
  readonly id: string
  /** `performance.now()` when the request arrived. */
  readonly started: number
  /** The class the finish metrics count the request in; a handler sets it once it knows. */
  klass: string
  /** The listener's logger, bound to the request id. */
  readonly log: Logger
}

/** A listener's handler: answers `res`; a throw or a rejection is answered by the lifecycle. */
export type Handler = (req: IncomingMessage, res: ServerResponse, exchange: Exchange) => void | Promise<void>

export interface ListenerOptions {
  /** The listener's role, the `role` label of the request metrics. */
  readonly role: string
  readonly handler: Handler
  readonly metrics: Pick<Metrics, 'requests' | 'requestDuration'>
  readonly log: Logger
  /** The class a request counts in until its handler says otherwise. */
  readonly defaultClass: string
  /** Whether answers carry `X-Request-Id`. */
  readonly requestIdHeader?: boolean
  /** Extra headers of an error answer the lifecycle makes (CORS, cache lifetime). */
  readonly errorHeaders?: OutgoingHttpHeaders
  /** Largest request header block (431 beyond). */
  readonly maxHeaderBytes: number
  /**
   * Whether a request whose client closed its side after sending it whole is still carried
   * out (ingest: ffmpeg's HTTP output ends every chunked PUT that way, without waiting for the
   * answer). Off, a client's end of stream destroys the requests in flight, which is how a
   * listener that holds requests hears that the client left.
   */
  readonly completeAfterClientEnd?: boolean
}

/**
 * One request's {@link Exchange}. The id and the logger child are made when something reads
 * them (most answers never log); a class rather than an object literal, so that a request
 * allocates no getter functions.
 */
class RequestExchange implements Exchange {
  readonly started = performance.now()
  #id: string | undefined
  #log: Logger | undefined
  readonly #listenerLog: Logger
  constructor(
    public klass: string,
    listenerLog: Logger,
  ) {
    this.#listenerLog = listenerLog
  }
  get id(): string {
    this.#id ??= nextRequestId()
    return this.#id
  }
  get log(): Logger {
    this.#log ??= this.#listenerLog.child({ reqId: this.id })
    return this.#log
  }
}

/** Where a response keeps its request's exchange, for the listener's one `close` handler. */
const EXCHANGE = Symbol('liveorigin.exchange')
type TrackedResponse = ServerResponse & { [EXCHANGE]?: RequestExchange; [CUT_STATUS]?: number }

/** An HTTP server whose every request goes through the one lifecycle. */
export function createListener(options: ListenerOptions): Server {
  const { role, handler, log, defaultClass } = options
  const requests = tallyOf(options.metrics.requests)
  const duration = observeTally(options.metrics.requestDuration, role)
  // 'close' follows every answer, complete ('finish' first) or not: a client that left before
  // the answer was complete is counted as nginx does, 499; an answer the origin cut short
  // (`cutShort`) with the status it was given. One function for every response (it finds
  // the request's exchange on it): no closure per request.
  function closed(this: TrackedResponse): void {
    const exchange = this[EXCHANGE]
    if (!exchange) return
    const status = this.writableFinished ? this.statusCode : (this[CUT_STATUS] ?? 499)
    requests(role, exchange.klass, String(status)).inc()
    const ms = performance.now() - exchange.started
    duration.observe(ms / 1000)
    if (log.isLevelEnabled('debug')) {
      exchange.log.debug(
        { method: this.req.method, url: this.req.url, status, ms: Math.round(ms) },
        'request',
      )
    }
  }
  const fail = (req: IncomingMessage, res: ServerResponse, exchange: Exchange, err: unknown) => {
    const e: LiveOriginError = toLiveOriginError(err)
    if (e.status >= 500)
      exchange.log.error({ err, method: req.method, url: req.url }, `${role} request failed`)
    sendError(req, res, e, options.errorHeaders)
  }
  const server = createServer(
    { maxHeaderSize: options.maxHeaderBytes, keepAliveTimeout: 65_000, requestTimeout: 0 },
    (req, res: TrackedResponse) => {
      toOriginForm(req)
      const exchange = new RequestExchange(defaultClass, log)
      if (options.requestIdHeader) res.setHeader('X-Request-Id', exchange.id)
      res[EXCHANGE] = exchange
      res.on('close', closed)
      try {
        const work = handler(req, res, exchange)
        if (work) work.catch((err: unknown) => fail(req, res, exchange, err))
      } catch (err) {
        fail(req, res, exchange, err)
      }
    },
  )
  // Uploads may be long; stalled ones are ended by ingestIdleMs instead.
  server.headersTimeout = 30_000
  // node:http's own switch, read on every connection: with it, a client's end of stream no
  // longer destroys a request whose body is still being read; the answer ends the connection.
  if (options.completeAfterClientEnd)
    (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true
  server.on('clientError', answerClientError)
  return server
}

const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/

/**
 * A request target in absolute form (`PUT http://origin:8081/ch/x HTTP/1.1`, what a client
 * talking to a proxy sends) is accepted as RFC 9112 §3.2.2 requires: the path and query of
 * the URI are the target, and its authority replaces `Host`. The path is kept raw (never
 * decoded), so that the name rules see exactly what was sent.
 */
export function toOriginForm(req: IncomingMessage): void {
  const url = req.url ?? '/'
  if (url.startsWith('/')) return
  const m = ABSOLUTE_FORM.exec(url)
  if (!m) return
  const rest = url.slice(m[0].length)
  req.url = rest === '' || rest.startsWith('?') ? `/${rest}` : rest
  const authority = m[1]!.slice(m[1]!.lastIndexOf('@') + 1)
  if (authority !== '') req.headers.host = authority
}

/**
 * Requests Node's HTTP parser refuses before any handler runs (oversized or malformed
 * headers) still get a JSON error naming the problem.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  // A client that closed its side mid-request (HPE_INVALID_EOF_STATE) or reset the connection
  // will send nothing more: the request in progress is aborted at once (an upload then frees
  // its share of the budget and commits nothing) rather than waiting for its idle limit.
  if (!socket.writable || err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE') {
    socket.destroy()
    return
  }
  const e: LiveOriginError =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? errors.headersTooLarge()
      : errors.badRequest(`malformed HTTP request (${err.code ?? 'parse error'})`)
  const body = JSON.stringify(e.toJSON())
  const reason = e.status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'
  const answer = () =>
    socket.end(
      `HTTP/1.1 ${e.status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: max-age=1\r\nCache-TTL-Ms: 1000\r\nConnection: close\r\n\r\n${body}`,
    )
  // The bad bytes may follow a whole request still being answered (a body longer than its
  // Content-Length: the rest reads as the next request): that answer goes out first.
  const pending = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage
  if (pending && !pending.writableFinished) {
    pending.once('finish', () => {
      if (socket.writable) answer()
    })
    pending.once('close', () => {
      if (socket.writable && !pending.writableFinished) socket.destroy()
    })
    return
  }
  answer()
}
