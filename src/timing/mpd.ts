/**
 * Learning a channel's timing from the first DASH MPD a pipeline PUTs (docs/protocol.md#channels-and-segment-templates):
 * `MPD@availabilityStartTime`, `MPD@timeShiftBufferDepth` and the `SegmentTemplate`
 * (`@media`, `@initialization`, `@duration`/`@timescale` or a constant `SegmentTimeline`,
 * `@startNumber`, `@availabilityTimeOffset`), with DASH inheritance from Period to
 * AdaptationSet to Representation and relative `BaseURL`s folded into the templates (their
 * `@availabilityTimeOffset` added to the template's). Pure: the caller passes the MPD text.
 */

import { XMLParser } from 'fast-xml-parser'
import { errors, isLiveOriginError } from '../errors.js'
import {
  type ChannelConfigInput,
  channelFieldProblem,
  type LearnedChannel,
  MAX_DVR_WINDOW_MS,
  mergeChannelConfig,
} from './channel-config.js'

export type { LearnedChannel } from './channel-config.js'

import { parseIsoDateTime, parseIsoDuration } from './iso8601.js'
import { parseTemplate } from './template.js'

/** Options of {@link learnChannelFromMpd}. */
export interface LearnOptions {
  /**
   * Path of the MPD inside the channel (e.g. `dash/manifest.mpd`): templates are relative to
   * its folder. Default: the channel root.
   */
  readonly path?: string
}

type Node = Record<string, unknown>

const ARRAYS = new Set(['Period', 'AdaptationSet', 'Representation', 'S', 'BaseURL'])

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  parseAttributeValue: false,
  parseTagValue: false,
  isArray: (name, _path, _leaf, isAttribute) => !isAttribute && ARRAYS.has(name),
})

function asNode(v: unknown): Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Node) : {}
}

function children(node: Node, name: string): Node[] {
  const v = node[name]
  return Array.isArray(v) ? v.map(asNode) : v === undefined ? [] : [asNode(v)]
}

function attr(node: Node, name: string): string | undefined {
  const v = node[`@_${name}`]
  return typeof v === 'string' ? v.trim() : undefined
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim()
  const t = asNode(v)['#text']
  return typeof t === 'string' ? t.trim() : undefined
}

/** The SegmentTemplate attributes (and timeline) in effect at one level, inherited downwards. */
interface TemplateState {
  readonly attrs: Readonly<Record<string, string>>
  readonly timeline: Node | undefined
}

const TEMPLATE_ATTRS = [
  'media',
  'initialization',
  'duration',
  'timescale',
  'startNumber',
  'presentationTimeOffset',
  'availabilityTimeOffset',
  'availabilityTimeComplete',
]

function inherit(parent: TemplateState, node: Node): TemplateState {
  const st = node.SegmentTemplate
  if (st === undefined) return parent
  const own = asNode(st)
  const attrs: Record<string, string> = { ...parent.attrs }
  for (const a of TEMPLATE_ATTRS) {
    const v = attr(own, a)
    if (v !== undefined) attrs[a] = v
  }
  return {
    attrs,
    timeline: own.SegmentTimeline !== undefined ? asNode(own.SegmentTimeline) : parent.timeline,
  }
}

const ABSOLUTE_URL = /^[A-Za-z][A-Za-z0-9+.-]*:/
const RESOLVE_BASE = 'http://origin.invalid/'

/** Folds a level's first BaseURL into the folder prefix; absolute URLs cannot name channel paths. */
function withBaseUrl(prefix: string, node: Node, warnings: string[]): string {
  const raw = node.BaseURL
  const url = text(Array.isArray(raw) ? raw[0] : raw)
  if (url === undefined || url === '') return prefix
  if (ABSOLUTE_URL.test(url) || url.startsWith('/')) {
    warnings.push(`BaseURL ${url} is not relative to the MPD; ignored`)
    return prefix
  }
  const resolved = new URL(url, RESOLVE_BASE + prefix).pathname.slice(1)
  const slash = resolved.lastIndexOf('/')
  return slash === -1 ? '' : decodeURIComponent(resolved.slice(0, slash + 1))
}

