/**
 * Request classes, highest priority first: ingest (any write), live edge (segments near the
 * live edge, init segments, manifests, anything else), DVR (older segments). Classification
 * uses the channel template in memory only. Only media segments may be shed: a player cannot
 * start without init segments and manifests, and they are small.
 */
import type { ChannelConfig } from '../timing/channel-config.js'
import { isLiveEdgeSegment } from '../timing/schedule.js'
import type { PathMatch } from '../timing/template.js'

export type RequestClass = 'ingest' | 'live' | 'dvr'

export const requestClasses: readonly RequestClass[] = ['ingest', 'live', 'dvr']

export function classifyRead(
  match: PathMatch,
  config: ChannelConfig | undefined,
  now: number,
  liveEdgeSegments: number,
): RequestClass {
  if (match.kind !== 'media' || !config || Number.isNaN(match.number)) return 'live'
  return isLiveEdgeSegment(config, match.number, now, liveEdgeSegments) ? 'live' : 'dvr'
}

/** Whether a read may be refused under pressure: media segments only (never init segments or manifests). */
export function sheddable(match: PathMatch): boolean {
  return match.kind === 'media'
}
