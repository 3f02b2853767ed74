/**
 * The upload and removal pipeline of the ingest listener (docs/protocol.md#ingest): limits and budgets, the
 * body streamed to storage chunk by chunk, fragmented MP4 media segments inspected on the
 * way (box headers only), defects recorded, MPDs checked before they commit. The object is
 * durable and visible before the answer; what a commit sets off besides (the bus, the cache
 * tiers, metrics, learning from an MPD) is the `commits` hook of the deps, awaited before
 * the 2xx. An upload that fails, stalls or is cut off leaves nothing visible.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { errors, isLiveOriginError, type LiveOriginError } from '../errors.js'
import { contentTypeFor, isFragmentedMp4 } from '../http/content-type.js'
import { sendJson, ttlHeaders } from '../http/respond.js'
import { FragmentInspector, type InitInfo } from '../media/fmp4.js'
import { inspectSegment } from '../media/inspect.js'
import type { Defect } from '../media/types.js'
import type { Logger } from '../observability/log.js'
import { mergeDefects, parseDefects, serializeDefects } from '../selection/defects.js'
import { endedMarker } from '../selection/ended.js'
import type { ObjectKey } from '../storage/types.js'
import { type ChannelConfig, DEFAULT_DVR_WINDOW_MS } from '../timing/channel-config.js'
import { type PlaylistLesson, readPlaylist } from '../timing/hls-learn.js'
import { initExpiresAt, retainedUntil, segmentExpiresAt } from '../timing/schedule.js'
import { compilePathMatcher, type PathMatch } from '../timing/template.js'
import { checkDefectKinds } from './defect-labels.js'
import type { IngestDeps, MpdCheck } from './deps.js'
import { InProgressUpload } from './in-progress.js'
import { InitBook } from './init-book.js'
import { InitLifetimes } from './init-lifetimes.js'
import { MpdLearner } from './mpd-learner.js'
import { UploadBudget } from './upload-budget.js'
import { guardBody } from './upload-guard.js'

/** Lifetime of objects of channels without a template (no DVR window is known): the default DVR window. */
const DEFAULT_RETENTION_MS = DEFAULT_DVR_WINDOW_MS
/** Idle limit for uploads to channels without a template. */
const DEFAULT_IDLE_MS = 10_000
/** Channels without a template still know manifests by their extension (an MPD teaches the template). */
const manifestsOnly = compilePathMatcher(undefined)

/** Stores and removes objects; one per ingest listener (its budgets are per process). */
export interface Uploads {
  /** Stores the request's body as `key`'s copy and answers 201/204; resolves to the status. */
  upload(req: IncomingMessage, res: ServerResponse, log: Logger, key: ObjectKey): Promise<number>
  /** Removes `key`'s copy and answers 200; resolves to the status. */
  remove(req: IncomingMessage, res: ServerResponse, log: Logger, key: ObjectKey): Promise<number>
}

