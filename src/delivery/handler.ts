/**
 * The delivery listener (GET/HEAD from CDNs and players). Decides from the channel template
 * in memory what each request gets (docs/protocol.md#delivery): the selected copy of a segment, a 404 whose
 * lifetime runs exactly to the moment the segment may be requested, a hold at the live edge
 * released by the commit, or a 410 for a segment that will never come. Under pressure sheds
 * media segments, DVR first; never init segments or manifests (docs/overload.md). Also
 * answers `GET /.well-known/time`, a clock for players (docs/delivery.md).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Channel } from '../channels/registry.js'
import { errors, type LiveOriginError } from '../errors.js'
import { cacheControlFor } from '../http/cache-control.js'
import type { Exchange as RequestExchange } from '../http/listener.js'
import { type ObjectName, parseObjectName } from '../http/names.js'
import {
  checkMethod,
  prepareError,
  sendError,
  sendPreparedError,
  toLiveOriginError,
  ttlHeaders,
} from '../http/respond.js'
import { nextRequestId } from '../observability/log.js'
import { levelOf, tallyOf } from '../observability/metrics.js'
import { classifyRead, type RequestClass, sheddable } from '../overload/classify.js'
import { ShedLog } from '../overload/shed-log.js'
import { channelSelectionContext } from '../selection/context.js'
import { copyEnded } from '../selection/ended.js'
import { manifestStaleAfterMs } from '../selection/health-book.js'
import { isUndecodable, selectCandidate, selectInProgress } from '../selection/select.js'
import type { ObjectMeta } from '../storage/types.js'
import { fillerFor, type MadeBody, movedCopy, repairedCopy, type Substitute } from '../substitutes/copies.js'
import type { ChannelConfig } from '../timing/channel-config.js'
import {
  blockingRequestTooFarAhead,
  blockingTimeoutMs,
  parseBlockingRequest,
  parseMediaPlaylist,
  playlistSatisfies,
} from '../timing/hls.js'
import {
  cmsdStatic,
  gapAnswer,
  initDecision,
  manifestTtlMs,
  otherObjectTtlMs,
  requestableAt,
  SHORT_TTL_MS,
  segmentDecision,
  selectionDeadline,
  servedTtlMs,
  UNKNOWN_CHANNEL_TTL_MS,
} from '../timing/schedule.js'
import { compilePathMatcher, type PathMatch } from '../timing/template.js'
import type { DeliveryDeps } from './deps.js'
import type { HeldObject, Release } from './holds.js'
import type { PollTiming } from './poll-schedule.js'
import { sendBytes } from './send-bytes.js'
import { sendObject } from './send-object.js'
import { sendInProgress } from './stream.js'
import { bytesNeeded, progressRange, sendInProgressRange } from './stream-range.js'

const ALLOW = ['GET', 'HEAD', 'OPTIONS']
/**
 * Browser players read objects and these headers across origins. Passed with each answer's
 * headers rather than set ahead of them: Node writes a header block it gets whole faster.
 */
export const CORS: OutgoingHttpHeaders = {
  'Access-Control-Allow-Origin': '*',
  // `Date`: dash.js sets its clock from it when an MPD has no `UTCTiming`.
  'Access-Control-Expose-Headers':
    'Date, ETag, Last-Modified, Content-Length, Content-Range, Accept-Ranges, Cache-Control, Cache-TTL-Ms, Retry-After, CMSD-Static, CMSD-Dynamic, Segment-Pipeline, Segment-Defects, Segment-In-Progress',
}
/** {@link CORS} as a flat `[name, value, …]` header list. */
const CORS_HEAD: readonly string[] = Object.entries(CORS).flatMap(([name, value]) => [name, String(value)])
/** The 404 and 410 answers segment timing decides, prepared once (docs/protocol.md#media-segments). */
const SEGMENT_NOT_FOUND = prepareError(errors.notFound('segment'))
const SEGMENT_GONE = prepareError(errors.gone('segment'))
/** The time source an MPD's `UTCTiming` can point to (channel names never start with `.`). */
export const TIME_PATH = '/.well-known/time'
/** Channels without a template still know manifests by their extension. */
const manifestsOnly = compilePathMatcher(undefined)
/**
 * How long a candidate list read by this process is reused for objects that are written once
 * (segments, init segments, other objects; not manifests). Commits announced on the bus drop
 * the entry at once; the window bounds staleness only for writes made on other nodes.
 */