/**
 * A level's `BaseURL@availabilityTimeOffset` in seconds (0 without one): DASH adds the
 * offsets of the BaseURLs in effect to the SegmentTemplate's. Only relative BaseURLs count,
 * the ones `withBaseUrl` folds in.
 */
function baseUrlOffset(node: Node): number {
  const raw = node.BaseURL
  const first = asNode(Array.isArray(raw) ? raw[0] : raw)
  const url = text(Array.isArray(raw) ? raw[0] : raw)
  if (url === undefined || url === '' || ABSOLUTE_URL.test(url) || url.startsWith('/')) return 0
  const v = attr(first, 'availabilityTimeOffset')
  return v === undefined ? 0 : offsetSeconds(v, 'BaseURL')
}

/** An `@availabilityTimeOffset` value in seconds: a non-negative number or `INF`. */
function offsetSeconds(v: string, where: string): number {
  if (v === 'INF') return Number.POSITIVE_INFINITY
  const n = Number(v)
  if (v === '' || !Number.isFinite(n) || n < 0) {
    throw errors.badMpd(
      `${where}@availabilityTimeOffset`,
      `("${v}") must be a non-negative number of seconds`,
    )
  }
  return n
}

interface Candidate {
  readonly where: string
  readonly isVideo: boolean
  readonly prefix: string
  readonly state: TemplateState
  /** Sum of the `BaseURL@availabilityTimeOffset`s in effect, in seconds. */
  readonly baseOffset: number
}

function isVideo(...nodes: Node[]): boolean {
  return nodes.some(
    (n) => attr(n, 'contentType') === 'video' || attr(n, 'mimeType')?.startsWith('video/') === true,
  )
}

function numberAttr(state: TemplateState, name: string, fallback: number, where: string): number {
  const v = state.attrs[name]
  if (v === undefined) return fallback
  const n = Number(v)
  if (v === '' || !Number.isFinite(n) || n < 0) {
    throw errors.badRequest(`cannot learn timing: SegmentTemplate@${name}="${v}" at ${where} is not a number`)
  }
  // Numbers and timescales are unsigned integers in DASH: a fraction is a packager error.
  if (name !== 'duration' && !Number.isSafeInteger(n)) {
    throw errors.badMpd(`SegmentTemplate@${name}`, `("${v}") at ${where} must be a whole number`)
  }
  return n
}

/** The constant segment duration of a SegmentTimeline (most frequent S@d, weighted by S@r), in timescale units. */
function timelineDuration(
  timeline: Node,
  where: string,
  warnings: string[],
): { d: number; t0: number | undefined } {
  const counts = new Map<number, number>()
  const entries = children(timeline, 'S')
  for (const s of entries) {
    const d = Number(attr(s, 'd'))
    if (!(d > 0))
      throw errors.badRequest(`cannot learn timing: SegmentTimeline S@d missing or invalid at ${where}`)
    const r = Number(attr(s, 'r') ?? 0)
    counts.set(d, (counts.get(d) ?? 0) + (r >= 0 ? r + 1 : 1))
  }
  if (counts.size === 0) throw errors.badRequest(`cannot learn timing: empty SegmentTimeline at ${where}`)
  let best = 0
  let bestCount = -1
  for (const [d, c] of counts) {
    if (c > bestCount) {
      best = d
      bestCount = c
    }
  }
  if (counts.size > 1) {
    warnings.push(
      `SegmentTimeline at ${where} has varying S@d (${[...counts.keys()].join(', ')}); timing uses ${best}`,
    )
  }
  const t = attr(entries[0]!, 't')
  return { d: best, t0: t === undefined ? undefined : Number(t) }
}

