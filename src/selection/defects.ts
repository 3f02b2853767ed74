/**
 * The `Segment-Defects` header (docs/protocol.md#ingest, #quality-control-and-selection): an RFC 9651 structured-field List of tokens
 * with parameters, e.g. `missing-frames;count=12, timing-discontinuity;ms=40`. Parsed and
 * serialised with the `structured-headers` package.
 *
 * Defects the origin found itself carry the boolean parameter `origin` when serialised
 * (`short;ms=120;origin`), so that the stored record and the echoed header say who found
 * what. `origin` is therefore a reserved parameter name: it never appears in `params`.
 */
import {
  type BareItem,
  DisplayString,
  type Item,
  type Parameters,
  parseList,
  serializeList,
  Token,
} from 'structured-headers'
import { errors } from '../errors.js'
import type { Defect, DefectSource } from './types.js'

export type { Defect, DefectSource } from './types.js'
export { KNOWN_DEFECT_KINDS } from './types.js'

const HEADER = 'Segment-Defects'
/** More defects than this in one header is not a report but an attack or a bug. */
export const MAX_DEFECTS = 64
const ORIGIN_PARAM = 'origin'
const MAX_INTEGER = 999_999_999_999_999

/**
 * Parses a `Segment-Defects` value. '' (or only spaces) is an empty list. A member's
 * `origin` parameter (`;origin`) marks it as found by the origin; every other member is the
 * packager's. Token parameters, display strings and byte sequences become strings (byte
 * sequences in base64), dates become epoch seconds.
 *
 * @throws LiveOriginError `BAD_HEADER` (400) when the value is not a List of at most
 *   {@link MAX_DEFECTS} tokens.
 */
export function parseDefects(header: string | undefined): Defect[] {
  if (header === undefined || header.trim() === '') return []
  let list: ReturnType<typeof parseList>
  try {
    list = parseList(header)
  } catch (err) {
    throw errors.badHeader(HEADER, `not a structured-field List (${(err as Error).message})`)
  }
  if (list.length > MAX_DEFECTS) throw errors.badHeader(HEADER, `more than ${MAX_DEFECTS} defects`)
  return list.map((member, i) => {
    if (Array.isArray(member[0]))
      throw errors.badHeader(HEADER, `member ${i + 1} is an inner list, not a token`)
    const [value, parameters] = member as Item
    if (!(value instanceof Token)) throw errors.badHeader(HEADER, `member ${i + 1} is not a token`)
    let source: DefectSource = 'packager'
    const params: Record<string, string | number | boolean> = {}
    for (const [key, v] of parameters) {
      if (key === ORIGIN_PARAM) {
        if (v === true) source = 'origin'
        continue
      }
      params[key] = plainValue(v)
    }
    return { kind: value.toString(), params, source }
  })
}

/**
 * Serialises defects as a `Segment-Defects` value ('' for none). Origin-found defects get
 * the `origin` parameter. Non-ASCII strings are written as display strings; numbers that
 * are not finite are left out.
 *
 * @throws TypeError when a kind is not a valid token or a parameter name is not a valid key
 *   (lowercase letters, digits, `_-.*`, starting with a letter or `*`).
 */
export function serializeDefects(defects: readonly Defect[]): string {
  if (defects.length === 0) return ''
  try {
    return serializeList(
      defects.map((d): Item => {
        const params: Parameters = new Map()
        for (const [key, value] of Object.entries(d.params)) {
          if (key === ORIGIN_PARAM) continue
          const item = bareValue(value)
          if (item !== undefined) params.set(key, item)
        }
        if (d.source === 'origin') params.set(ORIGIN_PARAM, true)
        return [new Token(d.kind), params]
      }),
    )
  } catch (err) {
    if (err instanceof TypeError) throw err
    throw new TypeError(`cannot serialise defects: ${(err as Error).message}`)
  }
}

/**
 * The defects of a candidate: the packager's, then those the origin found of a kind the
 * packager did not report. One entry per kind (the first), so that a defect both found is
 * counted once. Sources are set from the argument position, whatever the entries said.
 */
export function mergeDefects(packager: readonly Defect[], origin: readonly Defect[]): Defect[] {
  const out: Defect[] = []
  const seen = new Set<string>()
  const add = (d: Defect, source: DefectSource): void => {
    if (seen.has(d.kind)) return
    seen.add(d.kind)
    out.push(d.source === source ? d : { ...d, source })
  }
  for (const d of packager) add(d, 'packager')
  for (const d of origin) add(d, 'origin')
  return out
}

