/**
 * Segment timing of SPEC §4, for choosing which segment numbers a scenario asks for:
 * A(N) = AST + (N − S + 1)·D, and the live edge at t is the highest N with A(N) ≤ t.
 */

export interface Template {
  /** availabilityStartTime, epoch ms. */
  ast: number
  /** Segment duration D, ms. */
  durationMs: number
  /** Start number S. */
  startNumber: number
}

/** A(N): when segment N is expected to be available (epoch ms). */
export function availableAt(t: Template, n: number): number {
  return t.ast + (n - t.startNumber + 1) * t.durationMs
}

/** The live edge at time `now`: highest N with A(N) ≤ now (S − 1 before the first segment). */
export function liveEdge(t: Template, now: number): number {
  return t.startNumber - 1 + Math.floor((now - t.ast) / t.durationMs)
}

/**
 * A template whose segment S became available `agoMs` before `now`, so that S is at the
 * live edge when a scenario starts.
 */
export function startedAgo(now: number, durationMs: number, agoMs: number, startNumber = 1): Template {
  return { ast: now - durationMs - agoMs, durationMs, startNumber }
}
