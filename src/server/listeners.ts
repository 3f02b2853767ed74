/**
 * Starts the HTTP listeners of the roles one process serves, and drains them on shutdown:
 * stop accepting, let in-flight uploads finish, answer held requests, close idle sockets.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Role } from '../config/schema.js'
import { type ControlOptions, controlErrorHeaders, createControlHandler } from '../control/handler.js'
import { CORS, createDeliveryHandler } from '../delivery/handler.js'
import { createListener, type ListenerOptions } from '../http/listener.js'
import { ttlHeaders } from '../http/respond.js'
import { createAuthenticator } from '../ingest/auth.js'
import { createIngestHandler } from '../ingest/handler.js'
import { advertisedUrl } from '../peers/address.js'
import { startSweeper } from '../storage/sweeper.js'
import type { Context } from './context.js'

export type { Role }

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

/** What each listener passes to the one request lifecycle: its handler and its ways. */
function specifics(
  ctx: Context,
  role: Role,
  control: ControlOptions | undefined,
): Omit<ListenerOptions, 'metrics'> {
  const common = { role, log: ctx.log, maxHeaderBytes: ctx.config.ingest.maxHeaderBytes }
  if (role === 'ingest') {
    const handler = createIngestHandler(ctx, createAuthenticator(ctx.config.ingest.tokens))
    return {
      ...common,
      handler,
      defaultClass: 'ingest',
      requestIdHeader: true,
      errorHeaders: ttlHeaders(0),
      completeAfterClientEnd: true,
    }
  }
  if (role === 'delivery') {
    return { ...common, handler: createDeliveryHandler(ctx), defaultClass: 'live', errorHeaders: CORS }
  }
  const handler = createControlHandler(ctx, control)
  return { ...common, handler, defaultClass: 'control', errorHeaders: controlErrorHeaders }
}

export async function startListeners(
  ctx: Context,
  roles: readonly Role[],
  options: { control?: ControlOptions; ports?: Partial<Record<Role, number>> } = {},
): Promise<Listeners> {
  const servers = new Map<Role, Server>()
  for (const role of roles) {
    servers.set(role, createListener({ ...specifics(ctx, role, options.control), metrics: ctx.metrics }))
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

  // The process that serves the control listener receives peers' notices there, and sends
  // its own (its bus carries the commits of every process of this `serve`).
  if (ports.control !== undefined && ctx.peers) {
    await ctx.peers.start(advertisedUrl(ctx.config.host, ports.control, ctx.config.peers.advertiseUrl))
  }

  return {
    ports,
    async close(graceMs = 30_000) {
      ctx.state.draining = true
      // Peers stop sending here before the listener stops accepting.
      await ctx.peers?.close()
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
