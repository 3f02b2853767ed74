/**
 * The control listener: the JSON API for channels and masks (SPEC §4, §6), channel status,
 * `/metrics`, `/healthz`, `/readyz` and the dashboard.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isIP } from 'node:net'
import { isLoopbackHost } from '../config/load.js'
import { errors } from '../errors.js'
import { checkChannelName } from '../http/names.js'
import { checkMethod, sendError, sendJson, toLiveOriginError, ttlHeaders } from '../http/respond.js'
import type { Context } from '../server/context.js'
import { dashboardAsset, dashboardHtml } from './dashboard.js'
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

export function createControlHandler(ctx: Context, options: ControlOptions = {}) {
  const metricsText =
    options.metricsText ??
    (async () => ({
      contentType: ctx.metrics.registry.contentType,
      body: await ctx.metrics.registry.metrics(),
    }))

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://control')
    const parts = url.pathname.split('/').filter(Boolean)
    const method = req.method ?? 'GET'

    if (url.pathname === '/healthz') {
      checkMethod(req, ['GET', 'HEAD'])
      return sendJson(req, res, 200, { status: 'ok' })
    }
    if (url.pathname === '/readyz') {
      checkMethod(req, ['GET', 'HEAD'])
      const waiting = options.notReady?.()
      if (waiting !== undefined) {
        return sendJson(req, res, 503, { status: 'starting', waiting }, { 'Retry-After': '1' })
      }
      try {
        await ctx.driver.ping()
        return sendJson(req, res, 200, { status: 'ready', storage: ctx.driver.name })
      } catch (err) {
        throw errors.storageUnavailable((err as Error).message)
      }
    }
    if (url.pathname === '/metrics') {
      checkMethod(req, ['GET', 'HEAD'])
      const { contentType, body } = await metricsText()
      res.writeHead(200, { ...ttlHeaders(0), 'Cache-Control': 'no-store', 'Content-Type': contentType })
      res.end(method === 'HEAD' ? undefined : body)
      return
    }
    if (url.pathname.startsWith('/dashboard/lib/')) {
      checkMethod(req, ['GET', 'HEAD'])
      const body = dashboardAsset(url.pathname.slice('/dashboard/lib/'.length))
      if (body === undefined) throw errors.notFound(`route ${url.pathname}`)
      res.writeHead(200, {
        ...ttlHeaders(3600_000),
        'Content-Type': 'text/javascript; charset=utf-8',
        'Content-Length': body.length,
      })
      res.end(method === 'HEAD' ? undefined : body)
      return
    }
    if (url.pathname === '/' || url.pathname === '/dashboard') {
      checkMethod(req, ['GET', 'HEAD'])
      const html = dashboardHtml({ deliveryPort: ctx.config.delivery.port })
      res.writeHead(200, {
        ...ttlHeaders(0),
        'Cache-Control': 'no-store',
        'Content-Type': 'text/html; charset=utf-8',
      })
      res.end(method === 'HEAD' ? undefined : html)
      return
    }
    if (parts[0] !== 'api' || parts[1] !== 'v1' || parts[2] !== 'channels')
      throw errors.notFound(`route ${url.pathname}`)

    if (parts.length === 3) {
      checkMethod(req, ['GET', 'HEAD'])
      const { limit, cursor } = pageOf(url.searchParams)
      const page = ctx.channels.page(limit, cursor)
      return sendJson(req, res, 200, {
        channels: page.channels.map((c) => describeChannel(ctx, c)),
        total: ctx.channels.size,
        next: page.next,
      })
    }
    // Channel names never hold percent-encoding: the raw segment is checked as it came.
    const name = parts[3]!
    checkChannelName(name)
    if (method !== 'GET' && method !== 'HEAD') {
      checkSameSite(req)
      authorize(req)
      if (method === 'PUT' || method === 'POST') checkJson(req)
    }

    if (parts.length === 4) {
      checkMethod(req, ['GET', 'HEAD', 'PUT', 'DELETE'])
      if (method === 'PUT') {
        const { channel, created } = await ctx.channels.put(name, await readJson(req))
        return sendJson(req, res, created ? 201 : 200, describeChannel(ctx, channel))
      }
      if (method === 'DELETE') {
        if (!(await ctx.channels.end(name))) throw errors.unknownChannel(name)
        return sendJson(req, res, 200, { ended: name })
      }
      const channel = ctx.channels.get(name)
      if (!channel) throw errors.unknownChannel(name)
      return sendJson(req, res, 200, describeChannel(ctx, channel))
    }
    if (parts.length === 5 && parts[4] === 'status') {
      checkMethod(req, ['GET', 'HEAD'])
      const channel = ctx.channels.get(name)
      if (!channel) throw errors.unknownChannel(name)
      return sendJson(req, res, 200, await channelStatus(ctx, channel))
    }
    if (parts.length === 5 && parts[4] === 'masks') {
      checkMethod(req, ['GET', 'HEAD', 'POST', 'DELETE'])
      const channel = ctx.channels.get(name)
      if (!channel) throw errors.unknownChannel(name)
      if (method === 'POST')
        return sendJson(req, res, 201, { mask: await ctx.channels.addMask(name, await readJson(req)) })
      if (method === 'DELETE') {
        const pipeline = url.searchParams.get('pipeline') ?? undefined
        const from = url.searchParams.get('from')
        const to = url.searchParams.get('to')
        const range = from !== null && to !== null ? { from: Number(from), to: Number(to) } : undefined
        if (range && (!Number.isInteger(range.from) || !Number.isInteger(range.to))) {
          throw errors.badQuery('from and to must be segment numbers')
        }
        return sendJson(req, res, 200, { removed: await ctx.channels.removeMasks(name, pipeline, range) })
      }
      return sendJson(req, res, 200, { masks: channel.masks })
    }
    throw errors.notFound(`route ${url.pathname}`)
  }

  const tokenDigest = ctx.config.control.token === undefined ? undefined : digest(ctx.config.control.token)
  function authorize(req: IncomingMessage): void {
    if (!tokenDigest) return
    const m = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '')
    // Digests of equal length, compared in constant time: the answer's timing says nothing of the token.
    if (!m || !timingSafeEqual(digest(m[1]!), tokenDigest))
      throw errors.unauthorized('control API writes need the control token')
  }

  const bare = (h: string) => (isIP(h) === 6 ? `[${h.toLowerCase()}]` : hostName(h))
  const allowedHosts = new Set([ctx.config.host, ...ctx.config.control.allowedHosts].map(bare))
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

  return (req: IncomingMessage, res: ServerResponse): void => {
    route(req, res).catch((err) => {
      const e = toLiveOriginError(err)
      if (e.status >= 500) ctx.log.error({ err, url: req.url }, 'control request failed')
      sendError(req, res, e, { 'Cache-Control': 'no-store' })
    })
  }
}

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
