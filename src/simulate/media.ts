/**
 * The media the simulator publishes: renditions loaded from `assets/sim/` (init segments
 * and the samples of real ffmpeg-made fragments, described by `renditions.json`), and media
 * segments of any number and duration built from them, timed exactly to the channel's
 * template: segment N of a channel with start number S and duration D starts at decode time
 * (N−S)·D in each track's timescale and lasts D.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseInit } from '../media/fmp4.js'
import { buildSegment, isSync, readFragment, type Sample, topLevelBox } from './fmp4.js'

/** One rendition as `renditions.json` describes it. */
export interface RenditionInfo {
  readonly id: string
  readonly contentType: 'video' | 'audio'
  readonly codecs: string
  readonly bandwidth: number
  readonly width?: number
  readonly height?: number
  readonly frameRate?: string
  readonly sampleRate?: number
  readonly channels?: number
  readonly init: string
  readonly fragments: readonly string[]
}

/** A rendition ready to build segments from. */
export interface SimRendition extends RenditionInfo {
  readonly initBytes: Uint8Array
  readonly trackId: number
  /** Ticks per second of the track's media time. */
  readonly timescale: number
  /** Duration of one sample (a video frame, an AAC frame), in ticks. */
  readonly sampleDuration: number
  /** The source samples, split where a segment may start (GOPs for video; one run for audio). */
  readonly groups: readonly (readonly Sample[])[]
  readonly styp: Uint8Array | undefined
}

/** Where a segment sits on the channel's timeline. */
export interface SegmentTiming {
  readonly number: number
  readonly startNumber: number
  readonly segmentDurationMs: number
}

export interface BuildOptions {
  /** Write the decode time of this number instead (a packager numbering bug). */
  readonly tfdtNumber?: number
  /** Text of a `free` box saying who made the copy. */
  readonly label?: string
  /**
   * CMAF chunks per segment (moof+mdat pairs, as a low-latency packager writes them); default
   * 1. Chunk k of segment index i carries `mfhd` sequence i·chunks + k + 1.
   */
  readonly chunks?: number
}

/** `assets/sim/` of the installed package, found from this module (src/ or dist/src/). */
export function defaultAssetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'assets', 'sim')
    if (existsSync(join(candidate, 'renditions.json'))) return candidate
    dir = dirname(dir)
  }
  throw new Error('assets/sim/renditions.json not found next to the liveorigin package')
}

/** Loads the renditions of `dir` (default: the package's `assets/sim/`). */
export function loadRenditions(dir = defaultAssetsDir()): SimRendition[] {
  const doc = JSON.parse(readFileSync(join(dir, 'renditions.json'), 'utf8')) as {
    renditions: RenditionInfo[]
  }
  return doc.renditions.map((info) => {
    const initBytes = new Uint8Array(readFileSync(join(dir, info.init)))
    const track = parseInit(initBytes).tracks[0]
    if (!track) throw new Error(`${info.init} has no track`)
    const samples: Sample[] = []
    let styp: Uint8Array | undefined
    for (const name of info.fragments) {
      const bytes = new Uint8Array(readFileSync(join(dir, name)))
      styp ??= topLevelBox(bytes, 'styp')
      const t = readFragment(bytes).find((x) => x.trackId === track.trackId)
      if (!t) throw new Error(`${name} has no samples of track ${track.trackId}`)
      samples.push(...t.samples)
    }
    const groups: Sample[][] = []
    if (info.contentType === 'audio') groups.push(samples)
    else {
      for (const s of samples) {
        if (isSync(s) || groups.length === 0) groups.push([])
        groups.at(-1)!.push(s)
      }
      if (!isSync(groups[0]![0]!)) throw new Error(`${info.fragments[0]} does not start with a sync sample`)
    }
    const sampleDuration = samples[0]?.duration ?? 0
    if (!(sampleDuration > 0)) throw new Error(`${info.fragments[0]} has no sample duration`)
    return {
      ...info,
      initBytes,
      trackId: track.trackId,
      timescale: track.timescale,
      sampleDuration,
      groups,
      styp,
    }
  })
}

/** The `free` box text of a pipeline's copy of segment `n` of rendition `id`: who made it. */
export function copyLabel(pipeline: string, id: string, n: number): string {
  return `liveorigin simulate: pipeline ${pipeline}, rendition ${id}, segment ${n}`
}

/** Decode time, in `timescale` ticks, where segment index `i` (N−S) starts. */
export function segmentStart(i: number, segmentDurationMs: number, timescale: number): number {
  return Math.round((i * segmentDurationMs * timescale) / 1000)
}

/**
 * Builds segment N of `rendition`: samples taken in order from the source (a video segment
 * starts on a GOP; the last sample is stretched or shortened so that the durations add up
 * to D exactly), `tfdt` = (N−S)·D, `mfhd` sequence N−S+1. Every pipeline gets the same
 * media for the same N; only the label differs.
 */
export function buildMediaSegment(
  rendition: SimRendition,
  timing: SegmentTiming,
  options: BuildOptions = {},
): Uint8Array {
  const { number, startNumber, segmentDurationMs } = timing
  const i = number - startNumber
  if (!(Number.isSafeInteger(i) && i >= 0)) throw new RangeError(`segment ${number} is before ${startNumber}`)
  const ts = rendition.timescale
  const start = segmentStart(i, segmentDurationMs, ts)
  const ticks = segmentStart(i + 1, segmentDurationMs, ts) - start
  const frame = rendition.sampleDuration
  const count = Math.max(1, Math.round(ticks / frame))
  const picked = pickSamples(rendition, i, count)
  const samples = picked.map((s, k) => ({
    ...s,
    duration: k < count - 1 ? frame : ticks - (count - 1) * frame,
  }))
  const tfdtIndex = (options.tfdtNumber ?? number) - startNumber
  const chunks = Math.max(1, Math.min(count, Math.floor(options.chunks ?? 1)))
  return buildSegment({
    trackId: rendition.trackId,
    sequence: i * chunks + 1,
    chunks,
    baseMediaDecodeTime: segmentStart(tfdtIndex, segmentDurationMs, ts),
    samples,
    ...(rendition.styp ? { styp: rendition.styp } : {}),
    ...(options.label !== undefined ? { label: options.label } : {}),
  })
}

/** `count` samples for segment index `i`, cycling through the source. */
function pickSamples(rendition: SimRendition, i: number, count: number): Sample[] {
  const out: Sample[] = []
  const groups = rendition.groups
  if (rendition.contentType === 'audio') {
    const all = groups[0]!
    let at = (i * count) % all.length
    while (out.length < count) {
      out.push(all[at]!)
      at = (at + 1) % all.length
    }
    return out
  }
  const perSegment = Math.max(1, Math.ceil(count / groups[0]!.length))
  let g = (i * perSegment) % groups.length
  while (out.length < count) {
    for (const s of groups[g]!) {
      if (out.length === count) break
      out.push(s)
    }
    g = (g + 1) % groups.length
  }
  return out
}
