/**
 * A channel's configuration (docs/protocol.md#channels-and-segment-templates): the fields of `PUT /api/v1/channels/{channel}` and of
 * the config file's `channels` section, validated with zod and normalised (epoch-ms
 * availability start, every default filled in), plus the merge of what was learned from a
 * packager's MPD with what an operator set explicitly (explicit wins).
 */

import { z } from 'zod'
import { errors } from '../errors.js'
import { parseIsoDateTime } from './iso8601.js'
import { compileTemplate } from './template.js'

/** What an MPD says about a channel's timing; feed it to `mergeChannelConfig`. */
export interface LearnedChannel {
  readonly type: 'dynamic' | 'static'
  /** AST of segment `startNumber`'s start, epoch ms (MPD AST + Period@start, + first S@t for timelines). */
  readonly availabilityStartTime: number
  /** D in ms, rounded to the nearest ms. */
  readonly segmentDurationMs: number
  readonly startNumber: number
  /** Media template as a path inside the channel (BaseURLs and the MPD's own folder prepended). */
  readonly media: string
  /** Init template, when the SegmentTemplate has `@initialization`. */
  readonly initialization?: string
  /** From `MPD@timeShiftBufferDepth`, when present. */
  readonly dvrWindowMs?: number
  /**
   * From `@availabilityTimeOffset` (the SegmentTemplate's, inherited, plus the BaseURLs'), in
   * ms, when present and positive: segments are requestable that long before A(N) (LL-DASH).
   */
  readonly availabilityTimeOffsetMs?: number
  /**
   * True when the template says `availabilityTimeComplete="false"` with a positive offset: the
   * packager promises segments before they are complete, which only in-progress delivery keeps.
   */
  readonly lowLatency?: boolean
  /** What was noticed but not learned (other adaptation sets' templates, varying durations, absolute BaseURLs). */
  readonly warnings: readonly string[]
}

const HOUR_MS = 3_600_000
/** Longest accepted segment duration D, hold window H, selection grace G and manifest TTL. */
export const MAX_SEGMENT_DURATION_MS = HOUR_MS
/** Longest accepted DVR window (and late allowance R). */
export const MAX_DVR_WINDOW_MS = 30 * 24 * HOUR_MS
/** Default DVR window. */
export const DEFAULT_DVR_WINDOW_MS = 4 * HOUR_MS
export const DEFAULT_MEDIA_TEMPLATE = '$RepresentationID$/$Number$.m4s'
export const DEFAULT_INIT_TEMPLATE = '$RepresentationID$/init.mp4'
/** The init template of a channel whose media template has no `$RepresentationID$`. */
export const DEFAULT_SINGLE_INIT_TEMPLATE = 'init.mp4'
// Latest instant a JS Date can hold.
const MAX_EPOCH_MS = 8.64e15
const MAX_PIPELINES = 64
const MAX_TEMPLATE_LENGTH = 1024
const PIPELINE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/
const PATH_LITERAL = /^[A-Za-z0-9._/-]*$/

/** A channel's configuration, normalised: every field present, times in epoch ms, durations in ms. */
export interface ChannelConfig {
  /** D: the constant segment duration. */
  readonly segmentDurationMs: number
  /** AST in epoch ms. */
  readonly availabilityStartTime: number
  /** S: number of the first segment. */
  readonly startNumber: number
  /** DASH template of media segment paths inside the channel. */
  readonly media: string
  /** DASH template of init segment paths inside the channel. */
  readonly initialization: string
  /** Pipeline ids in preference order; empty = any pipeline, arrival order. */
  readonly pipelines: readonly string[]
  readonly dvrWindowMs: number
  /** H: how early before A(N) − ATO a request is held rather than answered 404. */
  readonly holdWindowMs: number
  /**
   * ATO (DASH `@availabilityTimeOffset`): how long before A(N) segment N is requestable,
   * because its upload is served while in progress (low-latency DASH, chunked segments);
   * 0 = when complete. At most D.
   */
  readonly availabilityTimeOffsetMs: number
  /** R: how long after A(N) a missing segment may still arrive. */
  readonly lateAllowanceMs: number
  /** G: how long to wait for a valid copy when only defective ones exist. */
  readonly selectionGraceMs: number
  /** Cache lifetime of the channel's MPDs. */
  readonly manifestTtlMs: number
  /**
   * What a segment no pipeline delivered by A(N)+R gets: `filler` (an earlier segment of the
   * rendition re-timed to N, so that players keep playing) or `gone` (410).
   */
  readonly gapPolicy: GapPolicy
  /**
   * Low latency: a media segment PUT with `Transfer-Encoding: chunked` is served to readers
   * chunk by chunk while it uploads (docs/delivery.md#segments-in-progress). Absent: false.
   */
  readonly lowLatency?: boolean
}

