/**
 * What ISO BMFF inspection tells about a copy (docs/protocol.md#quality-control-and-selection): defects (reported by a packager in
 * `Segment-Defects` or found by the origin), and what an init segment and a media segment's
 * movie fragments say about their tracks. Pure data; the parsers live beside this file.
 */

/** Who found a defect: the packager (reported in `Segment-Defects`) or the origin (inspection). */
export type DefectSource = 'packager' | 'origin'

/** One entry of a `Segment-Defects` list. */
export interface Defect {
  /** The token, e.g. `missing-frames`; see {@link KNOWN_DEFECT_KINDS}. Unknown kinds are still defects. */
  readonly kind: string
  /** Parameters of the token, e.g. `{ count: 12 }`. Never contains the reserved key `origin`. */
  readonly params: Readonly<Record<string, string | number | boolean>>
  readonly source: DefectSource
}

/** The defect tokens a packager may send (docs/protocol.md#defects-reported-by-the-packager). */
export const KNOWN_DEFECT_KINDS = [
  'short',
  'missing-frames',
  'missing-samples',
  'timing-discontinuity',
  'black',
  'frozen',
  'silence',
  'slate',
  'corrupt',
] as const

export type KnownDefectKind = (typeof KNOWN_DEFECT_KINDS)[number]

/** One track of an init segment (`moov/trak` plus its `mvex/trex`). */
export interface InitTrack {
  /** `tkhd` track_ID. */
  readonly trackId: number
  /** `hdlr` handler type: `vide`, `soun`, `text`, `subt`, `meta`, … */
  readonly handler: string
  /** `mdhd` timescale (ticks per second of this track's media time). */
  readonly timescale: number
  /** `trex` default_sample_duration (0 when there is no `trex` for the track). */
  readonly defaultSampleDuration: number
  /** `trex` default_sample_size (0 when absent). */
  readonly defaultSampleSize: number
  /**
   * `elst` media_time of the first non-empty edit, in media ticks (0 without an edit list).
   * Subtracted from decode times to get presentation times (e.g. AAC priming, B-frame delay).
   */
  readonly mediaTime: number
}

/** What an init segment says (see `parseInit`). */
export interface InitInfo {
  /** `ftyp` major brand then compatible brands, without duplicates. */
  readonly brands: readonly string[]
  readonly tracks: readonly InitTrack[]
}

/** One `traf` of one `moof`. */
export interface TrafSummary {
  /** `tfdt` baseMediaDecodeTime, or undefined when the traf has no `tfdt`. */
  readonly baseMediaDecodeTime: number | undefined
  /** Composition offset of the traf's first sample (`trun` sample_composition_time_offset), else 0. */
  readonly firstCompositionOffset: number
  readonly sampleCount: number
  /** Summed sample durations known from `trun`, `tfhd` or (when given) `trex` defaults, in ticks. */
  readonly duration: number
  /** Samples whose duration was not known (no per-sample, `tfhd` or known `trex` default). */
  readonly samplesWithoutDuration: number
}

/** One track as seen across every movie fragment of a segment. */
export interface TrackSummary {
  /** `tfhd` track_ID. */
  readonly trackId: number
  /** The first traf's `tfdt`, or undefined when it has none. */
  readonly baseMediaDecodeTime: number | undefined
  readonly sampleCount: number
  /** Summed known sample durations over every traf of the track, in ticks. */
  readonly duration: number
  readonly samplesWithoutDuration: number
  /** Duration of the track's first sample with a known duration (its frame duration), else 0. */
  readonly sampleDuration: number
  /** Every traf of this track, in stream order (one per `moof` for chunked CMAF segments). */
  readonly fragments: readonly TrafSummary[]
}

/** What `FragmentInspector.finish()` reports about a media segment. */
export interface FragmentSummary {
  /** Brands of every `styp`/`ftyp` seen, major brand first, without duplicates. */
  readonly brands: readonly string[]
  /** Tracks in order of first appearance. */
  readonly tracks: readonly TrackSummary[]
  /** Number of `moof` boxes. */
  readonly fragments: number
  /** Bytes seen. */
  readonly bytes: number
  /** Why the segment does not parse, when it does not; the other fields then cover what parsed. */
  readonly corrupt?: string
}
