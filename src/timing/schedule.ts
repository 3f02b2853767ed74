/**
 * Segment timing (docs/protocol.md#channels-and-segment-templates, #delivery): when segment N is due, where the live edge is, and what a
 * GET of a media or init segment gets at time t, from the channel template alone (never from
 * storage). Every function takes the time as epoch ms; none reads a clock.
 */

import { type ChannelConfig, DEFAULT_DVR_WINDOW_MS } from './channel-config.js'

/** Longest TTL of a "not yet" 404, so that a far-future request is not cached for days. */
export const MAX_TOO_EARLY_TTL_MS = 3_600_000
/** TTL of the 404 for a channel the origin does not know (docs/protocol.md#delivery). */
export const UNKNOWN_CHANNEL_TTL_MS = 5_000
/** TTL of manifests without a template, and of manifests and init segments that do not exist (docs/delivery.md#lifetimes). */
export const SHORT_TTL_MS = 1_000
/**
 * TTL of a stored object that is written once (anything but a manifest) on a channel without
 * a template: no DVR window is known, so the default one (4 h), as long as such objects are kept.
 */
export const WRITE_ONCE_TTL_MS = DEFAULT_DVR_WINDOW_MS
/** How long a stored segment outlives its DVR window: clock skew between nodes, in-flight reads. */
export const EXPIRY_MARGIN_MS = 60_000
/** Default number of segments behind the live edge that still count as "live edge" (docs/overload.md). */
export const DEFAULT_LIVE_EDGE_SEGMENTS = 3

type Timing = Pick<
  ChannelConfig,
  | 'segmentDurationMs'
  | 'availabilityStartTime'
  | 'startNumber'
  | 'dvrWindowMs'
  | 'holdWindowMs'
  | 'lateAllowanceMs'
  | 'availabilityTimeOffsetMs'
>

/** A(N) = AST + (N − S + 1)·D: when segment N is expected to be complete and available (epoch ms). */
export function availabilityAt(cfg: Timing, n: number): number {
  return cfg.availabilityStartTime + (n - cfg.startNumber + 1) * cfg.segmentDurationMs
}

/**
 * A(N) − ATO: when segment N becomes requestable (epoch ms). A(N) for a channel without an
 * availability time offset; earlier for a low-latency channel, whose segments are served
 * while their upload is still in progress. Holds begin H before it and a too-early 404 lives
 * until then; late and gap answers still count from A(N) (docs/timing.md, "Low latency").
 */
export function requestableAt(cfg: Timing, n: number): number {
  return availabilityAt(cfg, n) - cfg.availabilityTimeOffsetMs
}

/**
 * The live edge at time t: the highest N with A(N) ≤ t. Below S (S − 1 or less) when no
 * segment is available yet.
 */
export function liveEdge(cfg: Timing, t: number): number {
  return cfg.startNumber - 1 + Math.floor((t - cfg.availabilityStartTime) / cfg.segmentDurationMs)
}

/**
 * The least presentation delay a player must keep behind the live edge for this channel's
 * timing (docs/timing.md, "Presentation delay"): R + 2·D. Segment N starts playing at
 * A(N) − D + delay; the origin may answer it as late as A(N) + R (a late copy, or the filler
 * when no pipeline sent it), and one more D covers fetching and appending it. A packager's
 * `MPD@suggestedPresentationDelay` should be at least this.
 */
export function presentationDelayMs(
  cfg: Pick<ChannelConfig, 'segmentDurationMs' | 'lateAllowanceMs'>,
): number {
  return cfg.lateAllowanceMs + 2 * cfg.segmentDurationMs
}

/**
 * Whether a request for segment n belongs to the live-edge priority class (docs/overload.md): every
 * segment not older than `liveEdgeSegments` behind the live edge, future ones included
 * (those are answered from template math and held requests, never from old data).
 * False for NaN (an impossible number is not worth priority).
 */
export function isLiveEdgeSegment(
  cfg: Timing,
  n: number,
  t: number,
  liveEdgeSegments = DEFAULT_LIVE_EDGE_SEGMENTS,
): boolean {
  return n >= liveEdge(cfg, t) - liveEdgeSegments
}

/** What to answer a GET/HEAD of a media segment (docs/protocol.md#delivery table). */
export type Decision =
  | {
      /** A candidate exists: select it (docs/protocol.md#quality-control-and-selection) and serve it. */
      readonly action: 'serve'
      /** TTL of a valid copy: the DVR window. */
      readonly ttlMs: number
      /** TTL when the copy served is defective: D, so that a valid late copy can replace it. */
      readonly defectiveTtlMs: number
    }
  | {
      readonly action: 'not-found'
      readonly ttlMs: number
      /**
       * `before-start`: N < S. `invalid-number`: a number the template cannot produce (NaN
       * from the matcher). `too-early`: t < A(N) − ATO − H, TTL up to the moment holding starts.
       */
      readonly reason: 'before-start' | 'invalid-number' | 'too-early'
    }
  | {
      /** Hold the request; release it when a selectable candidate commits, else at `untilMs`. */
      readonly action: 'hold'
      /** A(N) + R: when to stop waiting and answer 410 (re-run `segmentDecision` then). */
      readonly untilMs: number
      /** A(N), for logs and CMSD. */
      readonly availableAtMs: number
    }
  | {
      readonly action: 'gone'
      /** The DVR window. */
      readonly ttlMs: number
      /** `missing`: t ≥ A(N) + R and no candidate. `expired`: A(N) < t − DVR window. */
      readonly reason: 'missing' | 'expired'
    }

