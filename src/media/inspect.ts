/**
 * The origin's own quality control of a media segment (docs/protocol.md#quality-control-and-selection): compares what
 * `FragmentInspector` found with the rendition's init segment and with what the channel
 * template says segment N must hold, and names the defects. Pure: no clock, no I/O.
 *
 * Times are compared in each track's own timescale. A track's start is its earliest
 * presentation time: the first `tfdt` plus the first sample's composition offset minus the
 * init segment's `elst` media_time (B-frame delay, AAC priming). Empty edits are ignored:
 * packagers use them to line tracks up inside a file, not to place media on the channel's
 * timeline. See docs/selection.md for the tolerances.
 */
import type { Defect, FragmentSummary, InitInfo, InitTrack, TrackSummary } from './types.js'

/** What the channel template says about the segment being inspected. */
export interface SegmentExpectation {
  /** N, the segment's number (from its path). */
  readonly number: number
  /** S, the channel's start number. */
  readonly startNumber: number
  /** D, the channel's segment duration. */
  readonly segmentDurationMs: number
  /**
   * Media time (ms) at which segment S starts; default 0, as docs/protocol.md#channels-and-segment-templates puts segment N at
   * [(N−S)·D, (N−S+1)·D). Set it from an MPD's presentationTimeOffset when there is one.
   */
  readonly timeOffsetMs?: number
}

/**
 * How far a track may be off before it is a defect. A track's tolerance, in its own ticks,
 * is the largest of `frames` of its sample duration, `ms`, and (audio tracks) `audioMs`,
 * and never more than D/2.
 */
export interface InspectTolerance {
  /** Frames (samples) of the track itself. Default 1. */
  readonly frames?: number
  /** Floor for every track, in ms. Default 0. */
  readonly ms?: number
  /**
   * Floor for audio (`soun`) tracks, in ms. Default 100: AAC frames (1024 samples, ~21 ms)
   * do not divide segment durations, encoders prime one or two frames, and a muxer cutting a
   * muxed segment at a video key frame cuts the audio at the key frame's decode time, up to
   * the B-frame delay early. Together that moves audio boundaries by up to ~3 frames.
   */
  readonly audioMs?: number
}

export const DEFAULT_TOLERANCE = { frames: 1, ms: 0, audioMs: 100 } as const

/**
 * A track lasting more than this many segment durations is not a long segment but an
 * impossible one (a `trun` with absurd durations or sample counts): `corrupt`.
 */
export const MAX_DURATION_FACTOR = 4

/**
 * Names the defects of one media segment, all with source 'origin', one per kind (the worst
 * track's, for timing and duration):
 * - `corrupt;reason=…` when the segment does not parse (no other check then: this includes
 *   sample counts or sizes the mdat cannot hold), a track is not in the init segment, or a
 *   track lasts more than {@link MAX_DURATION_FACTOR}·D;
 * - `slate` when a `styp`/`ftyp` carries the DASH-IF `slat` brand;
 * - `missing-samples;track=…` when a track of the init segment is absent, or a track has no samples;
 * - `timing-discontinuity;ms=…;track=…` when a track's start is off (N−S)·D by more than the
 *   tolerance (`ms` is signed: positive = late), or consecutive fragments of a track leave a gap or overlap;
 * - `short;ms=…;track=…` when a track's summed duration falls short of D by more than the tolerance.
 *
 * Without an init segment (`init` undefined) the timescales are unknown, so only `corrupt`,
 * `slate` and empty tracks are reported.
 */
