/**
 * Learning a channel's timing from the HLS playlists a pipeline PUTs (docs/timing.md, "HLS
 * timing"): D from `EXTINF`, segment numbers from `EXT-X-MEDIA-SEQUENCE` and each URI's
 * position, the URI pattern as the media template, `EXT-X-MAP` as the init segment, and the
 * availability of each number from `EXT-X-PROGRAM-DATE-TIME` or, without it, from the
 * playlist's arrival. A multivariant playlist names the renditions. Pure: the caller passes
 * the text, its path and the time it arrived.
 */

import { errors, isLiveOriginError } from '../errors.js'
import { channelFieldProblem, type LearnedChannel, mergeChannelConfig } from './channel-config.js'
import { type HlsSegment, type MediaPlaylist, parseMediaPlaylist } from './hls.js'
import {
  compilePathMatcher,
  compileTemplate,
  parseTemplate,
  renderTemplate,
  type TemplatePart,
} from './template.js'

/** What a media playlist teaches, in the numbers of its segment paths. */
export interface HlsLearned extends LearnedChannel {
  /** The newest segment's number: the re-learning tolerance is measured at its A(N). */
  readonly newest: number
  /** What A(N) is anchored on. */
  readonly anchor: 'program-date-time' | 'arrival'
}

/** What one playlist PUT teaches about its channel. */
export type PlaylistLesson =
  | {
      readonly kind: 'media'
      /** The playlist's path inside the channel. */
      readonly path: string
      /** The timing learned, or why none could be (the playlist is stored all the same). */
      readonly learned: HlsLearned | { readonly skipped: string }
    }
  | {
      readonly kind: 'multivariant'
      readonly path: string
      /** Variant and rendition playlist paths inside the channel (relative URIs only). */
      readonly variants: readonly string[]
    }

/** Segment durations within this fraction of a multiple of 100 ms are taken as that multiple. */
const SNAP_FRACTION = 0.015
const SNAP_MS = 100
/** Most variant paths a multivariant playlist contributes. */
const MAX_VARIANTS = 64

function folderOf(path: string): string {
  const slash = path.lastIndexOf('/')
  return slash === -1 ? '' : path.slice(0, slash + 1)
}

const RESOLVE_BASE = 'http://origin.invalid/channel/'

/** A URI relative to the playlist, as a path inside the channel; undefined for one that leaves it. */
function resolveUri(folder: string, uri: string): string | undefined {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri) || uri.startsWith('/') || uri.includes('?') || uri.includes('#'))
    return undefined
  // Resolved under a stand-in channel folder, so that a `..` leaving the channel shows.
  const resolved = new URL(uri, RESOLVE_BASE + folder)
  if (resolved.host !== 'origin.invalid' || !resolved.pathname.startsWith('/channel/')) return undefined
  try {
    return decodeURIComponent(resolved.pathname.slice('/channel/'.length))
  } catch {
    return undefined // a malformed percent-escape names no path
  }
}

/** Whether the text is a multivariant playlist (variants or renditions, no media segments). */
function isMultivariant(lines: readonly string[]): boolean {
  return lines.some((l) => l.startsWith('#EXT-X-STREAM-INF') || l.startsWith('#EXT-X-MEDIA:'))
}

/**
 * Reads a playlist a pipeline PUT at `path` (inside its channel) at time `now` (epoch ms).
 * @throws LiveOriginError `BAD_PLAYLIST` (400) when the text is not an HLS playlist the origin
 * can read: no `#EXTM3U` first line, no valid `EXT-X-TARGETDURATION` in a media playlist, a
 * malformed `EXT-X-MEDIA-SEQUENCE` or `EXT-X-PROGRAM-DATE-TIME`, a variant line without a URI.
 * A playlist that reads but gives no timing (irregular URIs, `EXT-X-ENDLIST`) is a lesson
 * with `skipped`.
 */
