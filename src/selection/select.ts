/**
 * Selection (docs/protocol.md#quality-control-and-selection): which pipeline's copy a GET is answered with. Pure and deterministic:
 * given the same candidates and context, every node picks the same copy, so CDN caches in
 * front of different nodes agree.
 */
import { defectRank, SEVERITY } from './defects.js'
import { isMasked } from './masks.js'
import type { Candidate, Selection, SelectionContext } from './types.js'

export type { Candidate, Selection, SelectionContext } from './types.js'

/**
 * Candidates in preference order: pipelines listed in the channel first, in list order;
 * then the others by arrival (`committedAt`), ties broken by pipeline id so that every node
 * orders them the same way. Returns a new array.
 */
export function orderCandidates<C extends Candidate>(
  candidates: readonly C[],
  pipelines: readonly string[],
): C[] {
  const rank = (c: C): number => {
    const i = pipelines.indexOf(c.pipeline)
    return i === -1 ? pipelines.length : i
  }
  return candidates
    .map((c) => ({ c, r: rank(c) }))
    .sort((a, b) => a.r - b.r || a.c.committedAt - b.c.committedAt || compareIds(a.c.pipeline, b.c.pipeline))
    .map((x) => x.c)
}

/**
 * Picks the copy of segment N to serve:
 * 1. masked candidates are left out, and so are late ones not yet selectable
 *    ({@link isLateHidden}); the rest are ordered by {@link orderCandidates};
 * 2. the first defect-free one is served (`defective: false`);
 * 3. if only defective ones exist, now < A(N)+G, and an expected pipeline (`ctx.expected`,
 *    default `ctx.pipelines`) that is not masked for N has not delivered N yet: `wait` until
 *    A(N)+G (re-run selection when a copy commits, or then);
 * 4. otherwise the least defective is served with `defective: true`: lowest severity of its
 *    worst defect first (see `SEVERITY` in `defects.ts`: a copy that cannot be decoded is
 *    worse than any that can), then fewest distinct defect kinds, then the order of step 1;
 * 5. `none` when no candidate is left.
 */
export function selectCandidate<C extends Candidate>(
  candidates: readonly C[],
  ctx: SelectionContext,
): Selection<C> {
  // Stryker disable next-line ConditionalExpression: a shortcut; no candidate ends as none below
  if (candidates.length === 0) return NONE
  let usable = candidates
  // Stryker disable next-line ConditionalExpression,EqualityOperator: a shortcut; no mask hides nothing
  if (ctx.masks.length > 0) usable = candidates.filter((c) => !isMasked(ctx.masks, c.pipeline, ctx.number))
  const lateFrom = ctx.lateFrom
  // Stryker disable next-line ConditionalExpression,LogicalOperator: a shortcut; isLateHidden is false for every copy this skips
  if (lateFrom !== undefined && usable.some((c) => c.committedAt >= lateFrom))
    usable = usable.filter((c) => !isLateHidden(c, ctx))
  if (usable.length === 0) return NONE
  // Stryker disable next-line ConditionalExpression: a shortcut; one candidate orders as itself
  const ordered = usable.length === 1 ? usable : orderCandidates(usable, ctx.pipelines)

  let best: C | undefined
  let bestSeverity = Number.POSITIVE_INFINITY
  let bestCount = Number.POSITIVE_INFINITY
  for (const c of ordered) {
    // Stryker disable next-line ConditionalExpression,LogicalOperator,StringLiteral: a shortcut; defectRank counts 0 for '' and 0
    if (c.defects === '' || c.defects === 0) return { kind: 'serve', candidate: c, defective: false }
    const { severity, count } = defectRank(c.defects)
    if (count === 0) return { kind: 'serve', candidate: c, defective: false }
    if (severity < bestSeverity || (severity === bestSeverity && count < bestCount)) {
      best = c
      bestSeverity = severity
      bestCount = count
    }
  }

  const untilMs = ctx.availabilityAt + ctx.graceMs
  if (ctx.now < untilMs) {
    const expected = ctx.expected ?? ctx.pipelines
    const waitingFor = expected.some(
      (p) => !isMasked(ctx.masks, p, ctx.number) && !candidates.some((c) => c.pipeline === p),
    )
    if (waitingFor) return { kind: 'wait', untilMs }
  }
  return { kind: 'serve', candidate: best!, defective: true }
}