/** The answers a channel can give for a missing segment (docs/timing.md, "Gap policy"). */
export const GAP_POLICIES = ['filler', 'gone'] as const
export type GapPolicy = (typeof GAP_POLICIES)[number]
/** Default gap policy: the one that keeps viewers playing. */
export const DEFAULT_GAP_POLICY: GapPolicy = 'filler'

/** Configuration as an operator writes it (JSON body, YAML): any subset, AST as ISO-8601 or epoch ms. */
export interface ChannelConfigInput {
  readonly segmentDurationMs?: number
  readonly availabilityStartTime?: number | string
  readonly startNumber?: number
  readonly media?: string
  readonly initialization?: string
  readonly pipelines?: readonly string[]
  readonly dvrWindowMs?: number
  readonly holdWindowMs?: number
  readonly availabilityTimeOffsetMs?: number
  readonly lateAllowanceMs?: number
  readonly selectionGraceMs?: number
  readonly manifestTtlMs?: number
  readonly gapPolicy?: GapPolicy
  readonly lowLatency?: boolean
}

/** A validated subset of a channel configuration, AST already in epoch ms. */
export type ChannelConfigPatch = { -readonly [K in keyof ChannelConfig]?: ChannelConfig[K] }

function integer(min: number, max: number) {
  return z
    .number({ error: 'must be a number' })
    .int({ error: 'must be an integer' })
    .min(min, { error: min === 1 ? 'must be positive' : `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` })
}

function template(kind: 'media' | 'initialization') {
  return z
    .string({ error: 'must be a string' })
    .min(1, { error: 'must not be empty' })
    .max(MAX_TEMPLATE_LENGTH, { error: `must be at most ${MAX_TEMPLATE_LENGTH} characters` })
    .superRefine((value, ctx) => {
      const why = templateProblem(value, kind)
      if (why !== undefined) ctx.addIssue({ code: 'custom', message: why })
    })
}

/** Why a template cannot name objects of a channel (docs/protocol.md#paths-and-names path rules), or undefined when it can. */
function templateProblem(value: string, kind: 'media' | 'initialization'): string | undefined {
  let compiled: ReturnType<typeof compileTemplate>
  try {
    compiled = compileTemplate(value)
  } catch (err) {
    return (err as Error).message
  }
  if (kind === 'media' && !compiled.hasNumber) return 'must contain $Number$ or $Number%0<width>d$'
  if (kind === 'initialization' && compiled.hasNumber) return 'must not contain $Number$'
  if (value.endsWith('.mpd') || value.endsWith('.m3u8'))
    return 'must not end in .mpd or .m3u8 (manifest names)'
  let shape = ''
  for (const p of compiled.parts) {
    if (p.kind === 'literal') {
      if (!PATH_LITERAL.test(p.text)) {
        return p.text.includes('$')
          ? '$$ yields "$", which object paths may not contain'
          : `"${p.text}" has characters object paths may not contain (allowed: A-Z a-z 0-9 . _ - /)`
      }
      shape += p.text
    } else {
      // Any identifier expands to at least one path character.
      shape += 'x'
    }
  }
  const segments = shape.split('/')
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    return 'must be a relative path without empty, "." or ".." segments'
  }
  return undefined
}

/** The identifier the init template uses and the media template lacks, if any. */
function initNeedsMore(media: string, initialization: string): string | undefined {
  const m = compileTemplate(media)
  const i = compileTemplate(initialization)
  if (i.hasRepresentation && !m.hasRepresentation) return '$RepresentationID$'
  if (i.hasBandwidth && !m.hasBandwidth) return '$Bandwidth$'
  return undefined
}

const availabilityStartTime = z.unknown().transform((v, ctx): number | undefined => {
  if (v === undefined) return undefined
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0 && v <= MAX_EPOCH_MS) return v
    ctx.addIssue({ code: 'custom', message: 'epoch ms must be a non-negative integer' })
    return z.NEVER
  }
  if (typeof v === 'string') {
    const ms = parseIsoDateTime(v)
    if (ms !== undefined && ms >= 0) return ms
    ctx.addIssue({
      code: 'custom',
      message: 'must be an ISO-8601 date-time with Z or an offset (e.g. 2026-01-01T00:00:00Z) or epoch ms',
    })
    return z.NEVER
  }
  ctx.addIssue({ code: 'custom', message: 'must be an ISO-8601 string or epoch ms' })
  return z.NEVER
})

