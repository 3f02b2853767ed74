/**
 * Types of selection (docs/protocol.md#quality-control-and-selection): candidates, masks, the selection context and outcomes. Pure
 * data; the code that produces them lives beside this file. Defects and what inspection tells
 * about a segment are media types (`src/media/types.ts`), re-exported here.
 */

export type {
  Defect,
  DefectSource,
  FragmentSummary,
  InitInfo,
  InitTrack,
  KnownDefectKind,
  TrackSummary,
  TrafSummary,
} from '../media/types.js'
export { KNOWN_DEFECT_KINDS } from '../media/types.js'

import type { Defect } from '../media/types.js'

/** An operator mask: `pipeline`'s segments numbered from `from` to `to` (inclusive) are not selected. */
export interface Mask {
  readonly pipeline: string
  readonly from: number
  readonly to: number
}

/**
 * One pipeline's copy of an object, as selection sees it. An `ObjectMeta` from
 * `src/storage/types.ts` is a Candidate as it is (its `defects` is the serialised header).
 */
export interface Candidate {
  readonly pipeline: string
  /** When the copy was committed (epoch ms): arrival order for pipelines not listed in the channel. */
  readonly committedAt: number
  /** The copy's defects: a serialised `Segment-Defects` list ('' when none), parsed defects, or a count. */
  readonly defects: string | readonly Defect[] | number
}

/** What selection needs to know besides the candidates (all from memory, none from storage). */
export interface SelectionContext {
  /** The channel's `pipelines`, in preference order (may be empty). */
  readonly pipelines: readonly string[]
  readonly masks: readonly Mask[]
  /** Segment number N. */
  readonly number: number
  /** Now (epoch ms). */
  readonly now: number
  /** A(N), when segment N is expected to be available (epoch ms). */
  readonly availabilityAt: number
  /** G, how long after A(N) to wait for a valid copy while only defective ones exist. */
  readonly graceMs: number
  /**
   * Pipelines expected to deliver N, for the wait rule. Default: `pipelines`. A channel that
   * lists no pipelines can pass the pipelines it knows to be healthy, so that it too waits
   * for a valid copy from them.
   */
  readonly expected?: readonly string[]
  /**
   * A(N)+R, when the gap policy answered a missing segment: copies committed from then on
   * are hidden from selection for `lateDelayMs` after their commit (see `isLateHidden`).
   * Undefined: no copy is ever hidden.
   */
  readonly lateFrom?: number
  /** How long after its commit a late copy stays hidden (default: forever). */
  readonly lateDelayMs?: number
}

/** The outcome of selection for one GET of a media segment. */
export type Selection<C extends Candidate = Candidate> =
  | { readonly kind: 'serve'; readonly candidate: C; readonly defective: boolean }
  /** Only defective copies so far: hold the request until `untilMs` (A(N)+G) or the next commit. */
  | { readonly kind: 'wait'; readonly untilMs: number }
  /** No selectable copy (none stored, or every one masked). */
  | { readonly kind: 'none' }