/**
 * The answer (docs/protocol.md#media-segments) for media segment `n` at time `t` (epoch ms), given whether a candidate
 * (any stored copy that selection may pick) exists. Rows, in the order they apply:
 * - n not a safe integer (NaN from the matcher) → 404, TTL = DVR window (`invalid-number`);
 * - n < S → 404, TTL = DVR window (`before-start`);
 * - A(n) < t − DVR window → 410, TTL = DVR window (`expired`), even when a candidate exists;
 * - a candidate exists → serve, TTL = DVR window (D if the copy served is defective);
 * - t < A(n) − ATO − H → 404, TTL = A(n) − ATO − H − t exactly, at most 1 h (`too-early`);
 * - A(n) − ATO − H ≤ t < A(n) + R → hold until a candidate commits or A(n) + R;
 * - t ≥ A(n) + R → 410, TTL = DVR window (`missing`).
 */
export function segmentDecision(cfg: Timing, n: number, t: number, hasCandidate: false): MissingDecision
export function segmentDecision(cfg: Timing, n: number, t: number, hasCandidate: boolean): Decision
export function segmentDecision(cfg: Timing, n: number, t: number, hasCandidate: boolean): Decision {
  const dvr = cfg.dvrWindowMs
  if (!Number.isSafeInteger(n)) return { action: 'not-found', ttlMs: dvr, reason: 'invalid-number' }
  if (n < cfg.startNumber) return { action: 'not-found', ttlMs: dvr, reason: 'before-start' }
  const a = availabilityAt(cfg, n)
  if (a < t - dvr) return { action: 'gone', ttlMs: dvr, reason: 'expired' }
  if (hasCandidate)
    return { action: 'serve', ttlMs: servedTtlMs(cfg, false), defectiveTtlMs: servedTtlMs(cfg, true) }
  const holdFrom = a - cfg.availabilityTimeOffsetMs - cfg.holdWindowMs
  if (t < holdFrom) {
    // Rounded up only when t has a fraction: the cached 404 must not outlive A(N) − H by a whole ms.
    const ttlMs = Math.min(MAX_TOO_EARLY_TTL_MS, Math.ceil(holdFrom - t))
    return { action: 'not-found', ttlMs, reason: 'too-early' }
  }
  const until = a + cfg.lateAllowanceMs
  if (t < until) return { action: 'hold', untilMs: until, availableAtMs: a }
  return { action: 'gone', ttlMs: dvr, reason: 'missing' }
}

/** The answer for a segment of which no copy can be served (every row but `serve`). */
export type MissingDecision = Exclude<Decision, { readonly action: 'serve' }>

/**
 * TTL of a served copy of a media segment: the DVR window for a valid copy; D for a defective
 * one, and for every copy the origin made in its place (repaired, moved), so that a valid
 * late copy can replace it.
 */
export function servedTtlMs(
  cfg: Pick<ChannelConfig, 'dvrWindowMs' | 'segmentDurationMs'>,
  defective: boolean,
): number {
  return defective ? cfg.segmentDurationMs : cfg.dvrWindowMs
}

/**
 * TTL of a stored object that is neither a media segment nor a manifest (captions, keys, …,
 * and everything but manifests on a channel without a template): objects are written once,
 * so the DVR window, or `WRITE_ONCE_TTL_MS` (4 h) for a channel without a template.
 */
export function otherObjectTtlMs(cfg: Pick<ChannelConfig, 'dvrWindowMs'> | undefined): number {
  return cfg ? cfg.dvrWindowMs : WRITE_ONCE_TTL_MS
}

/** What to answer a GET/HEAD of an init segment. */
export type InitDecision =
  | { readonly action: 'serve'; readonly ttlMs: number }
  | { readonly action: 'not-found'; readonly ttlMs: number }
  | { readonly action: 'hold'; readonly untilMs: number }

/**
 * The answer for an init segment at time t (docs/delivery.md#lifetimes: 200 with the DVR
 * window as TTL, or 404 with 1 s, held like segment S). Held while A(S) − H ≤ t < A(S) + R and
 * none is stored (from A(S) − ATO − H on a low-latency channel); otherwise 404 with a 1 s TTL,
 * never 410: a restarting packager may still PUT it.
 */
export function initDecision(cfg: Timing, t: number, hasCandidate: boolean): InitDecision {
  if (hasCandidate) return { action: 'serve', ttlMs: cfg.dvrWindowMs }
  const until = availabilityAt(cfg, cfg.startNumber) + cfg.lateAllowanceMs
  if (t >= requestableAt(cfg, cfg.startNumber) - cfg.holdWindowMs && t < until)
    return { action: 'hold', untilMs: until }
  return { action: 'not-found', ttlMs: SHORT_TTL_MS }
}