export function inspectSegment(
  summary: FragmentSummary,
  init: InitInfo | undefined,
  expect: SegmentExpectation,
  tolerance: InspectTolerance = {},
): Defect[] {
  const found = new Found()
  if (summary.brands.includes('slat')) found.add('slate', {})
  if (summary.corrupt !== undefined) {
    found.add('corrupt', { reason: summary.corrupt })
    return found.list()
  }
  for (const track of summary.tracks) {
    if (track.sampleCount === 0) found.add('missing-samples', { track: track.trackId })
  }
  if (init === undefined) return found.list()

  for (const t of init.tracks) {
    if (!summary.tracks.some((s) => s.trackId === t.trackId))
      found.add('missing-samples', { track: t.trackId })
  }
  for (const track of summary.tracks) {
    const t = init.tracks.find((i) => i.trackId === track.trackId)
    if (t === undefined) {
      found.add('corrupt', { reason: `track ${track.trackId} is not in the init segment` })
      continue
    }
    if (track.sampleCount > 0) checkTiming(track, t, expect, tolerance, found)
  }
  return found.list()
}

function checkTiming(
  track: TrackSummary,
  t: InitTrack,
  expect: SegmentExpectation,
  tolerance: InspectTolerance,
  found: Found,
): void {
  const ticksPerMs = t.timescale / 1000
  const durationTicks = expect.segmentDurationMs * ticksPerMs
  const sampleDuration = track.sampleDuration || t.defaultSampleDuration
  const frames = tolerance.frames ?? DEFAULT_TOLERANCE.frames
  const floorMs = Math.max(
    tolerance.ms ?? DEFAULT_TOLERANCE.ms,
    t.handler === 'soun' ? (tolerance.audioMs ?? DEFAULT_TOLERANCE.audioMs) : 0,
  )
  const tol = Math.min(Math.max(frames * sampleDuration, floorMs * ticksPerMs), durationTicks / 2)
  const toMs = (ticks: number): number => Math.round(ticks / ticksPerMs)

  const first = track.fragments[0]
  if (first?.baseMediaDecodeTime !== undefined) {
    const start = first.baseMediaDecodeTime + first.firstCompositionOffset - t.mediaTime
    const expected =
      ((expect.number - expect.startNumber) * expect.segmentDurationMs + (expect.timeOffsetMs ?? 0)) *
      ticksPerMs
    const off = start - expected
    if (Math.abs(off) > tol) found.add('timing-discontinuity', { ms: toMs(off), track: track.trackId })
  }
  // Chunked (CMAF low-latency) segments: each fragment must start where the previous ended.
  for (let k = 1; k < track.fragments.length; k++) {
    const prev = track.fragments[k - 1]!
    const next = track.fragments[k]!
    if (prev.baseMediaDecodeTime === undefined || next.baseMediaDecodeTime === undefined) continue
    const prevEnd =
      prev.baseMediaDecodeTime + prev.duration + prev.samplesWithoutDuration * t.defaultSampleDuration
    const gap = next.baseMediaDecodeTime - prevEnd
    if (Math.abs(gap) > tol) found.add('timing-discontinuity', { ms: toMs(gap), track: track.trackId })
  }
  const duration = track.duration + track.samplesWithoutDuration * t.defaultSampleDuration
  if (duration > MAX_DURATION_FACTOR * durationTicks) {
    found.add('corrupt', {
      reason: `track ${track.trackId} lasts ${toMs(duration)} ms, more than ${MAX_DURATION_FACTOR} segment durations`,
    })
  }
  if (durationTicks - duration > tol) {
    found.add('short', { ms: toMs(durationTicks - duration), track: track.trackId })
  }
}

/** Defects by kind, keeping the one with the largest |ms| when a kind is found twice. */
class Found {
  readonly #byKind = new Map<string, Defect>()

  add(kind: string, params: Record<string, string | number | boolean>): void {
    const previous = this.#byKind.get(kind)
    if (
      previous !== undefined &&
      !(Math.abs(Number(params.ms ?? 0)) > Math.abs(Number(previous.params.ms ?? 0)))
    ) {
      return
    }
    this.#byKind.set(kind, { kind, params, source: 'origin' })
  }

  list(): Defect[] {
    return [...this.#byKind.values()]
  }
}
