/**
 * LL-HLS blocking playlist reload (RFC 8216bis §6.2.5.2, Apple's Low-Latency HLS): parsing
 * the `_HLS_msn` / `_HLS_part` delivery directives, the media playlist a packager PUT
 * (segments, parts, target durations, server control), and the rules that decide when a
 * held playlist request is satisfied, refused as too far ahead, or timed out. Pure.
 */

import { errors } from '../errors.js'
import { parseIsoDateTime } from './iso8601.js'

/** One `EXT-X-PART`. */
export interface HlsPart {
  readonly uri: string
  readonly durationMs: number
  readonly independent: boolean
}

/** One complete media segment (`EXTINF` + URI) with the parts listed before it. */
export interface HlsSegment {
  /** Media Sequence Number. */
  readonly msn: number
  readonly uri: string
  readonly durationMs: number
  readonly parts: readonly HlsPart[]
  /** `EXT-X-PROGRAM-DATE-TIME` given for this segment (epoch ms), when the playlist tags it. */
  readonly programDateTimeMs?: number
}

/** `EXT-X-SERVER-CONTROL` attributes. */
export interface HlsServerControl {
  readonly canBlockReload: boolean
  readonly canSkipUntilMs?: number
  readonly canSkipDateRanges: boolean
  readonly holdBackMs?: number
  readonly partHoldBackMs?: number
}

/** A parsed media playlist: what blocking reload needs to know. */
export interface MediaPlaylist {
  /** `EXT-X-TARGETDURATION`, in ms. */
  readonly targetDurationMs: number
  /** `EXT-X-MEDIA-SEQUENCE` (0 when absent). */
  readonly mediaSequence: number
  readonly segments: readonly HlsSegment[]
  /** Parts after the last complete segment: the first parts of segment `lastMsn + 1`, still being written. */
  readonly trailingParts: readonly HlsPart[]
  /** `EXT-X-PART-INF:PART-TARGET`, in ms, when the playlist has parts. */
  readonly partTargetMs?: number
  readonly serverControl: HlsServerControl
  /** `EXT-X-ENDLIST`: the presentation is over; delivery directives are ignored. */
  readonly endList: boolean
  /** MSN of the last complete segment (`mediaSequence − 1` when none is listed). */
  readonly lastMsn: number
  /** `EXT-X-MAP:URI` (the init segment), as written, when present. */
  readonly map?: string
  /** `EXT-X-PLAYLIST-TYPE` (`EVENT`, `VOD`), when present. */
  readonly playlistType?: string
}

/** A blocking playlist reload request. */
export interface BlockingRequest {
  readonly msn: number
  readonly part?: number
}

const DECIMAL_INTEGER = /^\d{1,15}$/

function directive(query: URLSearchParams, name: string): number | undefined {
  const values = query.getAll(name)
  if (values.length === 0) return undefined
  if (values.length > 1) throw errors.badQuery(`${name} given more than once`)
  const v = values[0]!
  if (!DECIMAL_INTEGER.test(v)) throw errors.badQuery(`${name} must be a decimal integer, got "${v}"`)
  return Number(v)
}

/**
 * Reads the `_HLS_msn` / `_HLS_part` directives of a playlist request. Undefined when there
 * are none (a plain reload). Throws `errors.badQuery` (400) for a value that is not a
 * decimal integer, a repeated directive, or `_HLS_part` without `_HLS_msn` (RFC 8216bis
 * §6.2.5.2 requires 400 then). `_HLS_skip` is not looked at.
 */
export function parseBlockingRequest(query: URLSearchParams): BlockingRequest | undefined {
  const msn = directive(query, '_HLS_msn')
  const part = directive(query, '_HLS_part')
  if (msn === undefined) {
    if (part !== undefined) throw errors.badQuery('_HLS_part requires _HLS_msn')
    return undefined
  }
  return part === undefined ? { msn } : { msn, part }
}

/** Parses an attribute list (`KEY=value,KEY="quoted, value"`). */
function attributes(list: string): Map<string, string> {
  const out = new Map<string, string>()
  const re = /([A-Z0-9-]+)=("[^"]*"|[^,]*)/g
  for (let m = re.exec(list); m !== null; m = re.exec(list)) {
    const raw = m[2]!
    out.set(m[1]!, raw.startsWith('"') ? raw.slice(1, -1) : raw.trim())
  }
  return out
}