/**
 * TTL of a manifest that exists (docs/protocol.md#delivery): ⌊D/2⌋ for HLS playlists, `manifestTtlMs` for MPDs.
 * Without a channel template, 1 s for both. A manifest that does not exist gets `SHORT_TTL_MS`.
 */
export function manifestTtlMs(
  cfg: Pick<ChannelConfig, 'segmentDurationMs' | 'manifestTtlMs'> | undefined,
  format: 'dash' | 'hls',
): number {
  if (cfg === undefined) return SHORT_TTL_MS
  return format === 'hls' ? Math.floor(cfg.segmentDurationMs / 2) : cfg.manifestTtlMs
}

/** A(N) + G: until when selection may hold a request for a valid copy when only defective ones exist (docs/protocol.md#quality-control-and-selection). */
export function selectionDeadline(cfg: Timing & Pick<ChannelConfig, 'selectionGraceMs'>, n: number): number {
  return availabilityAt(cfg, n) + cfg.selectionGraceMs
}

/**
 * When a stored copy of media segment n may be deleted (epoch ms, for `ObjectMeta.expiresAt`):
 * the end of its DVR window plus `EXPIRY_MARGIN_MS`. Until then `segmentDecision` may still
 * serve it; after A(n) + DVR window it answers 410 whatever storage holds.
 */
export function segmentExpiresAt(cfg: Timing, n: number): number {
  return availabilityAt(cfg, n) + cfg.dvrWindowMs + EXPIRY_MARGIN_MS
}

/**
 * When a stored object other than a numbered media segment may be deleted (epoch ms): one
 * DVR window (plus margin) after it was written. A manifest is written again with every
 * segment, each copy with its own expiry, so the current one lives a DVR window after the
 * stream's last update, as long as the stream's last segments.
 */
export function retainedUntil(cfg: Pick<Timing, 'dvrWindowMs'>, now: number): number {
  return now + cfg.dvrWindowMs + EXPIRY_MARGIN_MS
}

/**
 * How much longer than `retainedUntil` an init segment or manifest is kept, at most: its
 * lifetime is extended (`extendedInitExpiry`) at most this often while media segments of its
 * channel arrive. A channel with a shorter DVR window uses that window instead (but not less
 * than `INIT_EXTEND_MIN_MS`), so that what a short window stores stays about that window.
 */
export const INIT_EXTEND_EVERY_MS = 10 * 60_000
/** The least `initExtendEveryMs`, whatever the DVR window. */
export const INIT_EXTEND_MIN_MS = 30_000

/** How much longer than `retainedUntil` the channel's init segments and manifests are kept. */
export function initExtendEveryMs(cfg: Pick<Timing, 'dvrWindowMs'>): number {
  return Math.min(INIT_EXTEND_EVERY_MS, Math.max(INIT_EXTEND_MIN_MS, cfg.dvrWindowMs))
}

/** When a stored init segment may be deleted (epoch ms): `retainedUntil` + `initExtendEveryMs`. */
export function initExpiresAt(cfg: Pick<Timing, 'dvrWindowMs'>, now: number): number {
  return retainedUntil(cfg, now) + initExtendEveryMs(cfg)
}

/**
 * The expiry an init segment expiring at `initExpires` must be extended to when a media
 * segment of its rendition, expiring at `segmentExpires`, commits at `now`; undefined when
 * it already outlives that segment. Extended by `initExtendEveryMs` more than needed, so
 * that this happens at most that often.
 */
export function extendedInitExpiry(
  cfg: Pick<Timing, 'dvrWindowMs'>,
  initExpires: number,
  segmentExpires: number,
  now: number,
): number | undefined {
  if (initExpires === 0 || initExpires >= segmentExpires) return undefined
  return Math.max(initExpiresAt(cfg, now), segmentExpires + initExtendEveryMs(cfg))
}

/** The `CMSD-Static` value of a segment answer (CTA-5006 `at`: availability time, epoch ms). */
export function cmsdStatic(cfg: Timing, n: number): string {
  return `at=${availabilityAt(cfg, n)}`
}

/** What a missing segment (no selectable copy at t ≥ A(N) + R) gets under the channel's gap policy. */
export type GapAnswer =
  /** A filler (an earlier segment re-timed to N), TTL D; a 410 when no filler can be built. */
  | { readonly action: 'filler'; readonly ttlMs: number; readonly goneTtlMs: number }
  /** 410 Gone, TTL = DVR window. */
  | { readonly action: 'gone'; readonly ttlMs: number }

/** The gap policy's answer (docs/timing.md, "Gap policy"). */
export function gapAnswer(cfg: Timing & Pick<ChannelConfig, 'gapPolicy'>): GapAnswer {
  if (cfg.gapPolicy === 'gone') return { action: 'gone', ttlMs: cfg.dvrWindowMs }
  return { action: 'filler', ttlMs: cfg.segmentDurationMs, goneTtlMs: cfg.dvrWindowMs }
}

/** How many segments before N a filler's source is looked for (N−1 first). */
export const FILLER_SEARCH_SEGMENTS = 10