const LIST_REUSE_MS = 1000

interface Exchange {
  readonly ctx: DeliveryDeps
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly started: number
  readonly klass: RequestClass
  /** When the request was first held (epoch ms), if it was. */
  heldSince: number | undefined
  done: boolean
}

export function createDeliveryHandler(ctx: DeliveryDeps) {
  const inFlight = levelOf(ctx.metrics.inFlight)
  const timingAnswers = tallyOf(ctx.metrics.timingAnswers)
  const shedLog = new ShedLog(ctx.log)

  /**
   * A request whose answer takes storage, a hold or a stream: counted in progress (and among
   * the DVR requests admitted) until it finishes or its client leaves. The per-request state
   * and listeners are made here, not for the answers decided in the request's first tick.
   */
  function serve(
    req: IncomingMessage,
    res: ServerResponse,
    started: number,
    klass: RequestClass,
    channel: Channel,
    name: ObjectName,
    match: PathMatch,
  ): void {
    inFlight(klass).inc()
    // Whether this request counts among the DVR requests in progress (`overload.maxDvrInFlight`).
    let counted = false
    if (sheddable(match)) {
      ctx.admission.begin(klass)
      counted = klass === 'dvr'
    }
    const finish = () => {
      inFlight(klass).dec()
      if (counted) ctx.admission.end(klass)
    }
    const ex: Exchange = { ctx, req, res, started, klass, heldSince: undefined, done: false }
    res.once('finish', finish)
    res.once('close', () => {
      if (!res.writableFinished) finish()
    })
    let work: Promise<void>
    if (match.kind === 'media') work = serveSegment(ex, channel, name.path, match.rendition, match.number)
    else if (match.kind === 'init') work = serveInit(ex, channel, name.path)
    else if (match.kind === 'manifest') work = serveManifest(ex, channel, name.path, match.format, name.query)
    else work = serveOther(ex, channel, name.path)
    work.catch((err) => fail(ex, err))
  }

  // The lifecycle counts every answer; the in-flight gauge and the admission books count only
  // the requests `serve` takes on. What is answered here is written in this tick.
  return (req: IncomingMessage, res: ServerResponse, exchange: RequestExchange): void => {
    try {
      checkMethod(req, ALLOW)
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          ...CORS,
          ...ttlHeaders(86_400_000),
          'Access-Control-Allow-Methods': 'GET, HEAD',
          'Access-Control-Allow-Headers': 'Range, If-None-Match, If-Modified-Since',
          'Access-Control-Max-Age': '86400',
        })
        res.end()
        return
      }
      const url = req.url ?? '/'
      if (url === TIME_PATH || url.startsWith(`${TIME_PATH}?`)) {
        sendTime(req, res, ctx.now())
        return
      }
      const name = parseObjectName(url, true)
      const channel = ctx.channels.get(name.channel)
      if (!channel) {
        sendError(req, res, errors.unknownChannel(name.channel), {
          ...CORS,
          ...ttlHeaders(UNKNOWN_CHANNEL_TTL_MS),
        })
        return
      }
      const match = (channel.matcher ?? manifestsOnly).match(name.path)
      const now = ctx.now()
      const klass = classifyRead(match, channel.config, now, ctx.config.delivery.liveEdgeSegments)
      exchange.klass = klass
      // A refusal and the answers timing decides are written in this tick: they never count in
      // progress, nor among the DVR requests admitted.
      if (sheddable(match) && !ctx.admission.admit(klass)) {
        ctx.metrics.shed.inc({ class: klass })
        shedLog.shed(klass, {
          pressure: ctx.admission.state.reading,
          dvrInFlight: ctx.admission.dvrInFlight,
        })
        shed(req, res, klass)
        return
      }
      if (match.kind === 'media') {
        // Answers segment timing decides without storage are written at once (no storage read).
        const early = earlyAnswer(ctx.reader, channel.name, channel.config!, name.path, match.number, now)
        if (early !== undefined) {
          timingAnswers(early.status, early.reason).inc()
          sendTiming(
            req,
            res,
            early.status === '404' ? SEGMENT_NOT_FOUND : SEGMENT_GONE,
            early.ttlMs,
            early.cmsd,
          )
          return
        }
      }
      serve(req, res, exchange.started, klass, channel, name, match)
    } catch (err) {
      const e = toLiveOriginError(err)
      if (e.code === errors.internal.code) ctx.log.error({ err, url: req.url }, 'delivery failed')
      sendError(req, res, e, CORS)
    }
  }
}

