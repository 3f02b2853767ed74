/**
 * Channel descriptions for the control API: configuration plus live state, and the status
 * view (live edge, per-pipeline health, and the recent segments with the copy each would
 * be served from, which the dashboard draws as a timeline).
 */

import type { Channel } from '../channels/registry.js'
import { channelSelectionContext } from '../selection/context.js'
import { countDefects } from '../selection/defects.js'
import { isUndecodable, selectCandidate } from '../selection/select.js'
import { repairedCopy } from '../substitutes/copies.js'
import { availabilityAt, liveEdge } from '../timing/schedule.js'
import { renderMediaPath } from '../timing/template.js'
import type { ControlDeps } from './deps.js'

/** Segments per rendition shown by the status view. */
const TIMELINE_SEGMENTS = 30

export function describeChannel(ctx: Pick<ControlDeps, 'now'>, channel: Channel) {
  const now = ctx.now()
  const cfg = channel.config
  return {
    name: channel.name,
    source: channel.source,
    config: cfg ?? null,
    masks: channel.masks,
    createdAt: new Date(channel.createdAt).toISOString(),
    ...(channel.broken === undefined ? {} : { broken: channel.broken }),
    live: cfg
      ? {
          now,
          liveEdge: liveEdge(cfg, now),
          liveEdgeAvailableAt: availabilityAt(cfg, Math.max(cfg.startNumber, liveEdge(cfg, now))),
        }
      : null,
  }
}

export async function channelStatus(ctx: ControlDeps, channel: Channel) {
  const now = ctx.now()
  const cfg = channel.config
  const health = ctx.health.snapshot(channel, now)
  if (!cfg) return { ...describeChannel(ctx, channel), pipelines: health, timeline: [] }
  const edge = liveEdge(cfg, now)
  const renditions = ctx.health.renditions(channel.name)
  const timeline = []
  for (const rendition of renditions) {
    const from = Math.max(cfg.startNumber, edge - TIMELINE_SEGMENTS + 2)
    const numbers = Array.from({ length: Math.max(0, edge + 2 - from) }, (_, i) => from + i)
    const segments = await Promise.all(
      numbers.map(async (n) => {
        const path = renderMediaPath(cfg, rendition, n)
        const list = await ctx.reader.candidates(channel.name, path)
        // The rule delivery applies (severity, late copies, the pipelines still expected); an
        // undecodable copy counts as served only when delivery can repair it, and a gap says
        // what delivery answers.
        let selection = selectCandidate(list, channelSelectionContext(cfg, channel, ctx.health, n, now))
        let repaired = false
        if (isUndecodable(selection) && selection.kind === 'serve') {
          repaired = (await repairedCopy(ctx, channel, rendition, n, selection.candidate)) !== undefined
          if (!repaired) selection = { kind: 'none' }
        }
        const gap = selection.kind === 'none' && now >= availabilityAt(cfg, n) + cfg.lateAllowanceMs
        return {
          number: n,
          availableAt: availabilityAt(cfg, n),
          served: selection.kind === 'serve' ? selection.candidate.pipeline : null,
          outcome:
            selection.kind === 'serve'
              ? selection.defective
                ? 'defective'
                : 'valid'
              : selection.kind === 'wait'
                ? 'waiting'
                : 'missing',
          repaired,
          gapAnswer: gap ? cfg.gapPolicy : null,
          copies: list
            .map((m) => ({
              pipeline: m.pipeline,
              defects: m.defects,
              defectCount: countDefects(m.defects),
              lateMs: Math.max(0, m.committedAt - availabilityAt(cfg, n)),
            }))
            .sort((a, b) => a.pipeline.localeCompare(b.pipeline)),
        }
      }),
    )
    timeline.push({ rendition, segments })
  }
  return { ...describeChannel(ctx, channel), pipelines: health, timeline }
}
