/**
 * Request classes, highest priority first: ingest (any write), live edge (segments within a
 * player's reach of the live edge, init segments, manifests, anything else), DVR (older
 * segments). Classification
 * uses the channel template in memory only. Only media segments may be shed: a player cannot
 * start without init segments and manifests, and they are small.
 */
import type { ChannelConfig } from '../timing/channel-config.js'
import { isLiveEdgeSegment, presentationDelayMs } from '../timing/schedule.js'
import type { PathMatch } from '../timing/template.js'

export type RequestClass = 'ingest' | 'live' | 'dvr'

export const requestClasses: readonly RequestClass[] = ['ingest', 'live', 'dvr']

/**
 * How many segments behind the live edge still count as live for a channel: at least
 * `liveEdgeSegments`, and at least the reach of a player keeping the channel's presentation
 * delay P ({@link presentationDelayMs}: R + 2·D): the segment under its play position is at
 * most ceil(P / D) behind the edge, one more for players that count P back from the end of
 * the newest segment's availability (Shaka Player subtracts the segment duration too), and
 * one more covers a request retried or queued while the edge moves on.
 */
export function liveReachSegments(
  config: Pick<ChannelConfig, 'segmentDurationMs' | 'lateAllowanceMs'>,
  liveEdgeSegments: number,
): number {
  return Math.max(liveEdgeSegments, Math.ceil(presentationDelayMs(config) / config.segmentDurationMs) + 2)
}

export function classifyRead(
  match: PathMatch,
  config: ChannelConfig | undefined,
  now: number,
  liveEdgeSegments: number,
): RequestClass {
  if (match.kind !== 'media' || !config || Number.isNaN(match.number)) return 'live'
  return isLiveEdgeSegment(config, match.number, now, liveReachSegments(config, liveEdgeSegments))
    ? 'live'
    : 'dvr'
}

/** Whether a read may be refused under pressure: media segments only (never init segments or manifests). */
export function sheddable(match: PathMatch): boolean {
  return match.kind === 'media'
}