function folderOf(path: string | undefined): string {
  if (path === undefined) return ''
  const p = path.startsWith('/') ? path.slice(1) : path
  const slash = p.lastIndexOf('/')
  return slash === -1 ? '' : p.slice(0, slash + 1)
}

/**
 * Learns a channel's timing from a DASH MPD. Uses the last Period (the live one) and, of its
 * SegmentTemplates, the first of a video adaptation set (else the first found); differing
 * templates elsewhere are reported in `warnings`. Throws `errors.badRequest` naming what is
 * missing or malformed: not XML, no MPD element, no `availabilityStartTime` (a static MPD
 * usually has none, so its timing cannot be learned), no SegmentTemplate, no `@media`, a
 * `$Time$`-addressed template, neither `@duration` nor a SegmentTimeline.
 */
export function learnChannelFromMpd(xml: string, options: LearnOptions = {}): LearnedChannel {
  let doc: Node
  try {
    doc = asNode(parser.parse(xml, true))
  } catch (err) {
    throw errors.badRequest(`MPD is not well-formed XML: ${(err as Error).message}`)
  }
  if (doc.MPD === undefined) throw errors.badRequest('not a DASH MPD: no MPD element')
  const mpd = asNode(doc.MPD)
  const type = attr(mpd, 'type') === 'dynamic' ? 'dynamic' : 'static'
  const warnings: string[] = []

  const astText = attr(mpd, 'availabilityStartTime')
  if (astText === undefined) {
    throw errors.badRequest(`cannot learn timing: ${type} MPD has no MPD@availabilityStartTime`)
  }
  const ast = parseIsoDateTime(astText, { assumeUtc: true })
  if (ast === undefined) {
    throw errors.badRequest(`MPD@availabilityStartTime="${astText}" is not an ISO-8601 date-time`)
  }
  let dvrWindowMs: number | undefined
  const tsbd = attr(mpd, 'timeShiftBufferDepth')
  if (tsbd !== undefined) {
    dvrWindowMs = parseIsoDuration(tsbd)
    if (dvrWindowMs === undefined) {
      throw errors.badRequest(
        `MPD@timeShiftBufferDepth="${tsbd}" is not an ISO-8601 duration of days to seconds`,
      )
    }
  }

  const periods = children(mpd, 'Period')
  if (periods.length === 0) throw errors.badRequest('cannot learn timing: MPD has no Period')
  let periodStartMs = 0
  for (let i = 0; i < periods.length; i++) {
    const p = periods[i]!
    const start = attr(p, 'start')
    if (start !== undefined) {
      const ms = parseIsoDuration(start)
      if (ms === undefined) throw errors.badRequest(`Period@start="${start}" is not an ISO-8601 duration`)
      periodStartMs = ms
    } else if (i > 0) {
      const prevDuration = attr(periods[i - 1]!, 'duration')
      const ms = prevDuration === undefined ? undefined : parseIsoDuration(prevDuration)
      if (ms === undefined) {
        throw errors.badRequest(
          `cannot learn timing: Period ${i} has no @start and the one before no @duration`,
        )
      }
      periodStartMs += ms
    }
  }
  const period = periods[periods.length - 1]!

  let prefix = withBaseUrl(folderOf(options.path), mpd, warnings)
  prefix = withBaseUrl(prefix, period, warnings)
  const periodOffset = baseUrlOffset(mpd) + baseUrlOffset(period)
  const periodState = inherit({ attrs: {}, timeline: undefined }, period)
  const candidates: Candidate[] = []
  children(period, 'AdaptationSet').forEach((as, ai) => {
    const asState = inherit(periodState, as)
    const asPrefix = withBaseUrl(prefix, as, warnings)
    const asOffset = periodOffset + baseUrlOffset(as)
    const reps = children(as, 'Representation')
    if (reps.length === 0 && asState.attrs.media !== undefined) {
      candidates.push({
        where: `AdaptationSet ${attr(as, 'id') ?? ai}`,
        isVideo: isVideo(as),
        prefix: asPrefix,
        state: asState,
        baseOffset: asOffset,
      })
    }
    reps.forEach((rep, ri) => {
      const state = inherit(asState, rep)
      if (state.attrs.media === undefined) return
      candidates.push({
        where: `Representation ${attr(rep, 'id') ?? `${ai}.${ri}`}`,
        isVideo: isVideo(as, rep),
        prefix: withBaseUrl(asPrefix, rep, warnings),
        state,
        baseOffset: asOffset + baseUrlOffset(rep),
      })
    })
  })
  if (candidates.length === 0 && periodState.attrs.media !== undefined) {
    candidates.push({ where: 'Period', isVideo: false, prefix, state: periodState, baseOffset: periodOffset })
  }
  if (candidates.length === 0) {
    throw errors.badRequest('cannot learn timing: no SegmentTemplate with @media in the last Period')
  }
  const chosen = candidates.find((c) => c.isVideo) ?? candidates[0]!
  const { state, where } = chosen
  const media = state.attrs.media!
  let parts: ReturnType<typeof parseTemplate>
  try {
    parts = parseTemplate(media)
  } catch (err) {
    throw errors.badRequest(
      `cannot learn timing: SegmentTemplate@media="${media}" at ${where}: ${(err as Error).message}`,
    )
  }
  if (!parts.some((p) => p.kind === 'number')) {
    throw errors.badRequest(
      `cannot learn timing: SegmentTemplate@media="${media}" at ${where} has no $Number$`,
    )
  }

  const timescale = numberAttr(state, 'timescale', 1, where)
  if (timescale === 0)
    throw errors.badRequest(`cannot learn timing: SegmentTemplate@timescale is 0 at ${where}`)
  const startNumber = numberAttr(state, 'startNumber', 1, where)
  let units: number
  let firstOffsetMs = 0
  if (state.attrs.duration !== undefined) {
    units = numberAttr(state, 'duration', 0, where)
  } else if (state.timeline !== undefined) {
    const tl = timelineDuration(state.timeline, where, warnings)
    units = tl.d
    if (tl.t0 !== undefined) {
      const pto = numberAttr(state, 'presentationTimeOffset', 0, where)
      firstOffsetMs = ((tl.t0 - pto) / timescale) * 1000
    }
  } else {
    throw errors.badRequest(
      `cannot learn timing: SegmentTemplate at ${where} has neither @duration nor a SegmentTimeline`,
    )
  }
  const exactMs = (units / timescale) * 1000
  const segmentDurationMs = Math.round(exactMs)
  if (!(segmentDurationMs >= 1)) {
    throw errors.badRequest(`cannot learn timing: segment duration at ${where} is under 1 ms`)
  }
  if (Math.abs(exactMs - segmentDurationMs) > 1e-6) {
    warnings.push(
      `segment duration ${exactMs} ms at ${where} rounded to ${segmentDurationMs} ms; A(N) drifts over time`,
    )
  }

  for (const c of candidates) {
    if (c === chosen) continue
    const other = c.prefix + (c.state.attrs.media ?? '')
    if (other !== chosen.prefix + media) {
      warnings.push(`${c.where} uses media template ${other}; only ${chosen.prefix + media} is timed`)
    }
  }

  const atoMs = availabilityTimeOffsetMs(chosen, warnings)
  const init = state.attrs.initialization
  const learned: LearnedChannel = {
    type,
    availabilityStartTime: Math.round(ast + periodStartMs + firstOffsetMs),
    segmentDurationMs,
    startNumber,
    media: chosen.prefix + media,
    ...(init === undefined ? {} : { initialization: chosen.prefix + init }),
    ...(dvrWindowMs === undefined ? {} : { dvrWindowMs: clampDvrWindow(dvrWindowMs, warnings) }),
    ...(atoMs > 0 ? { availabilityTimeOffsetMs: atoMs } : {}),
    // Segments announced before they are complete must be served while they upload.
    ...(atoMs > 0 && state.attrs.availabilityTimeComplete === 'false' ? { lowLatency: true } : {}),
    warnings,
  }
  checkLearned(learned, state.timeline !== undefined && state.attrs.duration === undefined)
  return learned
}