export function createUploads(ctx: IngestDeps): Uploads {
  const uploads = new Map<string, number>()
  const inits = new InitBook(ctx.reader)
  const initLifetimes = new InitLifetimes(ctx.store, ctx.store.driver)
  const cfg = ctx.config.ingest
  const mpds = new MpdLearner()
  const budget = new UploadBudget(cfg.maxInFlightBytes)
  // What one upload streamed to storage holds at most: the chunks being cut and written.
  const streamedHold = (ctx.store.chunkConcurrency + 1) * ctx.store.chunkSize
  return { upload, remove }

  async function remove(
    req: IncomingMessage,
    res: ServerResponse,
    log: Logger,
    { channel: channelName, path, pipeline: pipelineId }: ObjectKey,
  ): Promise<number> {
    const removed = await ctx.store.remove({ channel: channelName, path, pipeline: pipelineId })
    if (!removed) throw errors.notFound(`pipeline ${pipelineId}'s copy of ${channelName}/${path}`)
    await ctx.commits.onRemoved({ channel: channelName, path, pipeline: pipelineId })
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

  async function upload(
    req: IncomingMessage,
    res: ServerResponse,
    log: Logger,
    { channel: channelName, path, pipeline: pipelineId }: ObjectKey,
  ): Promise<number> {
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
    let progress: InProgressUpload | undefined
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
      // write-through to the cache tiers (the reader's policy: media segments for the shared
      // tier, or for this process's own readers), but never more than this upload's share of
      // the budget: a larger body only streams to storage.
      const keepsMedia = ctx.reader.writesThroughBodies || (inspected && ctx.reader.delivers)
      const keepAtMost = match.kind === 'media' && !keepsMedia ? 0 : hold
      let kept: Buffer[] | undefined = keepAtMost > 0 ? [] : undefined
      let keptBytes = 0
      /** The whole body when it was kept (once it has all arrived). */
      const keptBody = (): Buffer | undefined => {
        if (kept && kept.length > 1) kept = [Buffer.concat(kept, keptBytes)]
        return kept ? (kept[0] ?? Buffer.alloc(0)) : undefined
      }
      let originDefects: Defect[] = []
      // An MPD that teaches the channel its timing is checked before it commits: one whose
      // values the origin cannot run the channel with is refused whole (BAD_MPD).
      const learns =
        match.kind === 'manifest' &&
        match.format === 'dash' &&
        channel.source !== 'api' &&
        channel.source !== 'config'
      let mpd: MpdCheck | undefined
      // Every HLS playlist is read before it commits (one the origin cannot read is refused,
      // BAD_PLAYLIST); channels without explicit configuration learn their timing from it.
      const hls = match.kind === 'manifest' && match.format === 'hls'
      let playlist: PlaylistLesson | undefined
      const idleMs = cfg.ingestIdleMs ?? (template ? 2 * template.segmentDurationMs : DEFAULT_IDLE_MS)
      const contentType = contentTypeFor(path, req.headers['content-type'])
      // A chunked upload of a low-latency channel's segment is offered to readers chunk by
      // chunk (docs/delivery.md#segments-in-progress), unless its packager says it is defective.
      progress =
        inspector && chunked && template?.lowLatency === true && packagerDefects.length === 0
          ? new InProgressUpload(
              ctx.progress,
              inspector,
              { channel: channelName, path, pipeline: pipelineId },
              { contentType, startedAt: now, idleMs },
            )
          : undefined

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
          contentType,
          expiresAt,
          // Media segments are written once: no read of the record they would replace.
          writeOnce: match.kind === 'media' && !Number.isNaN(match.number),
          beforeCommit: (meta) => ctx.reader.committing(meta, keptBody()),
          maxBytes: cfg.maxObjectBytes,
          onData: (chunk) => {
            inspector?.push(chunk)
            progress?.push(chunk)
            if (kept === undefined) return
            keptBytes += chunk.byteLength
            if (keptBytes > keepAtMost) kept = undefined
            else kept.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
          },
          defects: async () => {
            const text =
              match.kind === 'manifest' && kept ? Buffer.concat(kept, keptBytes).toString('utf8') : undefined
            // Parsed off the event loop: a large MPD must not hold up other pipelines' uploads.
            if (learns && text !== undefined)
              mpd = await ctx.channels.checkMpd(channelName, mpds.learn(text, path))
            if (hls && text !== undefined) playlist = readPlaylist(text, path, ctx.now())
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
        progress?.end(false)
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
      const { meta, replaced, phases } = result
      ctx.metrics.uploadPhase.observe({ phase: 'receive' }, phases.receiveMs / 1000)
      ctx.metrics.uploadPhase.observe({ phase: 'store' }, phases.storeMs / 1000)
      ctx.metrics.uploadPhase.observe({ phase: 'commit' }, phases.commitMs / 1000)
      const announcing = performance.now()
      if (replaced) ctx.reader.replacing(meta, replaced)
      const bytes = keptBody()
      kept = undefined
      if (match.kind === 'init' && bytes) inits.remember(channelName, path, pipelineId, meta.token, bytes)
      if (match.kind === 'init') initLifetimes.remember(meta)
      if (match.kind === 'manifest') {
        // Recorded before the 2xx (also the MPD that teaches the channel its template): a
        // manifest PUT once must be extended by whichever node receives the channel's
        // segments, even after a restart.
        await initLifetimes.manifestCommitted(meta).catch((err: unknown) => {
          log.warn({ err, channel: channelName, path }, 'manifest path not recorded')
        })
      }
      await ctx.commits.onCommitted({
        meta,
        bytes,
        match,
        template,
        packagerDefects,
        originDefects,
        mpd,
        playlist: channel.source === 'api' || channel.source === 'config' ? undefined : playlist,
        log,
      })
      // After the commit's bus event: a reader that comes now is given the stored copy.
      progress?.end(meta.defects === '')
      ctx.metrics.uploadPhase.observe({ phase: 'announce' }, (performance.now() - announcing) / 1000)

      if (template && match.kind === 'media') {
        // After the answer's work, not before it: the init segment and the manifests outlive
        // this segment long before it matters (docs/running-at-scale.md#expiry-model).
        if (inspected) {
          void initLifetimes
            .segmentCommitted(channelName, template, match.rendition, pipelineId, expiresAt, now)
            .catch((err: unknown) => {
              log.warn({ err, channel: channelName, rendition: match.rendition }, 'init segment not extended')
            })
        }
        void initLifetimes.manifestsOutlive(channelName, template, expiresAt, now).catch((err: unknown) => {
          log.warn({ err, channel: channelName }, 'manifests not extended')
        })
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
      // Whatever ended the upload before its end was told (a failure after the commit).
      progress?.end(false)
      ctx.metrics.uploadsInProgress.dec()
      budget.release(hold)
      ctx.metrics.uploadBytesReserved.set(budget.used)
      const left = (uploads.get(pipelineId) ?? 1) - 1
      if (left === 0) uploads.delete(pipelineId)
      else uploads.set(pipelineId, left)
    }
  }
}

/**
 * When a stored object may be deleted; every object gets an expiry, so that storage never
 * depends on a process to delete anything (docs/running-at-scale.md#expiry-model). Media
 * segments at the end of their DVR window; init segments and manifests (each new copy with
 * its own) a DVR window and `INIT_EXTEND_EVERY_MS` after they were written, extended while
 * the channel's segments arrive (`InitLifetimes`); anything else (captions, keys, numbers
 * the template cannot produce) one DVR window after it was written. Channels without a
 * template keep objects for 4 h.
 */
function expiryOf(match: PathMatch, template: ChannelConfig | undefined, now: number): number {
  if (!template) return now + DEFAULT_RETENTION_MS
  if (match.kind === 'media' && !Number.isNaN(match.number)) return segmentExpiresAt(template, match.number)
  if (match.kind === 'init' || match.kind === 'manifest') return initExpiresAt(template, now)
  return retainedUntil(template, now)
}

function refusalReason(err: LiveOriginError): string {
  if (err.code === errors.manifestTooLarge.code) return 'manifest-size'
  if (err.code === errors.uploadTooSlow.code) return 'too-slow'
  return 'stalled'
}

function headerValue(v: string | string[] | undefined): string {
  return Array.isArray(v) ? v.join(', ') : (v ?? '')
}