function fail(ex: Exchange, err: unknown): void {
  const e: LiveOriginError = toLiveOriginError(err)
  const internal = e.code === errors.internal.code
  if (internal || e.code === errors.storageUnavailable.code)
    ex.ctx.log.error({ err, url: ex.req.url, reqId: nextRequestId() }, 'delivery failed')
  answerError(ex, internal ? errors.storageUnavailable('read failed') : e, SHORT_TTL_MS)
}

/**
 * 503 for a shed request: a CDN caches the refusal for 5 s and backs off (`CDN-Cache-Control`,
 * RFC 9213), while a browser may not reuse it (`no-store`): a player's retry reaches the origin.
 */
function shed(req: IncomingMessage, res: ServerResponse, klass: RequestClass): void {
  sendError(req, res, errors.overloaded(klass), {
    ...CORS,
    'Cache-Control': 'no-store',
    'CDN-Cache-Control': 'max-age=5',
    'Cache-TTL-Ms': '5000',
    'Retry-After': '5',
    'CMSD-Dynamic': '"liveorigin";du',
  })
}

/** The time source: the delivery clock as ISO 8601 with milliseconds (`urn:mpeg:dash:utc:http-iso:2014`). */
function sendTime(req: IncomingMessage, res: ServerResponse, now: number): void {
  const body = new Date(now).toISOString()
  res.writeHead(200, {
    ...CORS,
    'Cache-Control': 'no-store',
    'Cache-TTL-Ms': '0',
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  })
  res.end(req.method === 'HEAD' ? undefined : body)
}

function heldHeaders(ex: Exchange): OutgoingHttpHeaders {
  if (ex.heldSince === undefined) return {}
  return { 'CMSD-Dynamic': `"liveorigin";ht=${Math.max(0, ex.ctx.now() - ex.heldSince)}` }
}

function answerError(
  ex: Exchange,
  err: LiveOriginError,
  ttlMs: number,
  extra: OutgoingHttpHeaders = {},
): void {
  if (ex.done) return
  ex.done = true
  sendError(ex.req, ex.res, err, { ...CORS, ...ttlHeaders(ttlMs), ...heldHeaders(ex), ...extra })
}

/**
 * A copy the origin made in place of a stored one (repaired, moved or filler): counted as a
 * selection of `outcome`, answered with the pipeline and defects it was made from.
 */
function answerSubstitute(
  ex: Exchange,
  made: Substitute,
  ttlMs: number,
  cmsd: OutgoingHttpHeaders,
  outcome: 'repaired' | 'defective' | 'filler',
): void {
  ex.ctx.metrics.selections.inc({ pipeline: made.pipeline, outcome })
  answerMade(ex, made, ttlMs, { ...cmsd, 'Segment-Pipeline': made.pipeline, 'Segment-Defects': made.defects })
}