/**
 * The chosen template's availability time offset in ms: the SegmentTemplate's (inherited
 * like its other attributes) plus the BaseURLs', rounded to whole ms. `INF` (every segment
 * available at any time) cannot time a live channel: not learned, with a warning.
 */
function availabilityTimeOffsetMs(chosen: Candidate, warnings: string[]): number {
  const own = chosen.state.attrs.availabilityTimeOffset
  const seconds = (own === undefined ? 0 : offsetSeconds(own, 'SegmentTemplate')) + chosen.baseOffset
  if (seconds === Number.POSITIVE_INFINITY) {
    warnings.push(`availabilityTimeOffset INF at ${chosen.where} is not used: segments are timed by A(N)`)
    return 0
  }
  return Math.round(seconds * 1000)
}

/**
 * A `timeShiftBufferDepth` longer than the longest DVR window the origin keeps (30 days) is
 * clamped to it, a zero one to 1 ms (the channel then keeps segments for the late allowance
 * R): the packager's intent (a long, or no, time-shift buffer) is kept as well as it can be.
 */
function clampDvrWindow(ms: number, warnings: string[]): number {
  if (ms > MAX_DVR_WINDOW_MS) {
    warnings.push(`MPD@timeShiftBufferDepth of ${ms} ms clamped to ${MAX_DVR_WINDOW_MS} ms (30 days)`)
    return MAX_DVR_WINDOW_MS
  }
  return Math.max(1, ms)
}

