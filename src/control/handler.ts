/**
 * The control listener: the JSON API for channels and masks (SPEC §4, §6), channel status,
 * `/metrics`, `/healthz`, `/readyz` and the dashboard.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { errors } from '../errors.js'
import { checkChannelName } from '../http/names.js'
import { checkMethod, sendError, sendJson, toLiveOriginError, ttlHeaders } from '../http/respond.js'
import type { Context } from '../server/context.js'
import { dashboardHtml } from './dashboard.js'
import { channelStatus, describeChannel } from './status.js'

const MAX_BODY_BYTES = 1024 * 1024

export interface ControlOptions {
  /** Prometheus text of every process (the supervisor aggregates its workers). */
  metricsText?: () => Promise<{ contentType: string; body: string }>
}

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
    if (url.pathname === '/' || url.pathname === '/dashboard') {
      checkMethod(req, ['GET', 'HEAD'])
      const html = dashboardHtml()
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
      return sendJson(req, res, 200, { channels: ctx.channels.list().map((c) => describeChannel(ctx, c)) })
    }
    const name = decodeURIComponent(parts[3]!)
    checkChannelName(name)
    if (method !== 'GET' && method !== 'HEAD') authorize(req)

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

  function authorize(req: IncomingMessage): void {
    const token = ctx.config.control.token
    if (!token) return
    if (req.headers.authorization !== `Bearer ${token}`)
      throw errors.unauthorized('control API writes need the control token')
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    route(req, res).catch((err) => {
      const e = toLiveOriginError(err)
      if (e.status >= 500) ctx.log.error({ err, url: req.url }, 'control request failed')
      sendError(req, res, e, { 'Cache-Control': 'no-store' })
    })
  }
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
