/**
 * The ingest listener (PUT/POST/DELETE from packagers, docs/protocol.md#ingest). Streams each upload into
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
import { FragmentInspector, type InitInfo } from '../selection/fmp4.js'
import { inspectSegment } from '../selection/inspect.js'
import type { Defect } from '../selection/types.js'
import type { Context } from '../server/context.js'
import type { ChannelConfig } from '../timing/channel-config.js'
import { availabilityAt, EXPIRY_MARGIN_MS, segmentExpiresAt } from '../timing/schedule.js'
import { compilePathMatcher, type PathMatch } from '../timing/template.js'
import type { Authenticator } from './auth.js'
import { checkDefectKinds, defectLabel } from './defect-labels.js'
import { InitBook } from './init-book.js'
import { MpdLearner } from './mpd-learner.js'
import { UploadBudget } from './upload-budget.js'
import { guardBody } from './upload-guard.js'

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
  const mpds = new MpdLearner()
  const budget = new UploadBudget(cfg.maxInFlightBytes)
  // What one upload streamed to storage holds at most: the chunks being cut and written.
  const streamedHold = (ctx.store.chunkConcurrency + 1) * ctx.store.chunkSize

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
      const declared = length === undefined ? undefined : Number(length)
      if (declared !== undefined && declared > cfg.maxObjectBytes) throw errors.tooLarge(cfg.maxObjectBytes)
      const packagerDefects = parseDefects(headerValue(req.headers['segment-defects']))
      checkDefectKinds(packagerDefects)

      let channel = ctx.channels.get(channelName)
      if (!channel) {
        if (cfg.strictChannels) throw errors.unknownChannel(channelName)
        channel = await ctx.channels.ensure(channelName)
      }
      const template = channel.config
      const match: PathMatch = (channel.matcher ?? manifestsOnly).match(path)
      const manifest = match.kind === 'manifest'
      if (manifest && declared !== undefined && declared > cfg.maxManifestBytes) {
        ctx.metrics.uploadsRefused.inc({ reason: 'manifest-size' })
        throw errors.manifestTooLarge(cfg.maxManifestBytes)
      }

      const inFlight = uploads.get(pipelineId) ?? 0
      if (inFlight >= cfg.maxUploadsPerPipeline)
        throw errors.tooManyUploads(pipelineId, cfg.maxUploadsPerPipeline)
      // Memory this upload may hold: a manifest whole (it is parsed), anything else what streaming
      // it to storage holds (or less, when it is smaller).
      const hold = Math.min(
        declared ?? Number.POSITIVE_INFINITY,
        manifest ? cfg.maxManifestBytes : streamedHold,
      )
      if (!budget.reserve(hold)) {
        ctx.metrics.uploadsRefused.inc({ reason: 'budget' })
        throw errors.uploadBudgetExhausted(cfg.maxInFlightBytes)
      }
      ctx.metrics.uploadBytesReserved.set(budget.used)
      uploads.set(pipelineId, inFlight + 1)
      ctx.metrics.uploadsInProgress.inc()
      try {
        const now = ctx.now()
        const expiresAt = expiryOf(match, template, now)
        const inspected =
          template !== undefined &&
          match.kind === 'media' &&
          !Number.isNaN(match.number) &&
          isFragmentedMp4(path)
        // With the rendition's init segment known up front, its `trex` defaults check sample
        // sizes against the mdat as the body streams.
        let init: InitInfo | undefined =
          inspected && template && match.kind === 'media'
            ? await inits.get(channelName, template, match.rendition, pipelineId)
            : undefined
        const inspector = inspected ? new FragmentInspector({ init }) : undefined
        // Bytes are kept for what is learned from them (init segments, MPDs) and for the
        // write-through to the cache tiers (with a shared tier, every node but this one serves
        // the new object from that tier instead of reading it back from storage), but never
        // more than this upload's share of the budget: a larger body only streams to storage.
        const keepAtMost = match.kind === 'media' && !inspected && ctx.shared === undefined ? 0 : hold
        let kept: Buffer[] | undefined = keepAtMost > 0 ? [] : undefined
        let keptBytes = 0
        let originDefects: Defect[] = []
        // An MPD that teaches the channel its timing is checked before it commits: one whose
        // values the origin cannot run the channel with is refused whole (BAD_MPD).
        const learns =
          match.kind === 'manifest' &&
          match.format === 'dash' &&
          channel.source !== 'api' &&
          channel.source !== 'config'
        let mpd: Awaited<ReturnType<typeof ctx.channels.checkMpd>> | undefined
        const idleMs = cfg.ingestIdleMs ?? (template ? 2 * template.segmentDurationMs : DEFAULT_IDLE_MS)

        let refusal: LiveOriginError | undefined
        const body = guardBody(req, {
          idleMs,
          minBytesPerSecond: cfg.minUploadBytesPerSecond,
          windowMs: cfg.minUploadRateWindowMs,
          maxBytes: manifest ? cfg.maxManifestBytes : undefined,
          onRefuse: (err) => {
            refusal = err
          },
        })
        let result: Awaited<ReturnType<typeof ctx.store.write>>
        try {
          result = await ctx.store.write({ channel: channelName, path, pipeline: pipelineId }, body, {
            contentType: contentTypeFor(path, req.headers['content-type']),
            expiresAt,
            maxBytes: cfg.maxObjectBytes,
            onData: (chunk) => {
              inspector?.push(chunk)
              if (kept === undefined) return
              keptBytes += chunk.byteLength
              if (keptBytes > keepAtMost) kept = undefined
              else kept.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
            },
            defects: async () => {
              const text =
                match.kind === 'manifest' && kept
                  ? Buffer.concat(kept, keptBytes).toString('utf8')
                  : undefined
              // Parsed off the event loop: a large MPD must not hold up other pipelines' uploads.
              if (learns && text !== undefined)
                mpd = await ctx.channels.checkMpd(channelName, mpds.learn(text, path))
              if (inspector && template && match.kind === 'media') {
                init ??= await inits.get(channelName, template, match.rendition, pipelineId)
                originDefects = inspectSegment(inspector.finish(), init, {
                  number: match.number,
                  startNumber: template.startNumber,
                  segmentDurationMs: template.segmentDurationMs,
                })
              }
              // A manifest that says the stream ended is marked so (docs/delivery.md).
              const ended = text === undefined ? [] : endedMarker(match, () => text)
              return serializeDefects(mergeDefects(packagerDefects, [...originDefects, ...ended]))
            },
          })
        } catch (err) {
          if (refusal) {
            ctx.metrics.uploadsRefused.inc({ reason: refusalReason(refusal) })
            throw refusal
          }
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
        const bytes = kept ? (kept.length === 1 ? kept[0]! : Buffer.concat(kept, keptBytes)) : undefined
        kept = undefined
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

        for (const d of packagerDefects)
          ctx.metrics.defects.inc({ kind: defectLabel(d.kind), source: 'packager' })
        for (const d of originDefects)
          ctx.metrics.defects.inc({ kind: defectLabel(d.kind), source: 'origin' })
        if (template && match.kind === 'media' && meta.committedAt > availabilityAt(template, match.number)) {
          ctx.metrics.lateSegments.inc({ pipeline: pipelineId })
        }
        if (mpd && 'skipped' in mpd) {
          log.warn({ err: mpd.skipped, channel: channelName }, 'could not learn timing from MPD')
        } else if (mpd) {
          await ctx.channels
            .learn(channelName, mpd.learned)
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
        budget.release(hold)
        ctx.metrics.uploadBytesReserved.set(budget.used)
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

function refusalReason(err: LiveOriginError): string {
  if (err.code === errors.manifestTooLarge.code) return 'manifest-size'
  if (err.code === errors.uploadTooSlow.code) return 'too-slow'
  return 'stalled'
}

function headerValue(v: string | string[] | undefined): string {
  return Array.isArray(v) ? v.join(', ') : (v ?? '')
}
