/**
 * Whether a manifest says its stream ended: a DASH MPD whose `type` is `static`, or an HLS
 * media playlist with `#EXT-X-ENDLIST`. Checked once, when a pipeline PUTs the manifest, and
 * recorded in the copy's commit record as the origin-found marker `ended` (in the
 * `Segment-Defects` field every node reads with the candidate list), so that choosing a
 * manifest copy on delivery costs no body read.
 */
import type { PathMatch } from '../timing/template.js'
import { defectKinds } from './defects.js'
import type { Defect } from './types.js'

/** The marker kind recorded with an ended manifest copy. */
export const ENDED = 'ended'

/** The `type` attribute of the `MPD` root element (any namespace prefix). */
const MPD_TYPE = /<(?:[A-Za-z_][\w.-]*:)?MPD\b[^>]*?\stype\s*=\s*["']([^"']*)["']/
const HLS_ENDLIST = /^#EXT-X-ENDLIST[ \t]*\r?$/m

/** Whether the manifest text says the stream ended. */
export function manifestEnded(text: string, format: 'dash' | 'hls'): boolean {
  if (format === 'hls') return HLS_ENDLIST.test(text)
  // Stryker disable next-line OptionalChaining: group 1 always takes part in a match
  return MPD_TYPE.exec(text)?.[1]?.trim() === 'static'
}

/** Whether a stored copy carries the `ended` marker (its stored `Segment-Defects` value). */
export function copyEnded(defects: string): boolean {
  // Stryker disable next-line ConditionalExpression,LogicalOperator,StringLiteral: shortcuts before the parse; defectKinds decides alone
  return defects !== '' && defects.includes(ENDED) && defectKinds(defects).includes(ENDED)
}

/**
 * The marker to record with an uploaded object: `[ended]` for a manifest whose text says the
 * stream ended, else none. `text` is called for manifests only.
 */
export function endedMarker(match: PathMatch, text: () => string): Defect[] {
  if (match.kind !== 'manifest' || !manifestEnded(text(), match.format)) return []
  return [{ kind: ENDED, params: {}, source: 'origin' }]
}