function answerMade(ex: Exchange, body: MadeBody, ttlMs: number, extra: OutgoingHttpHeaders): void {
  if (ex.done) return
  ex.done = true
  sendBytes(ex.req, ex.res, body, { ...CORS, ...ttlHeaders(ttlMs), ...heldHeaders(ex), ...extra })
}

async function answerObject(
  ex: Exchange,
  meta: ObjectMeta,
  ttlMs: number,
  extra: OutgoingHttpHeaders,
): Promise<void> {
  await answerStored(ex, meta, answerHeaders(ttlMs, extra))
}

/** The headers of an answer with a stored copy, but those of the request (`heldHeaders`). */
function answerHeaders(ttlMs: number, extra: OutgoingHttpHeaders): OutgoingHttpHeaders {
  return { ...CORS, ...ttlHeaders(ttlMs), ...extra }
}

async function answerStored(ex: Exchange, meta: ObjectMeta, headers: OutgoingHttpHeaders): Promise<void> {
  if (ex.done) return
  ex.done = true
  // A request that was held goes out with the others released with it: heads first.
  const held = ex.heldSince !== undefined
  await sendObject(
    ex.ctx.reader,
    ex.req,
    ex.res,
    meta,
    held ? { ...headers, ...heldHeaders(ex) } : headers,
    held,
  )
}

/** A stored copy selection chose for a segment, with the headers of its answers. */
interface Selected {
  readonly meta: ObjectMeta
  readonly outcome: 'valid' | 'defective'
  readonly headers: OutgoingHttpHeaders
}

/**
 * What selection chose for the requests of one release (docs/protocol.md#holds): the first
 * of them to run decides and the others answer with the same copy and headers, so that a
 * release costs one selection, not one per waiter. Undefined when the first did not answer
 * with a stored copy (a substitute, a hold, an error): then each decides for itself.
 */
const releaseSelections = new WeakMap<Release, Promise<Selected | undefined>>()

function answerSelected(ex: Exchange, s: Selected): Promise<void> {
  ex.ctx.metrics.selections.inc({ pipeline: s.meta.pipeline, outcome: s.outcome })
  return answerStored(ex, s.meta, s.headers)
}

/**
 * Answers from the copy of segment N still uploading that selection follows, if there is one
 * (docs/delivery.md#segments-in-progress); false when there is none to follow, or when the
 * request asks a range only the stored copy can answer. Its lifetime is D, like a defective
 * copy's: the stored copy replaces it in caches soon after. A byte range is answered once its
 * bytes have arrived (docs/delivery.md#byte-ranges-in-progress); `retry` runs selection again
 * when the upload ends before they do.
 */
function answerInProgress(
  ex: Exchange,
  channel: Channel,
  path: string,
  n: number,
  cmsd: OutgoingHttpHeaders,
  retry: () => Promise<void>,
): boolean {
  const { ctx } = ex
  if (ex.done) return false
  const range = progressRange(ex.req.headers)
  if (range === 'stored') return false
  const cfg = channel.config!
  const copy = selectInProgress(ctx.inProgress.copies(channel.name, path), {
    pipelines: cfg.pipelines,
    masks: channel.masks,
    number: n,
  })
  if (copy === undefined) return false
  ex.done = true
  ctx.metrics.selections.inc({ pipeline: copy.pipeline, outcome: 'in-progress' })
  const headers = (): OutgoingHttpHeaders => ({
    ...CORS,
    ...ttlHeaders(servedTtlMs(cfg, true)),
    ...heldHeaders(ex),
    ...cmsd,
    'Segment-Pipeline': copy.pipeline,
  })
  if (range === 'whole') {
    sendInProgress(ex.req, ex.res, ctx.inProgress, copy, headers())
    return true
  }
  if (copy.bytes < bytesNeeded(range)) ex.heldSince ??= ctx.now()
  sendInProgressRange(ex.req, ex.res, ctx.inProgress, copy, range, headers, () => {
    if (ex.res.destroyed) return
    ex.done = false
    retry().catch((err) => fail(ex, err))
  })
  return true
}

