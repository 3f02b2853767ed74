/**
 * DASH segment templates (ISO/IEC 23009-1 §5.3.9.4.4) compiled once per channel into one
 * path matcher that tells, for every request, what kind of object a path names: a media
 * segment (with its rendition and number), an init segment, a manifest, or anything else.
 * `match()` runs on every delivery request, so it does no parsing and allocates only for
 * media and init hits.
 */

/** One piece of a parsed template. */
export type TemplatePart =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'representation' }
  | { readonly kind: 'number'; readonly width: number }
  | { readonly kind: 'bandwidth'; readonly width: number }

/** What a path inside a channel names. */
export type PathMatch =
  | {
      readonly kind: 'media'
      /** The rendition as one string, see {@link renditionKey}. */
      readonly rendition: string
      /**
       * The segment number, or `NaN` when the path has the shape of the media template but
       * holds a number (or a `$Bandwidth$`) the template cannot produce: wrong zero-padding
       * width, a superfluous leading zero, a number past 2^53 − 1. `segmentDecision()`
       * answers NaN with 404 and the DVR-window TTL, as docs/protocol.md#delivery asks.
       */
      readonly number: number
    }
  | { readonly kind: 'init'; readonly rendition: string }
  | { readonly kind: 'manifest'; readonly format: 'dash' | 'hls' }
  | { readonly kind: 'other' }

/** Classifies object paths (inside the channel, no leading slash). Build with {@link compilePathMatcher}. */
export interface PathMatcher {
  match(path: string): PathMatch
}

/** The templates a matcher is compiled from (a `ChannelConfig` fits). */
export interface ChannelTemplates {
  readonly media: string
  readonly initialization: string
}

const MAX_WIDTH = 16

/**
 * The rendition a path names, as one string: its `$RepresentationID$` value (empty when the
 * template has none), then `@` and its `$Bandwidth$` value when the template has one
 * (`video@800000`, or `@800000` without `$RepresentationID$`). `@` is not a path character,
 * so the two parts never mix, and {@link renditionValues} splits them again.
 */
export function renditionKey(representation: string, bandwidth: number | undefined): string {
  return bandwidth === undefined ? representation : `${representation}@${bandwidth}`
}

/** The template values a {@link renditionKey} holds. */
export function renditionValues(key: string): { rendition: string; bandwidth: number | undefined } {
  const at = key.lastIndexOf('@')
  if (at === -1) return { rendition: key, bandwidth: undefined }
  return { rendition: key.slice(0, at), bandwidth: Number(key.slice(at + 1)) }
}

/**
 * Splits a template into literals and identifiers. Supports `$RepresentationID$`,
 * `$Number$`, `$Number%0<w>d$`, `$Bandwidth$`, `$Bandwidth%0<w>d$` and `$$` (a literal `$`).
 * Throws a `TypeError` saying what is wrong for anything else, including `$Time$` and
 * `$SubNumber$`: liveorigin times segments by number, so it cannot serve time-addressed ones.
 */
export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = []
  let literal = ''
  let i = 0
  // Stryker disable next-line EqualityOperator: at i = length the search finds no $ and the loop ends the same way
  while (i < template.length) {
    const open = template.indexOf('$', i)
    if (open === -1) {
      literal += template.slice(i)
      break
    }
    literal += template.slice(i, open)
    const close = template.indexOf('$', open + 1)
    if (close === -1) throw new TypeError(`unclosed $ at position ${open} in template ${template}`)
    const body = template.slice(open + 1, close)
    i = close + 1
    if (body === '') {
      literal += '$'
      continue
    }
    const pct = body.indexOf('%')
    const name = pct === -1 ? body : body.slice(0, pct)
    const format = pct === -1 ? undefined : body.slice(pct)
    let width = 0
    if (format !== undefined) {
      const m = /^%0(\d+)d$/.exec(format)
      const w = m ? Number(m[1]) : Number.NaN
      if (!(w >= 1 && w <= MAX_WIDTH)) {
        throw new TypeError(`format ${format} of $${name}$ must be %0<width>d with width 1-${MAX_WIDTH}`)
      }
      width = w
    }
    let part: TemplatePart
    switch (name) {
      case 'RepresentationID':
        if (format !== undefined) throw new TypeError('$RepresentationID$ takes no format tag')
        part = { kind: 'representation' }
        break
      case 'Number':
        part = { kind: 'number', width }
        break
      case 'Bandwidth':
        part = { kind: 'bandwidth', width }
        break
      case 'Time':
      case 'SubNumber':
        throw new TypeError(`$${name}$ is not supported: segments are timed by $Number$`)
      default:
        throw new TypeError(`unknown identifier $${body}$ in template ${template}`)
    }
    if (literal !== '') parts.push({ kind: 'literal', text: literal })
    literal = ''
    parts.push(part)
  }
  if (literal !== '') parts.push({ kind: 'literal', text: literal })
  return parts
}