/**
 * The zod schema of a channel configuration input: every field optional, types and ranges
 * checked, unknown fields dropped, `availabilityStartTime` turned into epoch ms. Defaults
 * and cross-field rules are applied by {@link parseChannelConfig} / {@link mergeChannelConfig}.
 */
export const channelConfigSchema = z.object(
  {
    segmentDurationMs: integer(1, MAX_SEGMENT_DURATION_MS).optional(),
    availabilityStartTime: availabilityStartTime.optional(),
    startNumber: integer(0, Number.MAX_SAFE_INTEGER).optional(),
    media: template('media').optional(),
    initialization: template('initialization').optional(),
    pipelines: z
      .array(
        z
          .string({ error: 'must be a string' })
          .regex(PIPELINE_ID, { error: 'must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}' }),
        { error: 'must be an array of pipeline ids' },
      )
      .max(MAX_PIPELINES, { error: `must list at most ${MAX_PIPELINES} pipelines` })
      .superRefine((ids, ctx) => {
        const seen = new Set<string>()
        ids.forEach((id, i) => {
          if (seen.has(id)) ctx.addIssue({ code: 'custom', message: `lists ${id} twice`, path: [i] })
          seen.add(id)
        })
      })
      .optional(),
    dvrWindowMs: integer(1, MAX_DVR_WINDOW_MS).optional(),
    holdWindowMs: integer(0, HOUR_MS).optional(),
    availabilityTimeOffsetMs: integer(0, MAX_SEGMENT_DURATION_MS).optional(),
    lateAllowanceMs: integer(0, MAX_DVR_WINDOW_MS).optional(),
    selectionGraceMs: integer(0, HOUR_MS).optional(),
    manifestTtlMs: integer(0, HOUR_MS).optional(),
    gapPolicy: z.enum(GAP_POLICIES, { error: 'must be "filler" or "gone"' }).optional(),
    lowLatency: z.boolean({ error: 'must be true or false' }).optional(),
  },
  { error: 'must be a JSON object' },
)

/**
 * Why one field's value is not acceptable (type, range, template rules), or undefined when it
 * is. Used to check values learned from an MPD one by one, before anything is stored.
 */
export function channelFieldProblem(field: keyof ChannelConfigInput, value: unknown): string | undefined {
  const r = channelConfigSchema.shape[field].safeParse(value)
  return r.success ? undefined : r.error.issues[0]!.message
}