/**
 * Holds the request until the object commits (anywhere) or `deadline`, then calls `retry` (its failure is answered like any other).
 * The client going away removes the waiter at once. `mark` is the reader's mark taken before
 * the read that found nothing to serve: a change heard since then released nobody, so the
 * request retries at once instead of waiting. `timing` says when the object is due, for the
 * poll of commits made on other nodes (`poll-schedule.ts`).
 */
function hold(
  ex: Exchange,
  key: HeldObject,
  deadline: number,
  retry: (release?: Release) => Promise<void>,
  mark: number,
  timing: PollTiming = {},
): void {
  const { ctx } = ex
  if (ctx.reader.changedSince(key.channel, key.path, mark)) {
    retry().catch((err) => fail(ex, err))
    return
  }
  if (ctx.state.draining) {
    answerError(ex, errors.shuttingDown(), 1000)
    return
  }
  if (ctx.holds.size >= ctx.config.delivery.maxHeldRequests) {
    // Like a shed request: a CDN may keep the refusal briefly, a browser must ask again.
    answerError(ex, errors.overloaded('held'), 1000, {
      'Cache-Control': 'no-store',
      'CDN-Cache-Control': 'max-age=1',
      'Retry-After': '1',
    })
    return
  }
  ex.heldSince ??= ctx.now()
  const since = performance.now()
  ctx.metrics.held.inc()
  const remove = ctx.holds.add(
    key,
    deadline,
    (reason, release) => {
      ctx.metrics.held.dec()
      ctx.metrics.holdDuration.observe(
        { outcome: reason === 'commit' ? 'released' : 'timeout' },
        (performance.now() - since) / 1000,
      )
      ex.res.off('close', onClose)
      retry(release).catch((err) => fail(ex, err))
    },
    timing,
  )
  const onClose = () => {
    if (remove()) {
      ctx.metrics.held.dec()
      ctx.metrics.holdDuration.observe({ outcome: 'disconnected' }, (performance.now() - since) / 1000)
    }
  }
  ex.res.once('close', onClose)
}

/** A 404 or 410 of a media segment decided from the channel's timing alone. */
interface EarlyAnswer {
  readonly status: '404' | '410'
  readonly reason: string
  readonly ttlMs: number
  /** `CMSD-Static`, absent for a number the template cannot produce. */
  readonly cmsd: string | undefined
}

/**
 * What segment timing answers without storage (docs/protocol.md#media-segments): a number the
 * channel cannot have, one before its start, one far in the future (unless this process heard
 * it was already stored), one out of the DVR window. Undefined when storage or a hold decides.
 */
function earlyAnswer(
  reader: { mayExist(channel: string, path: string): boolean },
  channelName: string,
  cfg: ChannelConfig,
  path: string,
  n: number,
  now: number,
): EarlyAnswer | undefined {
  const early = segmentDecision(cfg, n, now, false)
  if (early.action === 'not-found') {
    if (early.reason === 'too-early' && reader.mayExist(channelName, path)) return undefined
    const cmsd = early.reason === 'invalid-number' ? undefined : cmsdStatic(cfg, n)
    return { status: '404', reason: early.reason, ttlMs: early.ttlMs, cmsd }
  }
  if (early.action === 'gone' && early.reason === 'expired')
    return { status: '410', reason: early.reason, ttlMs: early.ttlMs, cmsd: cmsdStatic(cfg, n) }
  return undefined
}