/**
 * How many defects a candidate has: distinct kinds. Accepts the serialised header as stored
 * in `ObjectMeta.defects`, parsed defects, or a count. A stored value that does not parse
 * counts as one defect (it was recorded, so something was wrong).
 */
export function countDefects(defects: string | readonly Defect[] | number): number {
  if (typeof defects === 'number') return defects
  if (typeof defects === 'string') {
    if (defects === '') return 0
    try {
      defects = parseDefects(defects)
    } catch {
      return 1
    }
  }
  if (defects.length <= 1) return defects.length
  return new Set(defects.map((d) => d.kind)).size
}

/**
 * How bad a defect is for a viewer, worst first (docs/protocol.md#quality-control-and-selection). Selection ranks copies by their
 * worst defect's severity, then by count, then by pipeline order.
 * - `undecodable` (4): `corrupt` — a player cannot decode the copy (boxes that do not parse,
 *   a copy cut off inside a box);
 * - `structural` (3): `missing-samples` (a whole track or its samples are absent), and every
 *   kind this origin does not know: a packager reported something the origin cannot weigh,
 *   so it ranks below every known timing or cosmetic flaw but above a copy that cannot play;
 * - `timing` (2): `timing-discontinuity`, `short`, `missing-frames` — plays, with a jump or a
 *   gap;
 * - `cosmetic` (1): `black`, `frozen`, `silence`, `slate`, and `filler` — plays smoothly,
 *   the picture or sound is wrong.
 */
export const SEVERITY = { none: 0, cosmetic: 1, timing: 2, structural: 3, undecodable: 4 } as const

export type Severity = (typeof SEVERITY)[keyof typeof SEVERITY]

const SEVERITY_OF_KIND: Readonly<Record<string, Severity>> = {
  corrupt: SEVERITY.undecodable,
  'missing-samples': SEVERITY.structural,
  'timing-discontinuity': SEVERITY.timing,
  short: SEVERITY.timing,
  'missing-frames': SEVERITY.timing,
  black: SEVERITY.cosmetic,
  frozen: SEVERITY.cosmetic,
  silence: SEVERITY.cosmetic,
  slate: SEVERITY.cosmetic,
  filler: SEVERITY.cosmetic,
}

/** The severity of one defect kind (unknown kinds are `structural`, see {@link SEVERITY}). */
export function kindSeverity(kind: string): Severity {
  return Object.hasOwn(SEVERITY_OF_KIND, kind) ? SEVERITY_OF_KIND[kind]! : SEVERITY.structural
}

/**
 * A candidate's rank for selection: the severity of its worst defect and its number of
 * distinct defect kinds (`{ severity: 0, count: 0 }` for a valid copy). A stored value that
 * does not parse is `corrupt`; a bare count has unknown kinds, so it is `structural`.
 */
export function defectRank(defects: string | readonly Defect[] | number): {
  severity: Severity
  count: number
} {
  if (typeof defects === 'number') {
    return { severity: defects > 0 ? SEVERITY.structural : SEVERITY.none, count: defects }
  }
  const kinds = typeof defects === 'string' ? defectKinds(defects) : [...new Set(defects.map((d) => d.kind))]
  let severity: Severity = SEVERITY.none
  for (const k of kinds) {
    const s = kindSeverity(k)
    if (s > severity) severity = s
  }
  return { severity, count: kinds.length }
}

/** Distinct defect kinds of a stored `Segment-Defects` value ([] when it is empty or unreadable). */
export function defectKinds(header: string): string[] {
  if (header === '') return []
  try {
    return [...new Set(parseDefects(header).map((d) => d.kind))]
  } catch {
    return ['corrupt']
  }
}

function plainValue(v: BareItem): string | number | boolean {
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v
  if (v instanceof Token || v instanceof DisplayString) return v.toString()
  if (v instanceof Date) return Math.floor(v.getTime() / 1000)
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    const bytes =
      v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
    return Buffer.from(bytes).toString('base64')
  }
  return String(v)
}

function bareValue(v: string | number | boolean): BareItem | undefined {
  if (typeof v === 'boolean') return v
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || Math.abs(v) > MAX_INTEGER) return undefined
    // A decimal keeps three fractional digits and at most 12 integer digits.
    if (!Number.isInteger(v) && Math.abs(v) >= 1e12) return Math.round(v)
    return v
  }
  return /^[\x20-\x7e]*$/.test(v) ? v : new DisplayString(v)
}
