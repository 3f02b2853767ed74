/**
 * The control listener: the JSON API for channels and masks (docs/protocol.md#channels-and-segment-templates, #quality-control-and-selection), channel status,
 * `/metrics`, `/healthz`, `/readyz` and the dashboard.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isIP } from 'node:net'
import { isLoopbackHost } from '../config/load.js'
import { errors } from '../errors.js'
import { checkChannelName } from '../http/names.js'
import { sendJson, ttlHeaders } from '../http/respond.js'
import { createRouter, type Params, type Route } from '../http/router.js'
import { advertisedHost } from '../peers/address.js'
import { dashboardAsset, dashboardHtml } from './dashboard.js'
import type { ControlDeps } from './deps.js'
import { channelStatus, describeChannel } from './status.js'

const MAX_BODY_BYTES = 1024 * 1024
/** Channels per page of `GET /api/v1/channels`: default and most. */
const DEFAULT_PAGE = 100
const MAX_PAGE = 1000

export interface ControlOptions {
  /** Prometheus text of every process (the supervisor aggregates its workers). */
  metricsText?: () => Promise<{ contentType: string; body: string }>
  /**
   * Why this node is not ready yet (a worker process not listening), or undefined when every
   * listener accepts. Storage reachability is checked besides.
   */
  notReady?: () => string | undefined
}

/** The host name of a `Host` header value or URL authority, without port or brackets. */
function hostName(authority: string): string {
  const a = authority.trim().toLowerCase()
  if (a.startsWith('[')) return a.slice(0, a.indexOf(']') + 1)
  const colon = a.lastIndexOf(':')
  return colon === -1 ? a : a.slice(0, colon)
}

const digest = (s: string) => createHash('sha256').update(s).digest()