/**
 * Whether a copy committed after the segment was given up on is still kept out of selection
 * (the "no contradicted answers" rule, docs/timing.md): a copy committed at or after
 * `ctx.lateFrom` (A(N)+R, when delivery answered the gap) becomes selectable only
 * `ctx.lateDelayMs` after its commit (infinite under the `gone` policy: never contradict a 410;
 * D under `filler`: a filler cached before the commit has expired by then).
 */
export function isLateHidden(c: Pick<Candidate, 'committedAt'>, ctx: SelectionContext): boolean {
  if (ctx.lateFrom === undefined || c.committedAt < ctx.lateFrom) return false
  return ctx.now < c.committedAt + (ctx.lateDelayMs ?? Number.POSITIVE_INFINITY)
}

/**
 * The copy still uploading to follow when no valid stored copy is selectable
 * (docs/selection.md#copies-in-progress): masked pipelines left out, the rest in the order of
 * {@link orderCandidates} (arrival = when the upload started). Every copy offered is clean so
 * far (one that is not is withdrawn before it gets here). Undefined when none is left.
 */
export function selectInProgress<C extends { readonly pipeline: string; readonly startedAt: number }>(
  copies: readonly C[],
  ctx: Pick<SelectionContext, 'pipelines' | 'masks' | 'number'>,
): C | undefined {
  const usable = copies.filter((c) => !isMasked(ctx.masks, c.pipeline, ctx.number))
  if (usable.length <= 1) return usable[0]
  const ordered = orderCandidates(
    usable.map((copy) => ({ copy, pipeline: copy.pipeline, committedAt: copy.startedAt, defects: '' })),
    ctx.pipelines,
  )
  return ordered[0]?.copy
}

/** Whether a selected copy cannot be decoded as stored (it needs repair before it is served). */
export function isUndecodable(selection: Selection): boolean {
  return (
    selection.kind === 'serve' &&
    selection.defective &&
    defectRank(selection.candidate.defects).severity === SEVERITY.undecodable
  )
}

/**
 * The copy of a manifest or other mutable object to serve (docs/protocol.md#quality-control-and-selection): from the most
 * preferred pipeline (listed ones in order, then the others by id: arrival order would flip
 * between pipelines at every update) that `isHealthy`. When none is healthy, the most
 * recently committed copy (ties by preference), so that an outage of every pipeline still
 * serves the freshest manifest. Undefined when there is no copy.
 */
export function preferredHealthy<C extends Pick<Candidate, 'pipeline' | 'committedAt'>>(
  copies: readonly C[],
  pipelines: readonly string[],
  isHealthy: (pipeline: string) => boolean,
): C | undefined {
  // Stryker disable next-line ConditionalExpression,EqualityOperator: a shortcut; the search below returns the same for 0 or 1 copy
  if (copies.length <= 1) return copies[0]
  const rank = (c: C): number => {
    const i = pipelines.indexOf(c.pipeline)
    return i === -1 ? pipelines.length : i
  }
  const ordered = [...copies].sort((a, b) => rank(a) - rank(b) || compareIds(a.pipeline, b.pipeline))
  const healthy = ordered.find((c) => isHealthy(c.pipeline))
  if (healthy !== undefined) return healthy
  let freshest = ordered[0]!
  for (const c of ordered) if (c.committedAt > freshest.committedAt) freshest = c
  return freshest
}

const NONE = { kind: 'none' } as const

/** Code-unit order: the same on every node, whatever its locale. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