/** The MPD field each learned value comes from, for errors that name it. */
function mpdField(field: string, fromTimeline: boolean): string {
  switch (field) {
    case 'availabilityStartTime':
      return 'MPD@availabilityStartTime'
    case 'segmentDurationMs':
      return fromTimeline ? 'SegmentTimeline S@d' : 'SegmentTemplate@duration'
    case 'startNumber':
      return 'SegmentTemplate@startNumber'
    case 'media':
      return 'SegmentTemplate@media'
    case 'initialization':
      return 'SegmentTemplate@initialization'
    case 'dvrWindowMs':
      return 'MPD@timeShiftBufferDepth'
    case 'availabilityTimeOffsetMs':
      return 'SegmentTemplate@availabilityTimeOffset'
    case 'lowLatency':
      return 'SegmentTemplate@availabilityTimeComplete'
    default:
      return field
  }
}

const LEARNED_FIELDS = [
  'availabilityStartTime',
  'segmentDurationMs',
  'startNumber',
  'media',
  'initialization',
  'dvrWindowMs',
  'availabilityTimeOffsetMs',
  'lowLatency',
] as const satisfies readonly (keyof ChannelConfigInput)[]

/**
 * Checks every learned value against the rules of a channel configuration, and the channel
 * they make as a whole, before anything is stored: a value the origin cannot run a channel
 * with is refused with `errors.badMpd` naming the MPD field (never stored to fail later).
 */
function checkLearned(learned: LearnedChannel, fromTimeline: boolean): void {
  for (const field of LEARNED_FIELDS) {
    const value = learned[field]
    if (value === undefined) continue
    const why = channelFieldProblem(field, value)
    if (why !== undefined) {
      const shown = field === 'segmentDurationMs' ? `(${value} ms)` : `("${String(value)}")`
      throw errors.badMpd(mpdField(field, fromTimeline), `${shown} ${why}`)
    }
  }
  try {
    mergeChannelConfig(learned, undefined)
  } catch (err) {
    if (!isLiveOriginError(err)) throw err
    const field = /invalid field (\w+)/.exec(err.message)?.[1] ?? 'timing'
    throw errors.badMpd(mpdField(field, fromTimeline), err.message.replace(/^invalid field \w+: /, ''))
  }
}
