/**
 * fMP4 rewriting for the simulator: reads the samples (timing, flags, bytes) out of real
 * ffmpeg-made media fragments, and builds new media segments from them for any segment
 * number and duration: one `moof` + `mdat` whose `tfdt` is (N−S)·D in the track's timescale,
 * whose `mfhd` sequence number follows N, and whose sample durations add up to D exactly.
 * The origin inspects these segments like any packager's, so they must be right.
 */
import { forEachBox, fourcc, readBox, u32 } from '../media/boxes.js'

/** One media sample of a source fragment. `data` is a view into the source bytes. */
export interface Sample {
  readonly duration: number
  readonly flags: number
  readonly compositionOffset: number
  readonly data: Uint8Array
}

/** The samples of one track of one source fragment. */
export interface FragmentTrack {
  readonly trackId: number
  readonly samples: readonly Sample[]
}

/** `sample_is_non_sync_sample` in ISO BMFF sample flags. */
const NON_SYNC = 0x10000

/** Whether a sample can start a segment (a sync sample, e.g. an IDR frame). */
export function isSync(sample: Sample): boolean {
  return (sample.flags & NON_SYNC) === 0
}

/**
 * Reads every track's samples from a media fragment (one or more `moof`/`mdat` pairs, as
 * ffmpeg's DASH muxer writes them). Throws on anything it cannot follow, e.g. a `tfhd`
 * base_data_offset or a `trun` without a data_offset.
 */
export function readFragment(bytes: Uint8Array, trexFlags = 0): FragmentTrack[] {
  const tracks = new Map<number, Sample[]>()
  forEachBox(
    bytes,
    0,
    bytes.length,
    'fragment',
    (moof) => {
      if (moof.type !== 'moof') return
      forEachBox(bytes, moof.body, moof.end, 'moof', (traf) => {
        if (traf.type !== 'traf') return
        let trackId = 0
        let defDuration = 0
        let defSize = 0
        let defFlags = trexFlags
        const runs: Array<{ at: number; end: number }> = []
        forEachBox(bytes, traf.body, traf.end, 'traf', (b) => {
          if (b.type === 'tfhd') {
            const flags = u32(bytes, b.body) & 0xffffff
            trackId = u32(bytes, b.body + 4)
            let at = b.body + 8
            if (flags & 0x1) throw new Error('tfhd base_data_offset is not supported')
            if (flags & 0x2) at += 4
            if (flags & 0x8) {
              defDuration = u32(bytes, at)
              at += 4
            }
            if (flags & 0x10) {
              defSize = u32(bytes, at)
              at += 4
            }
            if (flags & 0x20) defFlags = u32(bytes, at)
          } else if (b.type === 'trun') runs.push({ at: b.body, end: b.end })
        })
        const samples = tracks.get(trackId) ?? []
        tracks.set(trackId, samples)
        for (const run of runs) {
          const version = bytes[run.at]!
          const flags = u32(bytes, run.at) & 0xffffff
          const count = u32(bytes, run.at + 4)
          let at = run.at + 8
          if (!(flags & 0x1)) throw new Error('trun without data_offset is not supported')
          // default-base-is-moof (and the first traf without it): offsets count from the moof.
          let data = moof.start + (u32(bytes, at) | 0)
          at += 4
          let firstFlags: number | undefined
          if (flags & 0x4) {
            firstFlags = u32(bytes, at)
            at += 4
          }
          const next = () => {
            const value = u32(bytes, at)
            at += 4
            return value
          }
          for (let i = 0; i < count; i++) {
            const duration = flags & 0x100 ? next() : defDuration
            const size = flags & 0x200 ? next() : defSize
            let sampleFlags = flags & 0x400 ? next() : defFlags
            if (i === 0 && firstFlags !== undefined) sampleFlags = firstFlags
            let cto = 0
            if (flags & 0x800) {
              const raw = next()
              cto = version === 0 ? raw : raw | 0
            }
            if (at > run.end) throw new Error('trun is shorter than its sample_count says')
            if (data + size > bytes.length) throw new Error('sample data lies past the end of the fragment')
            samples.push({
              duration,
              flags: sampleFlags,
              compositionOffset: cto,
              data: bytes.subarray(data, data + size),
            })
            data += size
          }
        }
      })
    },
    true,
  )
  if (tracks.size === 0) throw new Error('no moof/traf in fragment')
  return [...tracks].map(([trackId, samples]) => ({ trackId, samples }))
}

/** The first top-level box of `type` in `bytes`, whole (header included), if any. */
export function topLevelBox(bytes: Uint8Array, type: string): Uint8Array | undefined {
  let at = 0
  while (at + 8 <= bytes.length) {
    const box = readBox(bytes, at, bytes.length, 'file', true)
    if (box.type === type) return bytes.subarray(box.start, box.end)
    at = box.end
  }
  return undefined
}

/** What to build. Times are exact integers in the track's timescale. */
export interface SegmentSpec {
  readonly trackId: number
  /** `mfhd` sequence_number (≥ 1). */
  readonly sequence: number
  /** `tfdt` baseMediaDecodeTime. */
  readonly baseMediaDecodeTime: number
  /** Samples in decode order; their `duration`s are written as given. */
  readonly samples: readonly Sample[]
  /** A `styp` box to start the segment with (copied as is). */
  readonly styp?: Uint8Array
  /** Text for a `free` box after the `styp` (e.g. which pipeline made the copy); players skip it. */
  readonly label?: string
  /** CMAF chunks (moof+mdat pairs) to split the samples into; default 1. */
  readonly chunks?: number
}

