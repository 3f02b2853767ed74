/**
 * Starts the HTTP listeners of the roles one process serves, and drains them on shutdown:
 * stop accepting, let in-flight uploads finish, answer held requests, close idle sockets.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { type ControlOptions, createControlHandler } from '../control/handler.js'
import { createDeliveryHandler } from '../delivery/handler.js'
import { errors, type LiveOriginError } from '../errors.js'
import { createAuthenticator } from '../ingest/auth.js'
import { createIngestHandler } from '../ingest/handler.js'
import { startSweeper } from '../storage/sweeper.js'
import type { Context } from './context.js'

export type Role = 'ingest' | 'delivery' | 'control'

/** A listener could not bind its port (in use, not allowed): one line naming it. */
export class ListenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ListenError'
  }
}

export interface Listeners {
  /** Bound ports by role. */
  readonly ports: Partial<Record<Role, number>>
  /** Stops accepting, waits for in-flight requests (at most `graceMs`), then resolves. */
  close(graceMs?: number): Promise<void>
}

function portOf(config: Context['config'], role: Role): number {
  return role === 'ingest'
    ? config.ingest.port
    : role === 'delivery'
      ? config.delivery.port
      : config.control.port
}

export async function startListeners(
  ctx: Context,
  roles: readonly Role[],
  options: { control?: ControlOptions; ports?: Partial<Record<Role, number>> } = {},
): Promise<Listeners> {
  const servers = new Map<Role, Server>()
  for (const role of roles) {
    const handler =
      role === 'ingest'
        ? createIngestHandler(ctx, createAuthenticator(ctx.config.ingest.tokens))
        : role === 'delivery'
          ? createDeliveryHandler(ctx)
          : createControlHandler(ctx, options.control)
    const server = createServer(
      { maxHeaderSize: ctx.config.ingest.maxHeaderBytes, keepAliveTimeout: 65_000, requestTimeout: 0 },
      (req, res) => {
        toOriginForm(req)
        handler(req, res)
      },
    )
    // Uploads may be long; stalled ones are ended by ingestIdleMs instead.
    server.headersTimeout = 30_000
    server.on('clientError', answerClientError)
    servers.set(role, server)
  }
  const ports: Partial<Record<Role, number>> = {}
  try {
    for (const [role, server] of servers) {
      const port = options.ports?.[role] ?? portOf(ctx.config, role)
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) =>
          reject(
            new ListenError(
              `cannot listen on ${ctx.config.host}:${port} (${role}): ${err.code ?? err.message}`,
              {
                cause: err,
              },
            ),
          ),
        )
        server.listen(port, ctx.config.host, () => {
          server.removeAllListeners('error')
          resolve()
        })
      })
      ports[role] = (server.address() as AddressInfo).port
    }
  } catch (err) {
    for (const s of servers.values()) s.close()
    throw err
  }
  if (roles.includes('delivery')) ctx.admission.start()
  // The process that owns writes expires them, unless the driver's records expire by themselves.
  const stopSweeper =
    roles.includes('ingest') && !ctx.driver.capabilities.nativeTtl
      ? startSweeper(ctx.driver, ctx.config.storage.sweepIntervalMs, ctx.now, (o) => {
          if ('error' in o) ctx.log.warn({ err: o.error }, 'expiry sweep failed')
          else if (o.removed > 0)
            ctx.log.debug({ removed: o.removed, ms: o.durationMs }, 'expired records swept')
        })
      : undefined

  return {
    ports,
    async close(graceMs = 30_000) {
      ctx.state.draining = true
      const sweeperStopped = stopSweeper?.()
      const closed = [...servers.values()].map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve())
            s.closeIdleConnections()
          }),
      )
      // Held requests are answered now (503, retry shortly) rather than kept to their deadline.
      ctx.holds.clear()
      const timer = setTimeout(() => {
        for (const s of servers.values()) s.closeAllConnections()
      }, graceMs)
      await Promise.all(closed)
      await sweeperStopped
      clearTimeout(timer)
    },
  }
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
  if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') {
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