function seconds(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined
  const s = Number(value)
  return Number.isFinite(s) && s >= 0 ? Math.round(s * 1000) : undefined
}

/**
 * Parses a media playlist. Throws `errors.badRequest` when the text is not one: no
 * `#EXTM3U` first line, a multivariant playlist (`EXT-X-STREAM-INF`), or no valid
 * `EXT-X-TARGETDURATION`.
 */
export function parseMediaPlaylist(text: string): MediaPlaylist {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  if (lines[0]?.trim() !== '#EXTM3U')
    throw errors.badRequest('not an HLS playlist: first line is not #EXTM3U')
  let targetDurationMs: number | undefined
  let mediaSequence = 0
  let partTargetMs: number | undefined
  let serverControl: HlsServerControl = { canBlockReload: false, canSkipDateRanges: false }
  let endList = false
  let skipped = 0
  const segments: HlsSegment[] = []
  let parts: HlsPart[] = []
  let pendingDurationMs: number | undefined
  let pendingPdt: number | undefined
  let map: string | undefined
  let playlistType: string | undefined

  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line === '') continue
    if (!line.startsWith('#')) {
      if (pendingDurationMs === undefined) continue
      segments.push({
        msn: mediaSequence + skipped + segments.length,
        uri: line,
        durationMs: pendingDurationMs,
        parts,
        ...(pendingPdt === undefined ? {} : { programDateTimeMs: pendingPdt }),
      })
      parts = []
      pendingDurationMs = undefined
      pendingPdt = undefined
      continue
    }
    const colon = line.indexOf(':')
    const tag = colon === -1 ? line : line.slice(0, colon)
    const value = colon === -1 ? '' : line.slice(colon + 1)
    switch (tag) {
      case '#EXTINF':
        pendingDurationMs = seconds(value.split(',')[0]) ?? 0
        break
      case '#EXT-X-TARGETDURATION':
        targetDurationMs = DECIMAL_INTEGER.test(value) ? Number(value) * 1000 : undefined
        break
      case '#EXT-X-MEDIA-SEQUENCE':
        if (!DECIMAL_INTEGER.test(value))
          throw errors.badRequest(`EXT-X-MEDIA-SEQUENCE:${value} is not a decimal integer`)
        mediaSequence = Number(value)
        break
      case '#EXT-X-SKIP':
        skipped += Number(attributes(value).get('SKIPPED-SEGMENTS') ?? 0) || 0
        break
      case '#EXT-X-PART': {
        const a = attributes(value)
        parts.push({
          uri: a.get('URI') ?? '',
          durationMs: seconds(a.get('DURATION')) ?? 0,
          independent: a.get('INDEPENDENT') === 'YES',
        })
        break
      }
      case '#EXT-X-PART-INF':
        partTargetMs = seconds(attributes(value).get('PART-TARGET'))
        break
      case '#EXT-X-SERVER-CONTROL': {
        const a = attributes(value)
        const canSkipUntilMs = seconds(a.get('CAN-SKIP-UNTIL'))
        const holdBackMs = seconds(a.get('HOLD-BACK'))
        const partHoldBackMs = seconds(a.get('PART-HOLD-BACK'))
        serverControl = {
          canBlockReload: a.get('CAN-BLOCK-RELOAD') === 'YES',
          canSkipDateRanges: a.get('CAN-SKIP-DATERANGES') === 'YES',
          ...(canSkipUntilMs === undefined ? {} : { canSkipUntilMs }),
          ...(holdBackMs === undefined ? {} : { holdBackMs }),
          ...(partHoldBackMs === undefined ? {} : { partHoldBackMs }),
        }
        break
      }
      case '#EXT-X-ENDLIST':
        endList = true
        break
      case '#EXT-X-PROGRAM-DATE-TIME': {
        const ms = parseIsoDateTime(value)
        if (ms === undefined)
          throw errors.badRequest(`EXT-X-PROGRAM-DATE-TIME:${value} is not an ISO-8601 date-time`)
        pendingPdt = ms
        break
      }
      case '#EXT-X-MAP':
        map = attributes(value).get('URI')
        break
      case '#EXT-X-PLAYLIST-TYPE':
        playlistType = value
        break
      case '#EXT-X-STREAM-INF':
        throw errors.badRequest('a multivariant playlist has no media sequence to block on')
    }
  }
  if (targetDurationMs === undefined)
    throw errors.badRequest('HLS media playlist without a valid EXT-X-TARGETDURATION')
  return {
    targetDurationMs,
    mediaSequence,
    segments,
    trailingParts: parts,
    ...(partTargetMs === undefined ? {} : { partTargetMs }),
    serverControl,
    endList,
    lastMsn: mediaSequence + skipped + segments.length - 1,
    ...(map === undefined ? {} : { map }),
    ...(playlistType === undefined ? {} : { playlistType }),
  }
}

