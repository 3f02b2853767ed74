/**
 * The selection context of a media segment (docs/protocol.md#quality-control-and-selection): the one builder delivery, the filler
 * search and the control status share, so that they pick the same copy.
 */

import type { ChannelConfig } from '../timing/channel-config.js'
import { availabilityAt } from '../timing/schedule.js'
import type { TrackedChannel } from './health-book.js'
import type { Mask, SelectionContext } from './types.js'

/**
 * The selection context of media segment n at time t (docs/protocol.md#quality-control-and-selection), the one rule delivery, the
 * filler search and the status view share: preference order, masks, A(n), G, and the late
 * copy rule that keeps a gap's answer from being contradicted while it may be cached — a
 * copy committed at or after A(n) + R is hidden forever under `gone` (a 410 is cached for
 * the DVR window) and for D after its commit under `filler` (a filler is cached for D).
 */
export function segmentSelectionContext(
  cfg: ChannelConfig,
  masks: readonly Mask[],
  n: number,
  t: number,
  expected?: readonly string[],
): SelectionContext {
  const a = availabilityAt(cfg, n)
  return {
    pipelines: cfg.pipelines,
    masks,
    number: n,
    now: t,
    availabilityAt: a,
    graceMs: cfg.selectionGraceMs,
    lateFrom: a + cfg.lateAllowanceMs,
    lateDelayMs: cfg.gapPolicy === 'gone' ? Number.POSITIVE_INFINITY : cfg.segmentDurationMs,
    ...(expected !== undefined ? { expected } : {}),
  }
}

/**
 * The selection context of segment n of `channel` (whose template is `cfg`) at t, as delivery applies it: a channel
 * that lists no pipelines waits for a valid copy from the pipelines known to be healthy.
 */
export function channelSelectionContext(
  cfg: ChannelConfig,
  channel: TrackedChannel,
  health: { healthyPipelines(channel: TrackedChannel, now: number): string[] },
  n: number,
  t: number,
): SelectionContext {
  const expected = cfg.pipelines.length === 0 ? health.healthyPipelines(channel, t) : undefined
  return segmentSelectionContext(cfg, channel.masks, n, t, expected)
}
