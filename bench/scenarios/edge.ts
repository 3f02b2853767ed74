/**
 * Set-up shared by the scenarios that load the moving live edge (see `EdgePath`): a timed
 * channel whose segment 1 became available just now, and its segments stored in advance.
 */
import { putOrThrow } from '../lib/http.js'
import { forNumber } from '../lib/segment.js'
import { type EdgePath, edgeSegments, startedAgo } from '../lib/timing.js'
import { type BenchContext, PIPELINE_HEADERS } from './types.js'

/** A live-edge path family for `channel`, starting now (segment 1 at the edge). */
export function edgeFor(ctx: BenchContext, channel: string): EdgePath {
  return {
    template: startedAgo(ctx.now(), ctx.media.durationMs, 500),
    prefix: `/${channel}/v/`,
    suffix: '.m4s',
  }
}

/**
 * Stores, on the server at `base` (nginx, or an origin's ingest URL), the init segment and
 * every segment the edge names from now for `forMs`. Returns the defects the server reported,
 * if any (nginx reports none).
 */
export async function storeEdge(
  ctx: BenchContext,
  base: string,
  edge: EdgePath,
  forMs: number,
): Promise<string[]> {
  const defects: string[] = []
  await putOrThrow(`${base}${edge.prefix}init.mp4`, ctx.media.init, PIPELINE_HEADERS)
  for (const n of edgeSegments(edge, ctx.now(), forMs)) {
    const a = await putOrThrow(
      `${base}${edge.prefix}${n}${edge.suffix}`,
      forNumber(ctx.media, n),
      PIPELINE_HEADERS,
    )
    const d = a.headers['segment-defects']
    if (d) defects.push(`${n}: ${d}`)
  }
  return defects
}
