/**
 * The ingest listener (PUT/POST/DELETE from packagers, SPEC §5). Streams each upload into
 * storage chunk by chunk, inspects fragmented MP4 media segments on the way (box headers
 * only), records defects, and answers 2xx only once the object is durable and visible.
 * An upload that fails, stalls or is cut off leaves nothing visible.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { errors, isLiveOriginError, type LiveOriginError } from '../errors.js'
import { contentTypeFor, isFragmentedMp4 } from '../http/content-type.js'
import { parseObjectName } from '../http/names.js'
import { checkMethod, sendError, sendJson, toLiveOriginError, ttlHeaders } from '../http/respond.js'
import { nextRequestId } from '../observability/log.js'
import { mergeDefects, parseDefects, serializeDefects } from '../selection/defects.js'
import { endedMarker } from '../selection/ended.js'
import { FragmentInspector } from '../selection/fmp4.js'
import { inspectSegment } from '../selection/inspect.js'
import type { Defect } from '../selection/types.js'
import type { Context } from '../server/context.js'
import type { ChannelConfig } from '../timing/channel-config.js'
import { availabilityAt, EXPIRY_MARGIN_MS, segmentExpiresAt } from '../timing/schedule.js'
import { compilePathMatcher, type PathMatch } from '../timing/template.js'
import type { Authenticator } from './auth.js'
import { InitBook } from './init-book.js'

const ALLOW = ['PUT', 'POST', 'DELETE']
/** Lifetime of objects of channels without a template (no DVR window is known). */
const DEFAULT_RETENTION_MS = 4 * 3600_000
/** Idle limit for uploads to channels without a template. */
const DEFAULT_IDLE_MS = 10_000
/** Channels without a template still know manifests by their extension (an MPD teaches the template). */
const manifestsOnly = compilePathMatcher(undefined)

