/**
 * Defect kinds a packager sends, as metric labels (docs/security.md): only the kinds the origin
 * knows are label values, every other kind counts as `other`, so that a packager inventing
 * kinds cannot grow `/metrics` without bound. Kinds are also limited in length.
 */
import { errors } from '../errors.js'
import { type Defect, KNOWN_DEFECT_KINDS } from '../selection/defects.js'

/** Longest defect kind accepted in `Segment-Defects` (the known ones have at most 20 characters). */
export const MAX_DEFECT_KIND_LENGTH = 64

const LABELS: ReadonlySet<string> = new Set([...KNOWN_DEFECT_KINDS, 'filler'])

/** The `kind` label value of a defect kind: itself when known, else `other`. */
export function defectLabel(kind: string): string {
  return LABELS.has(kind) ? kind : 'other'
}

/**
 * @throws LiveOriginError `BAD_HEADER` (400) naming `Segment-Defects` when a kind is longer
 *   than {@link MAX_DEFECT_KIND_LENGTH}.
 */
export function checkDefectKinds(defects: readonly Defect[]): void {
  for (const d of defects) {
    if (d.kind.length > MAX_DEFECT_KIND_LENGTH) {
      throw errors.badHeader(
        'Segment-Defects',
        `defect kind "${d.kind.slice(0, 16)}…" is longer than ${MAX_DEFECT_KIND_LENGTH} characters`,
      )
    }
  }
}