/** A template compiled for matching and rendering. */
export interface CompiledTemplate {
  readonly template: string
  readonly parts: readonly TemplatePart[]
  /** Anchored pattern with one group for each of the rendition, the number and the first bandwidth. */
  readonly pattern: RegExp
  readonly hasRepresentation: boolean
  readonly hasNumber: boolean
  readonly hasBandwidth: boolean
  /** Zero-padding width of `$Number$` (0 = none). */
  readonly numberWidth: number
  /** Zero-padding width of the first `$Bandwidth$` (0 = none). */
  readonly bandwidthWidth: number
  /** Group of `pattern` holding `$RepresentationID$`, `$Number$`, the first `$Bandwidth$` (0 = none). */
  readonly groups: { readonly representation: number; readonly number: number; readonly bandwidth: number }
  /** True when `$Bandwidth$` appears more than once (every occurrence must then hold the same value). */
  readonly bandwidthRepeats: boolean
  /** Fixed text every matching path starts with, and ends with (fast rejection). */
  readonly prefix: string
  readonly suffix: string
  readonly representationFirst: boolean
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

/** Compiles one template (see {@link parseTemplate} for what it accepts). */
export function compileTemplate(template: string): CompiledTemplate {
  const parts = parseTemplate(template)
  let source = '^'
  let hasRepresentation = false
  let hasNumber = false
  let numberWidth = 0
  let bandwidthWidth = 0
  let bandwidthRepeats = false
  let representationFirst = false
  let group = 0
  const groups = { representation: 0, number: 0, bandwidth: 0 }
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!
    switch (p.kind) {
      case 'literal':
        source += escapeRegExp(p.text)
        break
      case 'representation':
        if (hasRepresentation) throw new TypeError(`$RepresentationID$ appears more than once in ${template}`)
        hasRepresentation = true
        if (!hasNumber) representationFirst = true
        // A rendition id never spans path segments; greedy, so the number binds to the last
        // digits. Right before $Number$ it is as short as it can be, so that the number takes
        // every digit after the last non-digit (`video12` is video, 12) and an id made of
        // digits still matches what the template renders (`02` is 0, 2).
        source += parts[i + 1]?.kind === 'number' ? '([^/]+?)' : '([^/]+)'
        groups.representation = ++group
        break
      case 'number':
        if (hasNumber) throw new TypeError(`$Number$ appears more than once in ${template}`)
        hasNumber = true
        numberWidth = p.width
        source += '(\\d+)'
        groups.number = ++group
        break
      case 'bandwidth':
        if (groups.bandwidth !== 0) {
          // Only the first is captured; the match checks that the path renders back.
          bandwidthRepeats = true
          source += '\\d+'
          break
        }
        bandwidthWidth = p.width
        source += '(\\d+)'
        groups.bandwidth = ++group
        break
    }
  }
  source += '$'
  const first = parts[0]
  const last = parts[parts.length - 1]
  const prefix = first?.kind === 'literal' ? first.text : ''
  const suffix = parts.length > 1 && last?.kind === 'literal' ? last.text : ''
  return {
    template,
    parts,
    pattern: new RegExp(source),
    hasRepresentation,
    hasNumber,
    hasBandwidth: groups.bandwidth !== 0,
    numberWidth,
    bandwidthWidth,
    groups,
    bandwidthRepeats,
    prefix,
    suffix,
    representationFirst,
  }
}

/**
 * The number a digit run stands for under `%0<width>d` (width 0: plain `%d`), or NaN when
 * printf could not have written it that way: shorter than the width, a leading zero that
 * padding does not explain, or past `Number.MAX_SAFE_INTEGER`. `start`/`end` select the run
 * inside `text` (default: all of it), which must hold only ASCII digits.
 */