export function createIngestHandler(ctx: Context, auth: Authenticator) {
  const uploads = new Map<string, number>()
  const inits = new InitBook(ctx.reader)
  const cfg = ctx.config.ingest

  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now()
    const reqId = nextRequestId()
    const log = ctx.log.child({ reqId })
    res.setHeader('X-Request-Id', reqId)
    const finish = (status: number) => {
      ctx.metrics.requests.inc({ role: 'ingest', class: 'ingest', status: String(status) })
      ctx.metrics.requestDuration.observe({ role: 'ingest' }, (performance.now() - started) / 1000)
    }
    const refuse = (err: unknown) => {
      const e: LiveOriginError = toLiveOriginError(err)
      if (e.status >= 500) log.error({ err, method: req.method, url: req.url }, 'ingest failed')
      else log.info({ method: req.method, url: req.url, status: e.status, code: e.code }, 'ingest refused')
      // The body was not read: close the connection rather than read an unwanted upload.
      const close = !req.complete ? { Connection: 'close' } : {}
      sendError(req, res, e, { ...ttlHeaders(0), ...close })
      if (!req.complete) res.once('finish', () => req.destroy())
      finish(e.status)
    }

    let pipeline: string
    let name: ReturnType<typeof parseObjectName>
    try {
      checkMethod(req, ALLOW)
      name = parseObjectName(req.url ?? '/', false)
      pipeline = auth.pipelineFor(req.headers, name.channel)
    } catch (err) {
      refuse(err)
      return
    }
    const work =
      req.method === 'DELETE'
        ? remove(name.channel, name.path, pipeline)
        : upload(name.channel, name.path, pipeline)
    work.then(finish, refuse)

    async function remove(channelName: string, path: string, pipelineId: string): Promise<number> {
      const removed = await ctx.store.remove({ channel: channelName, path, pipeline: pipelineId })
      if (!removed) throw errors.notFound(`pipeline ${pipelineId}'s copy of ${channelName}/${path}`)
      await ctx.reader.removed(channelName, path)
      ctx.bus.publish({ type: 'remove', channel: channelName, path, pipeline: pipelineId })
      log.info({ channel: channelName, path, pipeline: pipelineId }, 'object removed')
      sendJson(
        req,
        res,
        200,
        { removed: { channel: channelName, path, pipeline: pipelineId, etag: removed.etag } },
        ttlHeaders(0),
      )
      return 200
    }

    async function upload(channelName: string, path: string, pipelineId: string): Promise<number> {
      const length = req.headers['content-length']
      const chunked = /chunked/i.test(req.headers['transfer-encoding'] ?? '')
      if (length === undefined && !chunked) throw errors.lengthRequired()
      if (length !== undefined && Number(length) > cfg.maxObjectBytes)
        throw errors.tooLarge(cfg.maxObjectBytes)
      const packagerDefects = parseDefects(headerValue(req.headers['segment-defects']))

      let channel = ctx.channels.get(channelName)
      if (!channel) {
        if (cfg.strictChannels) throw errors.unknownChannel(channelName)
        channel = await ctx.channels.ensure(channelName)
      }
      const template = channel.config
      const match: PathMatch = (channel.matcher ?? manifestsOnly).match(path)

      const inFlight = uploads.get(pipelineId) ?? 0
      if (inFlight >= cfg.maxUploadsPerPipeline)
        throw errors.tooManyUploads(pipelineId, cfg.maxUploadsPerPipeline)
      uploads.set(pipelineId, inFlight + 1)
      ctx.metrics.uploadsInProgress.inc()
      try {
        const now = ctx.now()
        const expiresAt = expiryOf(match, template, now)
        const inspector =
          template && match.kind === 'media' && !Number.isNaN(match.number) && isFragmentedMp4(path)
            ? new FragmentInspector()
            : undefined
        // Bytes are kept for inspection, for what is learned from them (init segments, MPDs) and
        // for the write-through to the cache tiers: with a shared tier, every node but this one
        // serves the new object from that tier instead of reading it back from storage.
        const keep = match.kind !== 'media' || inspector !== undefined || ctx.shared !== undefined
        const kept: Buffer[] = []
        let originDefects: Defect[] = []
        const idleMs = cfg.ingestIdleMs ?? (template ? 2 * template.segmentDurationMs : DEFAULT_IDLE_MS)

        let stalled = false
        const body = idleGuard(req, idleMs, () => {
          stalled = true
        })
        let result: Awaited<ReturnType<typeof ctx.store.write>>
        try {
          result = await ctx.store.write({ channel: channelName, path, pipeline: pipelineId }, body, {
            contentType: contentTypeFor(path, req.headers['content-type']),
            expiresAt,
            maxBytes: cfg.maxObjectBytes,
            onData: (chunk) => {
              inspector?.push(chunk)
              if (keep) kept.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
            },
            defects: async () => {
              if (inspector && template && match.kind === 'media') {
                const init = await inits.get(channelName, template, match.rendition, pipelineId)
                originDefects = inspectSegment(inspector.finish(), init, {
                  number: match.number,
                  startNumber: template.startNumber,
                  segmentDurationMs: template.segmentDurationMs,
                })
              }
              // A manifest that says the stream ended is marked so (docs/delivery.md).
              const ended = endedMarker(match, () => Buffer.concat(kept).toString('utf8'))
              return serializeDefects(mergeDefects(packagerDefects, [...originDefects, ...ended]))
            },
          })
        } catch (err) {
          if (stalled) throw errors.uploadTimeout(idleMs)
          if (!req.complete && !(err as LiveOriginError).status) {
            // The client went away mid-body: nothing was committed, and nobody is left to answer.
            log.info({ channel: channelName, path, pipeline: pipelineId }, 'upload cut off')
            return 499
          }
          if (isLiveOriginError(err)) throw err
          // The body arrived whole, so storage failed the write and nothing was committed: a 503
          // tells the packager to retry.
          log.error({ err, channel: channelName, path, pipeline: pipelineId }, 'storage write failed')
          throw errors.storageUnavailable((err as Error).message ?? 'write failed')
        }
        const { meta, replaced } = result
        const bytes = keep ? Buffer.concat(kept) : undefined
        if (match.kind === 'init' && bytes) inits.remember(channelName, path, pipelineId, meta.token, bytes)
        await ctx.reader.written(meta, bytes).catch((err) => log.warn({ err }, 'cache write-through failed'))
        ctx.bus.publish({
          type: 'commit',
          channel: channelName,
          path,
          pipeline: pipelineId,
          token: meta.token,
          defects: meta.defects,
        })

        for (const d of packagerDefects) ctx.metrics.defects.inc({ kind: d.kind, source: 'packager' })
        for (const d of originDefects) ctx.metrics.defects.inc({ kind: d.kind, source: 'origin' })
        if (template && match.kind === 'media' && meta.committedAt > availabilityAt(template, match.number)) {
          ctx.metrics.lateSegments.inc({ pipeline: pipelineId })
        }
        if (
          match.kind === 'manifest' &&
          match.format === 'dash' &&
          bytes &&
          channel.source !== 'api' &&
          channel.source !== 'config'
        ) {
          await ctx.channels
            .learnFromMpd(channelName, bytes.toString('utf8'), path)
            .catch((err) =>
              log.warn(
                { err: (err as Error).message, channel: channelName },
                'could not learn timing from MPD',
              ),
            )
        }

        const status = replaced ? 204 : 201
        log.info(
          {
            channel: channelName,
            path,
            pipeline: pipelineId,
            bytes: meta.size,
            status,
            defects: meta.defects || undefined,
          },
          'object stored',
        )
        const headers: OutgoingHttpHeaders = { ...ttlHeaders(0), ETag: meta.etag }
        if (meta.defects) headers['Segment-Defects'] = meta.defects
        res.writeHead(status, headers)
        res.end()
        return status
      } finally {
        ctx.metrics.uploadsInProgress.dec()
        const left = (uploads.get(pipelineId) ?? 1) - 1
        if (left === 0) uploads.delete(pipelineId)
        else uploads.set(pipelineId, left)
      }
    }
  }
}