export function readPlaylist(text: string, path: string, now: number): PlaylistLesson {
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((l) => l.trim())
  if (lines[0] !== '#EXTM3U') throw errors.badPlaylist('the first line is not #EXTM3U')
  const folder = folderOf(path)
  if (isMultivariant(lines)) return { kind: 'multivariant', path, variants: variantsOf(lines, folder) }
  let playlist: MediaPlaylist
  try {
    playlist = parseMediaPlaylist(text)
  } catch (err) {
    if (isLiveOriginError(err)) throw errors.badPlaylist(err.message)
    throw err
  }
  return { kind: 'media', path, learned: learnFromMediaPlaylist(playlist, folder, now) }
}

function variantsOf(lines: readonly string[], folder: string): string[] {
  const out = new Set<string>()
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    let uri: string | undefined
    if (line.startsWith('#EXT-X-STREAM-INF')) {
      let j = i + 1
      while (j < lines.length && (lines[j] === '' || lines[j]!.startsWith('#'))) j++
      uri = lines[j]
      if (uri === undefined) throw errors.badPlaylist(`EXT-X-STREAM-INF on line ${i + 1} has no URI line`)
      i = j
    } else if (line.startsWith('#EXT-X-MEDIA:')) {
      uri = /(?:^|,)URI="([^"]*)"/.exec(line.slice('#EXT-X-MEDIA:'.length))?.[1]
    }
    if (uri === undefined) continue
    const resolved = resolveUri(folder, uri)
    if (resolved !== undefined && out.size < MAX_VARIANTS) out.add(resolved)
  }
  return [...out]
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) / 2)]!
}

/** D from the segments' `EXTINF`: their median, taken as a round 100 ms multiple when within 1.5 %. */
function segmentDuration(segments: readonly HlsSegment[]): number {
  const d = median(segments.map((s) => s.durationMs))
  const round = Math.round(d / SNAP_MS) * SNAP_MS
  return round > 0 && Math.abs(d - round) <= round * SNAP_FRACTION ? round : d
}

/**
 * The media template that names every listed segment: a run of digits in the path that is the
 * segment's media sequence number plus one constant offset (0 for ffmpeg), zero-padded or not,
 * the rest of the path equal. The last run equal to the number wins (`v1/seg-12.ts` →
 * `v1/seg-$Number$.ts`), then the last with a constant offset.
 */
function numberedTemplate(
  paths: readonly string[],
  msns: readonly number[],
): { media: string; offset: number } | undefined {
  const first = paths[0]!
  // Last run first, but never one in the file extension (the 4 of `.m4s`) before the others.
  const dot = first.lastIndexOf('.')
  const all = [...first.matchAll(/\d+/g)].reverse()
  const runs = [
    ...all.filter((r) => dot === -1 || r.index < dot),
    ...all.filter((r) => dot !== -1 && r.index > dot),
  ]
  // A run equal to the media sequence number first; an offset only when more than one
  // segment shows it (`index0.m4s` alone is number 0, not 4 in `.m4s`).
  const exact = runs.filter((r) => Number(r[0]) === msns[0])
  const candidates = paths.length > 1 ? [...exact, ...runs.filter((r) => !exact.includes(r))] : exact
  for (const run of candidates) {
    const digits = run[0]
    const start = run.index
    const value = Number(digits)
    if (!Number.isSafeInteger(value)) continue
    const offset = value - msns[0]!
    if (offset < 0) continue
    const width = digits.length > 1 && digits.startsWith('0') ? digits.length : 0
    const media = `${first.slice(0, start)}$Number${width ? `%0${width}d` : ''}$${first.slice(start + digits.length)}`
    if (media.split('$').length !== 3) continue // the path holds a '$' of its own
    let compiled: ReturnType<typeof compileTemplate>
    try {
      compiled = compileTemplate(media)
    } catch {
      continue
    }
    if (paths.every((p, i) => renderTemplate(compiled, { number: msns[i]! + offset }) === p))
      return { media, offset }
  }
  return undefined
}

function skipped(why: string): { skipped: string } {
  return { skipped: `cannot learn timing from the playlist: ${why}` }
}

/**
 * What a parsed media playlist at `folder` teaches, at arrival time `now`; see
 * {@link readPlaylist}. Numbers are those of the segment paths (the media sequence number plus
 * the offset the paths show). S is the oldest listed number; A(N) = AST + (N − S + 1)·D.
 */