export function parseTemplateNumber(text: string, width: number, start = 0, end = text.length): number {
  const len = end - start
  if (len === 0 || len < width || len > 16) return Number.NaN
  if (len > Math.max(width, 1) && text.charCodeAt(start) === 48) return Number.NaN
  // Exact below 2^53; a longer value rounds to ≥ 2^53 and fails the safe-integer test.
  let n = 0
  for (let i = start; i < end; i++) n = n * 10 + (text.charCodeAt(i) - 48)
  return Number.isSafeInteger(n) ? n : Number.NaN
}

/** Values substituted when rendering a template. */
export interface TemplateValues {
  readonly rendition?: string | undefined
  readonly number?: number | undefined
  readonly bandwidth?: number | undefined
}

/** Renders a compiled template. Throws a `TypeError` when a value the template uses is missing or invalid. */
export function renderTemplate(t: CompiledTemplate, values: TemplateValues): string {
  let out = ''
  for (const p of t.parts) {
    switch (p.kind) {
      case 'literal':
        out += p.text
        break
      case 'representation':
        if (values.rendition === undefined || values.rendition === '' || values.rendition.includes('/')) {
          throw new TypeError(`template ${t.template} needs a rendition without '/'`)
        }
        out += values.rendition
        break
      case 'number':
        out += formatInteger(values.number, p.width, 'number', t.template)
        break
      case 'bandwidth':
        out += formatInteger(values.bandwidth, p.width, 'bandwidth', t.template)
        break
    }
  }
  return out
}

function formatInteger(value: number | undefined, width: number, what: string, template: string): string {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new TypeError(`template ${template} needs a non-negative integer ${what}, got ${value}`)
  }
  return String(value as number).padStart(width, '0')
}

const OTHER: PathMatch = Object.freeze({ kind: 'other' })
const DASH_MANIFEST: PathMatch = Object.freeze({ kind: 'manifest', format: 'dash' })
const HLS_MANIFEST: PathMatch = Object.freeze({ kind: 'manifest', format: 'hls' })

function manifestOf(path: string): PathMatch | undefined {
  // Look at the last character first: most paths end in neither 'd' nor '8'.
  const last = path.charCodeAt(path.length - 1)
  // Stryker disable next-line ConditionalExpression: the character test is a fast path; endsWith decides
  if (last === 100 && path.endsWith('.mpd')) return DASH_MANIFEST
  // Stryker disable next-line ConditionalExpression: the character test is a fast path; endsWith decides
  if (last === 56 && path.endsWith('.m3u8')) return HLS_MANIFEST
  return undefined
}

const templateCache = new Map<string, CompiledTemplate>()

/**
 * The path of the init segment of `rendition` (a {@link renditionKey}), or undefined when the
 * init template uses a value the key lacks: then no init segment goes with the rendition's
 * segments (an MPD may pair a media template without `$RepresentationID$` with an init
 * template that has it).
 */
export function initPathOf(
  cfg: Pick<ChannelTemplates, 'initialization'>,
  rendition: string,
): string | undefined {
  const t = cachedTemplate(cfg.initialization)
  const values = renditionValues(rendition)
  if (t.hasRepresentation && values.rendition === '') return undefined
  if (t.hasBandwidth && values.bandwidth === undefined) return undefined
  return renderTemplate(t, values)
}

/** Compiles with a small cache, for the render helpers (configs hold few distinct templates). */
function cachedTemplate(template: string): CompiledTemplate {
  let t = templateCache.get(template)
  // Stryker disable next-line ConditionalExpression: compiling again gives the same template (the cache saves time only)
  if (t === undefined) {
    // Stryker disable next-line ConditionalExpression,EqualityOperator: the bound keeps memory in check, results are the same
    if (templateCache.size >= 256) templateCache.clear()
    t = compileTemplate(template)
    templateCache.set(template, t)
  }
  return t
}

/**
 * Compiles a channel's `media` and `initialization` templates into one matcher. Order of
 * classification: `.mpd` / `.m3u8` suffix → manifest; then the media template; then the init
 * template; else `other`. Without templates (a channel created by a bare PUT, docs/protocol.md#channels-and-segment-templates), only
 * manifests are recognised and everything else is `other`.
 *
 * Throws a `TypeError` when a template does not parse or the media template lacks `$Number$`
 * (channel configs from `parseChannelConfig` never do).
 */