/** A prepared timing answer with its lifetime, CORS and `CMSD-Static`: one flat header list. */
function sendTiming(
  req: IncomingMessage,
  res: ServerResponse,
  prepared: typeof SEGMENT_NOT_FOUND,
  ttlMs: number,
  cmsd: string | undefined,
): void {
  const ttl = cacheControlFor(ttlMs)
  const head = ['Cache-Control', ttl['Cache-Control'], 'Cache-TTL-Ms', ttl['Cache-TTL-Ms'], ...CORS_HEAD]
  if (cmsd !== undefined) head.push('CMSD-Static', cmsd)
  sendPreparedError(req, res, prepared, head)
}

async function serveSegment(
  ex: Exchange,
  channel: Channel,
  path: string,
  rendition: string,
  n: number,
): Promise<void> {
  const { ctx } = ex
  const cfg = channel.config!
  const now = ctx.now()
  // The decisions that never need storage were made before (earlyAnswer).
  const early = segmentDecision(cfg, n, now, false)
  const cmsd = { 'CMSD-Static': cmsdStatic(cfg, n) }
  const key: HeldObject = { channel: channel.name, path }
  const graceUntil = selectionDeadline(cfg, n)
  // Polling starts when the segment becomes requestable (A(N) − ATO: in progress on LL channels).
  const timing: PollTiming = { dueAt: requestableAt(cfg, n), graceUntil }
  const attempt = async (release?: Release): Promise<void> => {
    if (ex.done) return
    // Released with others: the first decides for all of them.
    let decide: ((s: Selected | undefined) => void) | undefined
    if (release !== undefined) {
      const decided = releaseSelections.get(release)
      const s = decided && (await decided)
      if (s) return answerSelected(ex, s)
      if (!decided) releaseSelections.set(release, new Promise((resolve) => (decide = resolve)))
    }
    try {
      await decideSegment(decide)
    } finally {
      decide?.(undefined)
    }
  }
  const decideSegment = async (decide: ((s: Selected) => void) | undefined): Promise<void> => {
    const t = ctx.now()
    const mark = ctx.reader.mark()
    let list = await ctx.reader.candidates(channel.name, path, LIST_REUSE_MS)
    const sctx = channelSelectionContext(cfg, channel, ctx.health, n, t)
    for (;;) {
      const selection = selectCandidate(list, sctx)
      if (selection.kind === 'wait') {
        if (answerInProgress(ex, channel, path, n, cmsd, attempt)) return
        hold(ex, key, selection.untilMs, attempt, mark, timing)
        return
      }
      if (selection.kind === 'none') break
      const meta = selection.candidate
      if (isUndecodable(selection)) {
        // Never a 200 with bytes a player cannot decode: the repaired copy, else this copy
        // is out and selection runs again without it.
        const fixed = await repairedCopy(ctx, channel, rendition, n, meta)
        if (fixed === undefined) {
          list = list.filter((c) => c !== meta)
          continue
        }
        answerSubstitute(ex, fixed, servedTtlMs(cfg, true), cmsd, 'repaired')
        return
      }
      const defective = selection.defective
      // A mis-timed fMP4 copy is served moved to its place: no hole in players' timelines.
      const moved = defective ? await movedCopy(ctx, channel, rendition, n, meta) : undefined
      if (moved !== undefined) {
        answerSubstitute(ex, moved, servedTtlMs(cfg, true), cmsd, 'defective')
        return
      }
      const extra: OutgoingHttpHeaders = { ...cmsd, 'Segment-Pipeline': meta.pipeline }
      if (defective) extra['Segment-Defects'] = meta.defects
      const selected: Selected = {
        meta,
        outcome: defective ? 'defective' : 'valid',
        headers: answerHeaders(servedTtlMs(cfg, defective), extra),
      }
      decide?.(selected)
      await answerSelected(ex, selected)
      return
    }
    const d = segmentDecision(cfg, n, t, false)
    if (d.action === 'hold') {
      if (answerInProgress(ex, channel, path, n, cmsd, attempt)) return
      hold(ex, key, d.untilMs, attempt, mark, timing)
      return
    }
    if (d.action === 'gone') {
      if (d.reason === 'missing') {
        const gap = gapAnswer(cfg)
        if (gap.action === 'filler') {
          const filler = await fillerFor(ctx, channel, rendition, path, n, t)
          if (filler !== undefined) {
            answerSubstitute(ex, filler, gap.ttlMs, cmsd, 'filler')
            return
          }
        }
        ctx.metrics.selections.inc({ pipeline: 'none', outcome: 'missing' })
      }
      ctx.metrics.timingAnswers.inc({ status: '410', reason: d.reason })
      answerError(ex, errors.gone('segment'), d.ttlMs, cmsd)
      return
    }
    ctx.metrics.timingAnswers.inc({ status: '404', reason: d.reason })
    answerError(ex, errors.notFound('segment'), d.ttlMs, cmsd)
  }
  // Others already wait for this segment, so storage had nothing selectable when they came
  // and no commit has been seen since (a commit drops the entry; polling finds remote ones):
  // join them without a storage read. Their earliest deadline is kept, so that a wait for a
  // valid copy (A(N) + G) still ends on time for the newcomer; waking re-runs the decision.
  // A copy uploading is looked at after the read, in `attempt`.
  if (early.action === 'hold' && !ctx.inProgress.has(channel.name, path)) {
    const waitingUntil = ctx.holds.earliestDeadline(key)
    if (waitingUntil !== undefined) {
      hold(ex, key, Math.min(waitingUntil, early.untilMs), attempt, ctx.reader.mark(), timing)
      return
    }
    // Not past its grace window, and this process heard of no copy: where commits may come
    // from other nodes, the first poll (at A(N), or at once) is the first read, of the local
    // cache zone only; storage is read at A(N) + G (poll-schedule.ts). A commit heard on the
    // bus (a peer's notice included) releases at once; with polling off, the deadline reads.
    if (now < graceUntil && ctx.holds.remoteCommits && !ctx.reader.mayExist(channel.name, path)) {
      hold(ex, key, early.untilMs, attempt, ctx.reader.mark(), timing)
      return
    }
  }
  await attempt()
}