export function learnFromMediaPlaylist(
  playlist: MediaPlaylist,
  folder: string,
  now: number,
): HlsLearned | { skipped: string } {
  if (playlist.endList || playlist.playlistType === 'VOD')
    return skipped('it is complete (EXT-X-ENDLIST or VOD), so it says nothing about the live edge')
  const segments = playlist.segments
  if (segments.length === 0) return skipped('it lists no segment yet')
  const paths: string[] = []
  for (const s of segments) {
    const p = resolveUri(folder, s.uri)
    if (p === undefined) return skipped(`segment URI ${s.uri} is not a path relative to the playlist`)
    paths.push(p)
  }
  const numbered = numberedTemplate(
    paths,
    segments.map((s) => s.msn),
  )
  if (!numbered) return skipped('its segment URIs do not carry their media sequence numbers in one pattern')
  const warnings: string[] = []
  const mediaProblem = channelFieldProblem('media', numbered.media)
  if (mediaProblem !== undefined) return skipped(`media template ${numbered.media} ${mediaProblem}`)
  let initialization: string | undefined
  if (playlist.map !== undefined) {
    const init = resolveUri(folder, playlist.map)
    if (init !== undefined && channelFieldProblem('initialization', init) === undefined) initialization = init
    else warnings.push(`EXT-X-MAP URI ${playlist.map} cannot name an init segment of the channel; ignored`)
  }
  const d = segmentDuration(segments)
  if (!(d >= 1)) return skipped('its segments last under 1 ms')
  const number = (s: HlsSegment) => s.msn + numbered.offset
  const startNumber = number(segments[0]!)
  const newest = number(segments[segments.length - 1]!)
  // A(N) = PDT(N) + D, so AST (the start of S) = PDT(N) − (N − S)·D; without a date, the
  // newest segment listed became available when the playlist arrived.
  const dated = segments.findLast((s) => s.programDateTimeMs !== undefined)
  const ast = dated
    ? dated.programDateTimeMs! - (number(dated) - startNumber) * d
    : now - (newest - startNumber + 1) * d
  if (!(ast >= 0)) return skipped('its dates place the first segment before 1970')
  const learned: HlsLearned = {
    type: 'dynamic',
    availabilityStartTime: Math.round(ast),
    segmentDurationMs: d,
    startNumber,
    media: numbered.media,
    ...(initialization === undefined ? {} : { initialization }),
    // An LL-HLS playlist's parts are ranges of segments still uploading: only in-progress
    // delivery serves them before the segment completes.
    ...(playlist.partTargetMs === undefined ? {} : { lowLatency: true }),
    warnings,
    newest,
    anchor: dated ? 'program-date-time' : 'arrival',
  }
  try {
    mergeChannelConfig(learned, undefined)
  } catch (err) {
    if (!isLiveOriginError(err)) throw err
    return skipped(err.message)
  }
  return learned
}

/** The fields of an HLS lesson a channel record keeps. */
export type HlsRecord = Pick<
  LearnedChannel,
  | 'type'
  | 'availabilityStartTime'
  | 'segmentDurationMs'
  | 'startNumber'
  | 'media'
  | 'initialization'
  | 'lowLatency'
> & { readonly from: 'hls' }

/**
 * How far A(N) at the newest segment may move before a new playlist re-writes the channel:
 * max(100 ms, D/10). Playlists of a live channel arrive every D, each rendition's a little
 * apart; jitter below this is not worth a channel write on every playlist.
 */
export function relearnToleranceMs(segmentDurationMs: number): number {
  return Math.max(100, Math.round(segmentDurationMs / 10))
}

const ALNUM = /[A-Za-z0-9]/

/** Whether text[i] is a letter or digit (outside the string counts as not). */
function alnumAt(text: string, i: number): boolean {
  return i >= 0 && i < text.length && ALNUM.test(text[i]!)
}

/**
 * Replaces the last occurrence of `value` in the literal parts of `template` that stands
 * alone (no letter or digit right before or after it) with `$RepresentationID$`; undefined
 * when there is none or the template already has one.
 */
