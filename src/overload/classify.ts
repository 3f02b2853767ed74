/**
 * Request classes (SPEC §8), highest priority first: ingest (any write), live edge
 * (segments near the live edge, init segments, manifests, anything else), DVR (older
 * segments). Classification uses the channel template in memory only.
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