/** Init segments: 200, or held like segment S until A(S)+R, then 404 with a 1 s lifetime. */
async function serveInit(ex: Exchange, channel: Channel, path: string): Promise<void> {
  const { ctx } = ex
  const cfg = channel.config!
  const key: HeldObject = { channel: channel.name, path }
  const timing: PollTiming = {
    dueAt: requestableAt(cfg, cfg.startNumber),
    graceUntil: selectionDeadline(cfg, cfg.startNumber),
  }
  const attempt = async (): Promise<void> => {
    if (ex.done) return
    const mark = ctx.reader.mark()
    const list = await ctx.reader.candidates(channel.name, path, LIST_REUSE_MS)
    const meta = ctx.health.preferred(channel, list, ctx.now())
    const d = initDecision(cfg, ctx.now(), meta !== undefined)
    if (meta && d.action === 'serve') {
      await answerObject(ex, meta, d.ttlMs, { 'Segment-Pipeline': meta.pipeline })
      return
    }
    if (d.action === 'hold') {
      hold(ex, key, d.untilMs, attempt, mark, timing)
      return
    }
    answerError(ex, errors.notFound('init segment'), d.ttlMs)
  }
  await attempt()
}

async function serveManifest(
  ex: Exchange,
  channel: Channel,
  path: string,
  format: 'dash' | 'hls',
  query: string,
): Promise<void> {
  const { ctx } = ex
  const ttlMs = manifestTtlMs(channel.config, format)
  const blocking = format === 'hls' && query ? parseBlockingRequest(new URLSearchParams(query)) : undefined
  const key: HeldObject = { channel: channel.name, path }
  let deadline: number | undefined
  const attempt = async (): Promise<void> => {
    if (ex.done) return
    const mark = ctx.reader.mark()
    const list = await ctx.reader.candidates(channel.name, path)
    const staleAfterMs = await manifestStaleLimit(ex, channel, format, list)
    const meta = ctx.health.preferredManifest(channel, list, ctx.now(), staleAfterMs)
    if (!blocking) {
      if (meta) await answerObject(ex, meta, ttlMs, { 'Segment-Pipeline': meta.pipeline })
      else answerError(ex, errors.notFound('manifest'), SHORT_TTL_MS)
      return
    }
    // LL-HLS blocking playlist reload: hold until the playlist has the requested segment/part.
    if (!meta) {
      answerError(ex, errors.notFound('playlist'), SHORT_TTL_MS)
      return
    }
    const playlist = parseMediaPlaylist((await ctx.reader.body(meta)).toString('utf8'))
    if (playlistSatisfies(playlist, blocking.msn, blocking.part)) {
      await answerObject(ex, meta, ttlMs, { 'Segment-Pipeline': meta.pipeline })
      return
    }
    if (deadline === undefined) {
      if (blockingRequestTooFarAhead(playlist, blocking.msn)) {
        answerError(
          ex,
          errors.badQuery(`_HLS_msn=${blocking.msn} is more than 2 segments past the playlist`),
          SHORT_TTL_MS,
        )
        return
      }
      deadline = ctx.now() + blockingTimeoutMs(playlist)
    }
    if (ctx.now() >= deadline) {
      answerError(
        ex,
        errors.storageUnavailable('the requested media sequence number did not arrive in time'),
        SHORT_TTL_MS,
      )
      return
    }
    hold(ex, key, deadline, attempt, mark)
  }
  await attempt()
}