/**
 * When a stored object may be deleted: media segments at the end of their DVR window;
 * init segments and manifests never (they serve the whole event, and each new copy replaces
 * the last); anything else (captions, keys, numbers the template cannot produce) one DVR
 * window after it was written. Channels without a template keep objects for 4 h.
 */
function expiryOf(match: PathMatch, template: ChannelConfig | undefined, now: number): number {
  if (!template) return now + DEFAULT_RETENTION_MS
  if (match.kind === 'media' && !Number.isNaN(match.number)) return segmentExpiresAt(template, match.number)
  if (match.kind === 'init' || match.kind === 'manifest') return 0
  return now + template.dvrWindowMs + EXPIRY_MARGIN_MS
}

function headerValue(v: string | string[] | undefined): string {
  return Array.isArray(v) ? v.join(', ') : (v ?? '')
}

/**
 * Yields the request body; if no bytes arrive for `idleMs`, calls `onIdle` and throws, so
 * that the upload fails (nothing is committed) while the connection can still carry a 408.
 */
async function* idleGuard(req: IncomingMessage, idleMs: number, onIdle: () => void): AsyncGenerator<Buffer> {
  const chunks = req[Symbol.asyncIterator]()
  let timer: NodeJS.Timeout | undefined
  const stall = () =>
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onIdle()
        reject(errors.uploadTimeout(idleMs))
      }, idleMs)
    })
  try {
    for (;;) {
      const next = await Promise.race([chunks.next(), stall()])
      clearTimeout(timer)
      if (next.done) return
      yield next.value as Buffer
    }
  } finally {
    clearTimeout(timer)
  }
}