/**
 * Builds `styp` + `free` + one `moof` (mfhd, traf: tfhd, tfdt v1, trun) + `mdat` per chunk:
 * with `chunks` > 1 the samples are split into that many CMAF chunks (as a low-latency
 * packager writes them), each with its own `tfdt` and the next `mfhd` sequence number.
 */
export function buildSegment(spec: SegmentSpec): Uint8Array {
  const n = spec.samples.length
  if (n === 0) throw new Error('a segment needs at least one sample')
  const chunks = Math.max(1, Math.min(n, Math.floor(spec.chunks ?? 1)))
  const styp = spec.styp ?? new Uint8Array(0)
  const label = spec.label === undefined ? undefined : new TextEncoder().encode(spec.label)
  const parts: Uint8Array[] = [styp]
  if (label !== undefined) {
    const free = new Uint8Array(8 + label.length)
    new DataView(free.buffer).setUint32(0, free.length)
    free.set([0x66, 0x72, 0x65, 0x65], 4) // 'free'
    free.set(label, 8)
    parts.push(free)
  }
  let decodeTime = spec.baseMediaDecodeTime
  let from = 0
  for (let k = 0; k < chunks; k++) {
    const to = Math.round(((k + 1) * n) / chunks)
    const samples = spec.samples.slice(from, to)
    parts.push(buildFragment(spec.trackId, spec.sequence + k, decodeTime, samples))
    for (const s of samples) decodeTime += s.duration
    from = to
  }
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** One `moof` (mfhd, traf: tfhd, tfdt v1, trun) and its `mdat`. */
function buildFragment(
  trackId: number,
  sequence: number,
  baseMediaDecodeTime: number,
  samples: readonly Sample[],
): Uint8Array {
  const n = samples.length
  const withCto = samples.some((s) => s.compositionOffset !== 0)
  // data_offset, then per sample: duration, size, flags (and composition offset).
  const trunFlags = 0x1 | 0x100 | 0x200 | 0x400 | (withCto ? 0x800 : 0)
  const entry = withCto ? 16 : 12
  const trunSize = 8 + 4 + 4 + 4 + n * entry
  const tfhdSize = 16
  const tfdtSize = 20
  const trafSize = 8 + tfhdSize + tfdtSize + trunSize
  const mfhdSize = 16
  const moofSize = 8 + mfhdSize + trafSize
  const payload = samples.reduce((sum, s) => sum + s.data.length, 0)
  const out = new Uint8Array(moofSize + 8 + payload)
  const v = new DataView(out.buffer)
  let at = 0
  const box = (size: number, type: string) => {
    v.setUint32(at, size)
    for (let i = 0; i < 4; i++) out[at + 4 + i] = type.charCodeAt(i)
    at += 8
  }
  const word = (value: number) => {
    v.setUint32(at, value >>> 0)
    at += 4
  }
  box(moofSize, 'moof')
  box(mfhdSize, 'mfhd')
  word(0)
  word(sequence)
  box(trafSize, 'traf')
  box(tfhdSize, 'tfhd')
  word(0x020000) // default-base-is-moof
  word(trackId)
  box(tfdtSize, 'tfdt')
  word(0x01000000) // version 1: 64-bit time
  word(Math.floor(baseMediaDecodeTime / 4294967296))
  word(baseMediaDecodeTime % 4294967296)
  box(trunSize, 'trun')
  word(((withCto ? 1 : 0) << 24) | trunFlags)
  word(n)
  word(moofSize + 8) // the first sample starts right after the mdat header
  for (const s of samples) {
    word(s.duration)
    word(s.data.length)
    word(s.flags)
    if (withCto) word(s.compositionOffset)
  }
  if (at !== moofSize) throw new Error('internal: moof size mismatch')
  box(8 + payload, 'mdat')
  for (const s of samples) {
    out.set(s.data, at)
    at += s.data.length
  }
  return out
}

/**
 * The CMAF chunks of a segment, as a low-latency packager sends them one by one: the first
 * runs from the start (`styp`, `free`, …) to the end of the first `mdat`, each next one is a
 * `moof` and its `mdat`; bytes after the last `mdat` (if any) are one more piece.
 */
export function cmafChunks(segment: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  let from = 0
  let at = 0
  while (at + 8 <= segment.length) {
    const size = u32(segment, at)
    const type = fourcc(segment, at + 4)
    if (size < 8) break
    at += size
    if (type === 'mdat') {
      out.push(segment.subarray(from, Math.min(at, segment.length)))
      from = Math.min(at, segment.length)
    }
  }
  if (from < segment.length) out.push(segment.subarray(from))
  return out
}

/**
 * Cuts a segment off inside its `mdat`, the way an upload from a crashed packager ends:
 * keeps `fraction` (0–1) of the payload. The result no longer parses (`corrupt`).
 */
export function truncateSegment(segment: Uint8Array, fraction = 0.5): Uint8Array {
  let at = 0
  while (at + 8 <= segment.length) {
    const size = u32(segment, at)
    if (fourcc(segment, at + 4) === 'mdat') {
      const keep = Math.max(1, Math.floor((size - 8) * fraction))
      return segment.slice(0, Math.min(segment.length - 1, at + 8 + keep))
    }
    if (size < 8) break
    at += size
  }
  return segment.slice(0, Math.max(1, Math.floor(segment.length * fraction)))
}
