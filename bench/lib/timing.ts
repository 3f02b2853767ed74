/**
 * Segment timing of docs/protocol.md#channels-and-segment-templates, for choosing which segment numbers a scenario asks for:
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

/**
 * Paths that follow the live edge, as a CDN's requests do during a live event: at time t the
 * path of segment `liveEdge(t)` (never below S). A fixed segment would turn DVR a few
 * segments later and become sheddable, and a segment far ahead of the edge is answered 404
 * from template math before it is due, so loads that must last longer than a few segments
 * read the moving edge instead. The segments must be stored beforehand (`edgeSegments`).
 */
export interface EdgePath {
  template: Template
  /** Path up to the number, e.g. `/ch/v/`. */
  prefix: string
  /** Path after the number, e.g. `.m4s`. */
  suffix: string
}

/** The path an `EdgePath` names at `now`. */
export function edgePathAt(p: EdgePath, now: number): string {
  return `${p.prefix}${Math.max(p.template.startNumber, liveEdge(p.template, now))}${p.suffix}`
}

/** Segment numbers that `edgePathAt` names between `from` and `from + forMs` (inclusive). */
export function edgeSegments(p: EdgePath, from: number, forMs: number): number[] {
  const first = Math.max(p.template.startNumber, liveEdge(p.template, from))
  const last = Math.max(first, liveEdge(p.template, from + forMs))
  return Array.from({ length: last - first + 1 }, (_, i) => first + i)
}

/**
 * The same choice as `edgePathAt` as a wrk Lua `request` function. wrk's clock is `os.time()`
 * (whole seconds, never ahead of the real time), so it names the live edge or the segment
 * just before it: both live-edge class, both available.
 */
export function edgePathLua(p: EdgePath): string {
  const { ast, durationMs, startNumber } = p.template
  return `
local ast, d, s = ${ast}, ${durationMs}, ${startNumber}
local prefix, suffix = ${JSON.stringify(p.prefix)}, ${JSON.stringify(p.suffix)}
request = function()
  local n = s - 1 + math.floor((os.time() * 1000 - ast) / d)
  if n < s then n = s end
  return wrk.format(nil, prefix .. n .. suffix)
end
`
}