function fieldName(path: readonly PropertyKey[]): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`
  return out === '' ? 'config' : out
}

type Checked = { ok: true; patch: ChannelConfigPatch } | { ok: false; field: string; why: string }

function check(input: unknown): Checked {
  const r = channelConfigSchema.safeParse(input)
  if (!r.success) {
    const issue = r.error.issues[0]!
    return { ok: false, field: fieldName(issue.path), why: issue.message }
  }
  const patch: ChannelConfigPatch = {}
  for (const [k, v] of Object.entries(r.data)) {
    if (v !== undefined) (patch as Record<string, unknown>)[k] = v
  }
  return { ok: true, patch }
}

/**
 * Validates a (possibly partial) configuration input without applying defaults or requiring
 * anything. Throws `errors.badConfig(field, why)` naming the first bad field. Store this
 * (not the parsed `ChannelConfig`) as the explicit config, so that later merges can still
 * take from the MPD what the operator left out.
 */
export function validateChannelConfigInput(input: unknown): ChannelConfigPatch {
  const r = check(input)
  if (!r.ok) throw errors.badConfig(r.field, r.why)
  return r.patch
}

type Source = 'explicit' | 'learned'

function resolve(values: ChannelConfigPatch, source: (field: keyof ChannelConfig) => Source): ChannelConfig {
  const fail = (field: keyof ChannelConfig, why: string) =>
    errors.badConfig(field, source(field) === 'learned' ? `${why} (learned from the MPD)` : why)
  const d = values.segmentDurationMs
  if (d === undefined) throw errors.badConfig('segmentDurationMs', 'is required')
  const ast = values.availabilityStartTime
  if (ast === undefined) throw errors.badConfig('availabilityStartTime', 'is required')
  const lateAllowanceMs = values.lateAllowanceMs ?? 2 * d
  let dvrWindowMs = values.dvrWindowMs ?? DEFAULT_DVR_WINDOW_MS
  if (lateAllowanceMs > dvrWindowMs) {
    // An MPD's timeShiftBufferDepth shorter than R would expire segments still awaited: keep them for R.
    if (values.dvrWindowMs !== undefined && source('dvrWindowMs') === 'learned') dvrWindowMs = lateAllowanceMs
    else throw fail('lateAllowanceMs', `must not exceed dvrWindowMs (${dvrWindowMs})`)
  }
  const availabilityTimeOffsetMs = values.availabilityTimeOffsetMs ?? 0
  if (availabilityTimeOffsetMs > d) {
    throw fail('availabilityTimeOffsetMs', `must not exceed segmentDurationMs (${d})`)
  }
  const media = values.media ?? DEFAULT_MEDIA_TEMPLATE
  const initialization =
    values.initialization ??
    (compileTemplate(media).hasRepresentation ? DEFAULT_INIT_TEMPLATE : DEFAULT_SINGLE_INIT_TEMPLATE)
  // A segment's init segment is found from the segment's path, so an operator's init template
  // may use only the media template's identifiers. An MPD may pair others (one Representation
  // per SegmentTemplate): its segments are then checked without their init segment, which they
  // do not keep alive (docs/timing.md#channel-configuration).
  const unnamed = values.initialization === undefined ? undefined : initNeedsMore(media, initialization)
  if (unnamed !== undefined && source('initialization') === 'explicit') {
    throw fail(
      'initialization',
      `uses ${unnamed}, which the media template does not: a segment's path must name its init segment`,
    )
  }
  return {
    segmentDurationMs: d,
    availabilityStartTime: ast,
    startNumber: values.startNumber ?? 1,
    media,
    initialization,
    pipelines: values.pipelines ?? [],
    dvrWindowMs,
    holdWindowMs: values.holdWindowMs ?? d,
    availabilityTimeOffsetMs,
    lateAllowanceMs,
    selectionGraceMs: values.selectionGraceMs ?? Math.floor(d / 4),
    manifestTtlMs: values.manifestTtlMs ?? d,
    gapPolicy: values.gapPolicy ?? DEFAULT_GAP_POLICY,
    // Only when set: configurations without it read as they always have.
    ...(values.lowLatency ? { lowLatency: true } : {}),
  }
}

/**
 * Parses a complete channel configuration (docs/protocol.md#channels-and-segment-templates table). `segmentDurationMs` and
 * `availabilityStartTime` are required; every other field gets its default
 * (S = 1, H = D, ATO = 0, R = 2·D, G = ⌊D/4⌋, manifest TTL = D, DVR window 4 h). Unknown
 * fields are ignored; wrong types and out-of-range values throw `errors.badConfig(field, why)`
 * naming the first bad field, as do R > DVR window and ATO > D.
 */
export function parseChannelConfig(input: unknown): ChannelConfig {
  return resolve(validateChannelConfigInput(input), () => 'explicit')
}

/**
 * The effective configuration of a channel from what was learned from its MPD and what an
 * operator set explicitly (the raw input, or a patch from `validateChannelConfigInput`).
 * Explicit fields win, learned fields beat defaults, defaults fill the rest (derived ones such
 * as H = D from the resulting D). Throws `errors.badConfig` when a field is invalid or D / AST
 * come from neither side; a message about a learned value says so.
 */
export function mergeChannelConfig(
  learned: LearnedChannel | Readonly<Record<string, unknown>> | undefined,
  explicit: ChannelConfigInput | ChannelConfigPatch | Readonly<Record<string, unknown>> | undefined,
): ChannelConfig {
  const own = explicit === undefined ? {} : validateChannelConfigInput(explicit)
  let fromMpd: ChannelConfigPatch = {}
  if (learned !== undefined) {
    const { warnings: _warnings, ...fields } = learned
    // A learned field the operator overrides cannot make the merge fail.
    const r = check(Object.fromEntries(Object.entries(fields).filter(([k]) => !(k in own))))
    if (!r.ok) throw errors.badConfig(r.field, `${r.why} (learned from the MPD)`)
    fromMpd = r.patch
  }
  const merged: ChannelConfigPatch = { ...fromMpd, ...own }
  return resolve(merged, (field) => (field in own ? 'explicit' : field in fromMpd ? 'learned' : 'explicit'))
}