export function createControlHandler(ctx: ControlDeps, options: ControlOptions = {}) {
  const metricsText =
    options.metricsText ??
    (async () => ({
      contentType: ctx.metrics.registry.contentType,
      body: await ctx.metrics.registry.metrics(),
    }))

  /** A channel's routes check its name, and writes pass the guards before the method is looked up. */
  function channelGuard(req: IncomingMessage, params: Params): void {
    // Channel names never hold percent-encoding: the raw segment is checked as it came.
    checkChannelName(params.channel!)
    if (req.method === 'GET' || req.method === 'HEAD') return
    checkSameSite(req)
    authorize(req)
    if (req.method === 'PUT' || req.method === 'POST') checkJson(req)
  }
  function existing(params: Params) {
    const channel = ctx.channels.get(params.channel!)
    if (!channel) throw errors.unknownChannel(params.channel!)
    return channel
  }
  const sendPage = (req: IncomingMessage, res: ServerResponse, type: string, body: string) => {
    res.writeHead(200, { ...ttlHeaders(0), 'Cache-Control': 'no-store', 'Content-Type': type })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
  const dashboard: Route['methods'] = {
    GET: (req, res) =>
      sendPage(
        req,
        res,
        'text/html; charset=utf-8',
        dashboardHtml({ deliveryPort: ctx.config.delivery.port }),
      ),
  }

  const routes: Route[] = [
    { path: '/healthz', methods: { GET: (req, res) => sendJson(req, res, 200, { status: 'ok' }) } },
    {
      path: '/readyz',
      methods: {
        GET: async (req, res) => {
          const waiting = options.notReady?.()
          if (waiting !== undefined) {
            return sendJson(req, res, 503, { status: 'starting', waiting }, { 'Retry-After': '1' })
          }
          try {
            await ctx.driver.ping()
          } catch (err) {
            throw errors.storageUnavailable((err as Error).message)
          }
          return sendJson(req, res, 200, { status: 'ready', storage: ctx.driver.name })
        },
      },
    },
    {
      path: '/metrics',
      methods: {
        GET: async (req, res) => {
          const { contentType, body } = await metricsText()
          sendPage(req, res, contentType, body)
        },
      },
    },
    { path: '/', methods: dashboard },
    {
      // The preview player's scripts, from the installed packages (no external URLs).
      path: '/dashboard/lib/:file',
      methods: {
        GET: (req, res, params) => {
          const body = dashboardAsset(params.file!)
          if (body === undefined) throw errors.notFound(`route /dashboard/lib/${params.file}`)
          res.writeHead(200, {
            ...ttlHeaders(3600_000),
            'Content-Type': 'text/javascript; charset=utf-8',
            'Content-Length': body.length,
          })
          res.end(req.method === 'HEAD' ? undefined : body)
        },
      },
    },
    { path: '/dashboard', methods: dashboard },
    {
      // What this node knows of the other nodes: heartbeats, skips, clock offsets.
      path: '/api/v1/peers',
      methods: {
        GET: (req, res) =>
          sendJson(req, res, 200, ctx.peers ? { enabled: true, ...ctx.peers.status() } : { enabled: false }),
      },
    },
    {
      // Another node's commits and removals (docs/running-at-scale.md#peer-notices).
      path: '/api/v1/peers/notices',
      before: (req) => {
        if (req.method === 'GET' || req.method === 'HEAD') return
        checkSameSite(req)
        authorize(req)
        checkJson(req)
      },
      methods: {
        POST: async (req, res) => {
          if (!ctx.peers) throw errors.notFound('peer notices (peers.enabled is off on this node)')
          const answer = ctx.peers.receive(await readJson(req))
          // A node shutting down lets go of its peers' kept-alive connections, which would
          // otherwise hold its listener open until the drain's grace period ends.
          return sendJson(req, res, 200, answer, ctx.state.draining ? { Connection: 'close' } : {})
        },
      },
    },
    {
      path: '/api/v1/channels',
      methods: {
        GET: (req, res, _params, url) => {
          const { limit, cursor } = pageOf(url.searchParams)
          const page = ctx.channels.page(limit, cursor)
          return sendJson(req, res, 200, {
            channels: page.channels.map((c) => describeChannel(ctx, c)),
            total: ctx.channels.size,
            next: page.next,
          })
        },
      },
    },
    {
      path: '/api/v1/channels/:channel',
      before: channelGuard,
      methods: {
        GET: (req, res, params) => sendJson(req, res, 200, describeChannel(ctx, existing(params))),
        PUT: async (req, res, params) => {
          const { channel, created } = await ctx.channels.put(params.channel!, await readJson(req))
          return sendJson(req, res, created ? 201 : 200, describeChannel(ctx, channel))
        },
        DELETE: async (req, res, params) => {
          if (!(await ctx.channels.end(params.channel!))) throw errors.unknownChannel(params.channel!)
          return sendJson(req, res, 200, { ended: params.channel })
        },
      },
    },
    {
      path: '/api/v1/channels/:channel/status',
      before: channelGuard,
      methods: {
        GET: async (req, res, params) => sendJson(req, res, 200, await channelStatus(ctx, existing(params))),
      },
    },
    {
      path: '/api/v1/channels/:channel/masks',
      before: channelGuard,
      methods: {
        GET: (req, res, params) => sendJson(req, res, 200, { masks: existing(params).masks }),
        POST: async (req, res, params) => {
          existing(params)
          const mask = await ctx.channels.addMask(params.channel!, await readJson(req))
          return sendJson(req, res, 201, { mask })
        },
        DELETE: async (req, res, params, url) => {
          existing(params)
          const pipeline = url.searchParams.get('pipeline') ?? undefined
          const from = url.searchParams.get('from')
          const to = url.searchParams.get('to')
          const range = from !== null && to !== null ? { from: Number(from), to: Number(to) } : undefined
          if (range && (!Number.isInteger(range.from) || !Number.isInteger(range.to))) {
            throw errors.badQuery('from and to must be segment numbers')
          }
          const removed = await ctx.channels.removeMasks(params.channel!, pipeline, range)
          return sendJson(req, res, 200, { removed })
        },
      },
    },
  ]

  const tokenDigest = ctx.config.control.token === undefined ? undefined : digest(ctx.config.control.token)
  function authorize(req: IncomingMessage): void {
    if (!tokenDigest) return
    const m = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '')
    // Digests of equal length, compared in constant time: the answer's timing says nothing of the token.
    if (!m || !timingSafeEqual(digest(m[1]!), tokenDigest))
      throw errors.unauthorized('control API writes need the control token')
  }

  const bare = (h: string) => (isIP(h) === 6 ? `[${h.toLowerCase()}]` : hostName(h))
  const advertised = advertisedHost(ctx.config.peers.advertiseUrl)
  const allowedHosts = new Set(
    [ctx.config.host, ...ctx.config.control.allowedHosts, ...(advertised ? [advertised] : [])].map(bare),
  )
  /**
   * A web page must not drive the control API (CSRF, DNS rebinding): a browser always sends
   * `Origin` on cross-site writes, and a rebound name arrives as `Host`.
   */
  function checkSameSite(req: IncomingMessage): void {
    const host = req.headers.host ?? ''
    const name = hostName(host)
    if (!isLoopbackHost(name) && !allowedHosts.has(name) && !allowedHosts.has('*')) {
      throw errors.crossSite(
        `Host "${host}" is not a loopback name, the configured host or one of control.allowedHosts`,
      )
    }
    const origin = req.headers.origin
    if (origin === undefined) return
    let same = false
    try {
      const o = new URL(origin)
      same = (o.protocol === 'http:' || o.protocol === 'https:') && o.host === host.toLowerCase()
    } catch {
      same = false
    }
    if (!same) throw errors.crossSite(`Origin "${origin}" is not this control listener (${host})`)
  }

  // Errors are answered by the request lifecycle (`http/listener.ts`), with `controlErrorHeaders`.
  return createRouter(routes)
}

/** Headers of the control listener's error answers: never cached. */
export const controlErrorHeaders = { 'Cache-Control': 'no-store' } as const

/** Writes carry JSON: a form or text body (what a page can send without asking) is refused. */
function checkJson(req: IncomingMessage): void {
  const type = req.headers['content-type'] ?? ''
  const essence = type.split(';')[0]!.trim().toLowerCase()
  if (essence !== 'application/json') throw errors.unsupportedMediaType(type)
}

function pageOf(params: URLSearchParams): { limit: number; cursor: string | undefined } {
  const raw = params.get('limit')
  let limit = DEFAULT_PAGE
  if (raw !== null) {
    limit = Number(raw)
    if (!/^\d+$/.test(raw) || limit < 1 || limit > MAX_PAGE)
      throw errors.badQuery(`limit must be an integer from 1 to ${MAX_PAGE}`)
  }
  const cursor = params.get('cursor') ?? undefined
  if (cursor !== undefined) checkChannelName(cursor)
  return { limit, cursor }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY_BYTES) throw errors.tooLarge(MAX_BODY_BYTES)
    chunks.push(chunk as Buffer)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (text.trim() === '') throw errors.badRequest('a JSON body is required')
  try {
    return JSON.parse(text)
  } catch (err) {
    throw errors.badRequest(`body is not valid JSON: ${(err as Error).message}`)
  }
}