/** `EXT-X-TARGETDURATION` of a playlist (seconds, a decimal integer). */
const TARGET_DURATION = /^#EXT-X-TARGETDURATION:\s*(\d{1,6})\s*$/m

/**
 * How long a copy of this manifest may go without an update before another pipeline's
 * updated copy is served instead (`manifestStaleAfterMs`, docs/delivery.md). On a channel
 * without a template the most recently committed copy is served anyway, which passes a
 * frozen copy over as soon as another is updated; the limit only matters there when some
 * copies say the stream ended and others do not (a live copy is preferred to an ended one,
 * unless it is stale), and only then is the HLS target duration read from the most recently
 * committed copy.
 */
async function manifestStaleLimit(
  ex: Exchange,
  channel: Channel,
  format: 'dash' | 'hls',
  list: readonly ObjectMeta[],
): Promise<number | undefined> {
  if (channel.config || format !== 'hls') return manifestStaleAfterMs(channel.config)
  const ended = list.filter((c) => copyEnded(c.defects)).length
  if (ended === 0 || ended === list.length) return undefined
  const newest = list.reduce((a, b) => (b.committedAt > a.committedAt ? b : a))
  const m = TARGET_DURATION.exec((await ex.ctx.reader.body(newest)).toString('utf8'))
  return manifestStaleAfterMs(undefined, m ? Number(m[1]) * 1000 : undefined)
}

/** Objects that are neither segments nor manifests, and everything of template-less channels. */
async function serveOther(ex: Exchange, channel: Channel, path: string): Promise<void> {
  const { ctx } = ex
  const list = await ctx.reader.candidates(channel.name, path, LIST_REUSE_MS)
  const meta = ctx.health.preferred(channel, list, ctx.now())
  if (!meta) {
    answerError(ex, errors.notFound('object'), SHORT_TTL_MS)
    return
  }
  const ttl = otherObjectTtlMs(channel.config)
  const extra: OutgoingHttpHeaders = { 'Segment-Pipeline': meta.pipeline }
  if (meta.defects) extra['Segment-Defects'] = meta.defects
  await answerObject(ex, meta, ttl, extra)
}
