/**
 * Quality control and selection (docs/protocol.md#quality-control-and-selection), the public surface: `Segment-Defects` parsing,
 * fMP4 inspection, defect rules, candidate selection, masks and pipeline health.
 */
export {
  countDefects,
  defectKinds,
  KNOWN_DEFECT_KINDS,
  MAX_DEFECTS,
  mergeDefects,
  parseDefects,
  serializeDefects,
} from './defects.js'
export { Fmp4Error, FragmentInspector, type InspectorOptions, parseInit, summarizeFragment } from './fmp4.js'
export { type HealthOptions, HealthTracker, type PipelineHealth, type SegmentDelivery } from './health.js'
export { HealthBook } from './health-book.js'
export {
  DEFAULT_TOLERANCE,
  type InspectTolerance,
  inspectSegment,
  type SegmentExpectation,
} from './inspect.js'
export { isMasked, OPEN_END, parseMask } from './masks.js'
export { orderCandidates, preferredHealthy, selectCandidate } from './select.js'
export type * from './types.js'