/** The parts the playlist lists for segment `msn` (trailing parts for the one in progress), or undefined if none is known. */
function partsOf(playlist: MediaPlaylist, msn: number): readonly HlsPart[] | undefined {
  if (msn === playlist.lastMsn + 1) return playlist.trailingParts
  const seg = playlist.segments[msn - (playlist.lastMsn - playlist.segments.length + 1)]
  return seg?.parts
}

/**
 * Whether the playlist can answer a blocking reload for `msn` (and `part`) now
 * (RFC 8216bis §6.2.5.2):
 * - a playlist with `EXT-X-ENDLIST` always does (the directives are ignored);
 * - without a part: it contains segment `msn` or a later one;
 * - with a part: it contains part `part` of segment `msn`, or anything of a later segment.
 *   A part index past the last part of a complete segment `msn` asks for part 0 of `msn + 1`.
 *   A complete segment `msn` whose parts are no longer listed counts as having them all.
 */
export function playlistSatisfies(playlist: MediaPlaylist, msn: number, part?: number): boolean {
  if (playlist.endList) return true
  const last = playlist.lastMsn
  if (part === undefined) return last >= msn
  if (msn < last) return true
  if (msn === last) {
    const parts = partsOf(playlist, msn)
    if (parts === undefined || parts.length === 0 || part < parts.length) return true
    return playlist.trailingParts.length > 0
  }
  if (msn === last + 1) return part < playlist.trailingParts.length
  return false
}

/**
 * The Advance Part Limit: how many parts past the last listed one a request may ask for
 * (3 / PART-TARGET in seconds when PART-TARGET < 1 s, else 3).
 */
export function advancePartLimit(playlist: MediaPlaylist): number {
  const pt = playlist.partTargetMs
  return pt !== undefined && pt > 0 && pt < 1000 ? 3000 / pt : 3
}

/**
 * Whether a blocking reload asks for too much too early and should get 400 at once
 * (RFC 8216bis §6.2.5.2): `msn` more than 2 past the last segment, or `part` more than the
 * Advance Part Limit past the last listed part (counted exactly within that part's segment,
 * as a lower bound beyond it). Never for a playlist with `EXT-X-ENDLIST`.
 */
export function blockingRequestTooFarAhead(playlist: MediaPlaylist, msn: number, part?: number): boolean {
  if (playlist.endList) return false
  if (msn > playlist.lastMsn + 2) return true
  if (part === undefined) return false
  let lastPartMsn: number
  let lastPartIndex: number
  if (playlist.trailingParts.length > 0) {
    lastPartMsn = playlist.lastMsn + 1
    lastPartIndex = playlist.trailingParts.length - 1
  } else {
    const parts = partsOf(playlist, playlist.lastMsn)
    if (parts === undefined || parts.length === 0) return false
    lastPartMsn = playlist.lastMsn
    lastPartIndex = parts.length - 1
  }
  const limit = advancePartLimit(playlist)
  if (msn === lastPartMsn) return part - lastPartIndex > limit
  if (msn > lastPartMsn) return part + 1 > limit
  return false
}

/**
 * How long a blocking reload may be held before the origin gives up with 503
 * (RFC 8216bis §6.2.5.2: three target durations).
 */
export function blockingTimeoutMs(playlist: MediaPlaylist): number {
  return 3 * playlist.targetDurationMs
}