export function withRendition(template: string, value: string): string | undefined {
  if (value === '' || value.includes('/') || template.includes('$RepresentationID$')) return undefined
  let parts: TemplatePart[]
  try {
    parts = parseTemplate(template)
  } catch {
    return undefined
  }
  for (let p = parts.length - 1; p >= 0; p--) {
    const part = parts[p]!
    if (part.kind !== 'literal') continue
    const text = part.text
    for (let i = text.lastIndexOf(value); i !== -1; i = i === 0 ? -1 : text.lastIndexOf(value, i - 1)) {
      if (alnumAt(text, i - 1) || alnumAt(text, i + value.length)) continue
      const literal = `${text.slice(0, i)}$RepresentationID$${text.slice(i + value.length)}`
      return parts.map((q, k) => (k === p ? literal : partText(q))).join('')
    }
  }
  return undefined
}

function partText(p: TemplatePart): string {
  switch (p.kind) {
    case 'literal':
      return p.text.replaceAll('$', '$$')
    case 'representation':
      return '$RepresentationID$'
    case 'number':
      return p.width ? `$Number%0${p.width}d$` : '$Number$'
    case 'bandwidth':
      return p.width ? `$Bandwidth%0${p.width}d$` : '$Bandwidth$'
  }
}

/**
 * The one place two paths differ, widened to whole words (letters and digits): `{ prefix,
 * a, b, suffix }` with `a` and `b` non-empty and without `/`, or undefined when they differ
 * elsewhere or are equal. `stream_0/index.m3u8` vs `stream_1/index.m3u8` → `0` / `1`.
 */
export function differingWord(
  x: string,
  y: string,
): { prefix: string; a: string; b: string; suffix: string } | undefined {
  if (x === y) return undefined
  let pre = 0
  while (pre < x.length && pre < y.length && x[pre] === y[pre]) pre++
  while (pre > 0 && (alnumAt(x, pre - 1) || alnumAt(y, pre - 1)) && (alnumAt(x, pre) || alnumAt(y, pre)))
    pre--
  let suf = 0
  while (suf < x.length - pre && suf < y.length - pre && x[x.length - 1 - suf] === y[y.length - 1 - suf])
    suf++
  while (
    suf > 0 &&
    (alnumAt(x, x.length - suf) || alnumAt(y, y.length - suf)) &&
    (alnumAt(x, x.length - suf - 1) || alnumAt(y, y.length - suf - 1))
  )
    suf--
  const a = x.slice(pre, x.length - suf)
  const b = y.slice(pre, y.length - suf)
  if (a === '' || b === '' || a.includes('/') || b.includes('/') || a.includes('$') || b.includes('$'))
    return undefined
  return { prefix: x.slice(0, pre), a, b, suffix: x.slice(x.length - suf) }
}

/**
 * The rendition names a multivariant playlist's variant paths give: the one word in which
 * they differ (`stream_0/index.m3u8`, `stream_1/index.m3u8` → `0`, `1`; `video.m3u8`,
 * `audio.m3u8` → `video`, `audio`). Empty when there are fewer than two or they differ in
 * more than one place.
 */
export function renditionsOf(variants: readonly string[]): string[] {
  if (variants.length < 2) return []
  const first = variants[0]!
  const names: string[] = []
  let shape: string | undefined
  for (const v of variants.slice(1)) {
    const d = differingWord(first, v)
    if (!d) return []
    const s = `${d.prefix}\u0000${d.suffix}`
    if (shape !== undefined && s !== shape) return []
    shape = s
    if (names.length === 0) names.push(d.a)
    names.push(d.b)
  }
  return names
}

/** The rendition name a variant playlist's path holds, given the multivariant's variant paths. */
export function renditionOfPlaylist(path: string, variants: readonly string[]): string | undefined {
  const names = renditionsOf(variants)
  const i = variants.indexOf(path)
  return i === -1 ? undefined : names[i]
}