export function compilePathMatcher(cfg: ChannelTemplates | undefined): PathMatcher {
  if (cfg === undefined) return { match: (path) => manifestOf(path) ?? OTHER }
  const media = compileTemplate(cfg.media)
  const init = compileTemplate(cfg.initialization)
  if (!media.hasNumber) throw new TypeError(`media template ${cfg.media} has no $Number$`)
  if (init.hasNumber) throw new TypeError(`initialization template ${cfg.initialization} has $Number$`)
  const mPattern = media.pattern
  const mPrefix = media.prefix
  const mSuffix = media.suffix
  const mWidth = media.numberWidth
  const mRep = media.groups.representation
  const mNumber = media.groups.number
  const mBandwidth = media.groups.bandwidth
  const mBandwidthWidth = media.bandwidthWidth
  const mRepeats = media.bandwidthRepeats
  const iPattern = init.pattern
  const iPrefix = init.prefix
  const iSuffix = init.suffix
  const iRep = init.groups.representation
  const iBandwidth = init.groups.bandwidth
  // Stryker disable next-line ConditionalExpression: without the fast path the regex gives the same answer
  const onlyPart = init.parts.length === 1 ? init.parts[0] : undefined
  // An init template without identifiers is one fixed path: compare strings, skip the regex.
  // Stryker disable next-line ConditionalExpression,StringLiteral: without the fast path the regex gives the same answer
  const iLiteral = onlyPart?.kind === 'literal' ? onlyPart.text : undefined

  return {
    match(path: string): PathMatch {
      const manifest = manifestOf(path)
      if (manifest !== undefined) return manifest
      // Stryker disable next-line ConditionalExpression,LogicalOperator: prefix and suffix only reject early; the anchored regex decides
      if (path.startsWith(mPrefix) && path.endsWith(mSuffix)) {
        const m = mPattern.exec(path)
        if (m !== null) {
          const representation = mRep === 0 ? '' : m[mRep]!
          let number = parseTemplateNumber(m[mNumber]!, mWidth)
          if (mBandwidth === 0) return { kind: 'media', rendition: representation, number }
          const bandwidth = parseTemplateNumber(m[mBandwidth]!, mBandwidthWidth)
          const rendition = renditionKey(representation, Number.isNaN(bandwidth) ? undefined : bandwidth)
          // A bandwidth the template cannot write, or repeated with another value: no segment.
          if (Number.isNaN(bandwidth)) number = Number.NaN
          else if (mRepeats && !Number.isNaN(number) && renderMediaPath(cfg, rendition, number) !== path) {
            number = Number.NaN
          }
          return { kind: 'media', rendition, number }
        }
      }
      // Stryker disable next-line ConditionalExpression: without the fast path the regex gives the same answer
      if (iLiteral !== undefined) return path === iLiteral ? { kind: 'init', rendition: '' } : OTHER
      // Stryker disable next-line ConditionalExpression,LogicalOperator: prefix and suffix only reject early; the anchored regex decides
      if (path.startsWith(iPrefix) && path.endsWith(iSuffix)) {
        const m = iPattern.exec(path)
        if (m !== null) {
          const representation = iRep === 0 ? '' : m[iRep]!
          if (iBandwidth === 0) return { kind: 'init', rendition: representation }
          return { kind: 'init', rendition: renditionKey(representation, Number(m[iBandwidth]!)) }
        }
      }
      return OTHER
    },
  }
}

/**
 * The path of media segment `number` of `rendition` (a {@link renditionKey}, as the matcher
 * gives it) under the channel's template: what a packager would PUT. `bandwidth`, when
 * given, stands for the one in the key.
 */
export function renderMediaPath(
  cfg: Pick<ChannelTemplates, 'media'>,
  rendition: string,
  number: number,
  bandwidth?: number,
): string {
  const values = renditionValues(rendition)
  return renderTemplate(cachedTemplate(cfg.media), {
    rendition: values.rendition,
    number,
    bandwidth: bandwidth ?? values.bandwidth,
  })
}

/**
 * The path of the init segment of `rendition` (a {@link renditionKey}) under the channel's
 * template. Throws a `TypeError` when the init template uses a value the key lacks (an init
 * template with `$RepresentationID$` and a media template without it).
 */
export function renderInitPath(
  cfg: Pick<ChannelTemplates, 'initialization'>,
  rendition: string,
  bandwidth?: number,
): string {
  const values = renditionValues(rendition)
  return renderTemplate(cachedTemplate(cfg.initialization), {
    rendition: values.rendition,
    bandwidth: bandwidth ?? values.bandwidth,
  })
}