/** A template with its rendition generalised to `$RepresentationID$` (media and init alike). */
function generalise(
  rec: Pick<HlsRecord, 'media' | 'initialization'>,
  value: string,
): Pick<HlsRecord, 'media' | 'initialization'> | undefined {
  const media = withRendition(rec.media, value)
  if (media === undefined) return undefined
  const init = rec.initialization === undefined ? undefined : withRendition(rec.initialization, value)
  return {
    media,
    ...(rec.initialization === undefined ? {} : { initialization: init ?? rec.initialization }),
  }
}

/** Whether `general`'s media template names the segment `number` of the specific template `specific`. */
function covers(general: string, specific: string, number: number): boolean {
  try {
    const path = renderTemplate(compileTemplate(specific), { number })
    const m = compilePathMatcher({ media: general, initialization: 'init' }).match(path)
    return m.kind === 'media' && m.number === number
  } catch {
    return false
  }
}

/**
 * The channel record after a media playlist's lesson, given what the channel learned from
 * HLS before (`previous`) and the rendition name of the playlist (from the multivariant
 * playlist, when known). Undefined when nothing changes beyond the re-learning tolerance:
 * same templates (or ones that already cover this rendition), the same D, S not lower, the
 * same `lowLatency` (set by a playlist with parts, kept after), and A(newest) within
 * {@link relearnToleranceMs}.
 *
 * Templates: the first playlist's templates are taken; a playlist of another rendition whose
 * template differs in one word (`stream_0/…` vs `stream_1/…`, `video_…` vs `audio_…`) makes
 * that word `$RepresentationID$`; any other difference replaces the templates.
 */
export function nextHlsRecord(
  previous: HlsRecord | undefined,
  lesson: HlsLearned,
  rendition: string | undefined,
): HlsRecord | undefined {
  let templates: Pick<HlsRecord, 'media' | 'initialization'> = {
    media: lesson.media,
    ...(lesson.initialization === undefined ? {} : { initialization: lesson.initialization }),
  }
  if (rendition !== undefined) templates = generalise(templates, rendition) ?? templates
  if (previous !== undefined) {
    if (covers(previous.media, lesson.media, lesson.newest)) {
      templates = {
        media: previous.media,
        ...(previous.initialization === undefined ? {} : { initialization: previous.initialization }),
      }
    } else if (
      !previous.media.includes('$RepresentationID$') &&
      !templates.media.includes('$RepresentationID$')
    ) {
      const d = differingWord(previous.media, lesson.media)
      const g = d && generalise(previous, d.a)
      if (g && covers(g.media, lesson.media, lesson.newest)) templates = g
    }
  }
  const d = lesson.segmentDurationMs
  const availableNewest = lesson.availabilityStartTime + (lesson.newest - lesson.startNumber + 1) * d
  const startNumber = Math.min(lesson.startNumber, previous?.startNumber ?? lesson.startNumber)
  // Once one rendition's playlist has parts, the channel stays low latency.
  const lowLatency = lesson.lowLatency === true || previous?.lowLatency === true
  const next: HlsRecord = {
    type: 'dynamic',
    availabilityStartTime: availableNewest - (lesson.newest - startNumber + 1) * d,
    segmentDurationMs: d,
    startNumber,
    ...templates,
    ...(lowLatency ? { lowLatency } : {}),
    from: 'hls',
  }
  if (previous === undefined) return next
  const same =
    previous.media === next.media &&
    previous.initialization === next.initialization &&
    previous.segmentDurationMs === d &&
    previous.startNumber === startNumber &&
    (previous.lowLatency === true) === lowLatency
  if (!same) return next
  const before =
    previous.availabilityStartTime + (lesson.newest - previous.startNumber + 1) * previous.segmentDurationMs
  return Math.abs(before - availableNewest) > relearnToleranceMs(d) ? next : undefined
}

/**
 * The channel record after a multivariant playlist: the templates learned so far with the
 * rendition word generalised, when one of the renditions it names stands alone in them.
 * Undefined when nothing changes.
 */
export function generaliseHlsRecord(
  previous: HlsRecord | undefined,
  variants: readonly string[],
): HlsRecord | undefined {
  if (previous === undefined || previous.media.includes('$RepresentationID$')) return undefined
  for (const name of renditionsOf(variants)) {
    const g = generalise(previous, name)
    if (g) return { ...previous, ...g }
  }
  return undefined
}
