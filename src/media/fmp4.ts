/**
 * Fragmented MP4 inspection for the ingest path (docs/protocol.md#quality-control-and-selection): what an init segment says about
 * its tracks (`parseInit`) and what a media segment's movie fragments add up to
 * (`FragmentInspector`, fed the upload's chunks as they arrive). Only box headers and the
 * few small boxes that matter are read; media data is skipped by counting, never decoded
 * and never copied, so the cost does not grow with the bitrate.
 */
import {
  type Box,
  Fmp4Error,
  forEachBox,
  fourcc,
  i32,
  i64,
  isPrintableType,
  need,
  readTfdt,
  readTfhd,
  readTrun,
  TFHD_BASE_DATA_OFFSET,
  TFHD_DEFAULT_BASE_IS_MOOF,
  type Tfhd,
  u32,
  u64,
} from './boxes.js'
import type { FragmentSummary, InitInfo, InitTrack, TrackSummary, TrafSummary } from './types.js'

export { Fmp4Error } from './boxes.js'
export type { FragmentSummary, InitInfo, InitTrack, TrackSummary, TrafSummary } from './types.js'

/**
 * Parses an init segment: `ftyp` brands and, per `moov/trak`, the `tkhd` track_ID, `mdhd`
 * timescale, `hdlr` handler type and first `elst` media_time, with `mvex/trex` defaults.
 *
 * @throws Fmp4Error when the boxes do not parse, there is no `moov`, or a track lacks one of
 *   `tkhd`, `mdhd`, `hdlr` or has timescale 0.
 */
export function parseInit(bytes: Uint8Array): InitInfo {
  const brands: string[] = []
  let tracks: InitTrack[] | undefined
  forEachBox(
    bytes,
    0,
    bytes.length,
    'init segment',
    (box) => {
      if (box.type === 'ftyp') readBrands(bytes, box, brands)
      else if (box.type === 'moov' && tracks === undefined) tracks = readMoov(bytes, box)
    },
    true,
  )
  if (tracks === undefined) throw new Fmp4Error('init segment has no moov box')
  return { brands, tracks }
}

/** Options of {@link FragmentInspector}. */
export interface InspectorOptions {
  /**
   * The rendition's init segment, when known before the upload: its `trex` defaults then
   * count in `duration` and size checks. Without it `inspectSegment` applies them later.
   */
  readonly init?: InitInfo | undefined
  /** Largest `moof` kept in memory to parse; a larger one is reported corrupt. Default 1 MiB. */
  readonly maxMoofBytes?: number
}

const DEFAULT_MAX_MOOF = 1024 * 1024
/** `styp`/`ftyp` larger than this are not brand lists. */
const MAX_TYPE_BOX = 4096

interface TrackAcc {
  trackId: number
  fragments: TrafSummary[]
  sampleCount: number
  duration: number
  samplesWithoutDuration: number
  sampleDuration: number
}

interface PendingMoof {
  readonly start: number
  /** Samples of every trun of the moof. */
  readonly samples: number
  /** Absolute byte ranges the moof's truns point at; `end` undefined when sizes are unknown. */
  readonly ranges: Array<{ trackId: number; start: number; end: number | undefined }>
}

/**
 * Inspects a media segment as it streams in: call `push()` with each chunk in order (chunks
 * may split boxes anywhere), then `finish()` once. Keeps only `styp`/`ftyp` and `moof`
 * boxes in memory (each up to a bound); every other box, `mdat` included, is skipped by
 * counting. After a structural error it stops looking and `finish()` reports it.
 */
export class FragmentInspector {
  readonly #init: InitInfo | undefined
  readonly #maxMoof: number
  /** Bytes consumed so far. */
  #pos = 0
  /** Header bytes of the box being read (8, or 16 with a 64-bit size). */
  readonly #head = new Uint8Array(16)
  #headLen = 0
  #headNeed = 8
  /** The box whose body is being consumed, if any. */
  #type = ''
  #boxStart = 0
  #remaining = 0
  #toEnd = false
  /** Where the payload of a size-0 ("to the end") mdat starts. */
  #openPayload = 0
  /**
   * The box being kept (moof, styp, ftyp), header included, is collected in #scratch[0, #keepSize),
   * reused from box to box: a chunked segment has hundreds of moofs.
   */
  #keep = false
  #keepSize = 0
  #keepAt = 0
  #scratch = new Uint8Array(1024)
  #pending: PendingMoof | undefined
  #moofs = 0
  /** Where the last complete `moof`+`mdat` pair (CMAF chunk) ends: bytes before it parsed clean. */
  #chunkEnd = 0
  readonly #brands: string[] = []
  readonly #tracks = new Map<number, TrackAcc>()
  #corrupt: string | undefined
  #summary: FragmentSummary | undefined

  constructor(options: InspectorOptions = {}) {
    this.#init = options.init
    this.#maxMoof = options.maxMoofBytes ?? DEFAULT_MAX_MOOF
  }

  /** Feeds the next chunk of the segment. Cheap after a structural error (it only counts). */
  push(chunk: Uint8Array): void {
    if (this.#summary !== undefined) throw new Error('FragmentInspector.push() after finish()')
    if (this.#corrupt !== undefined) {
      this.#pos += chunk.length
      return
    }
    let i = 0
    const n = chunk.length
    while (i < n) {
      if (this.#remaining === 0 && !this.#toEnd) {
        // Reading a box header, possibly across chunks.
        const take = Math.min(this.#headNeed - this.#headLen, n - i)
        // At most 16 bytes: a loop is cheaper than a subarray view per box.
        for (let k = 0; k < take; k++) this.#head[this.#headLen + k] = chunk[i + k]!
        this.#headLen += take
        i += take
        this.#pos += take
        if (this.#headLen < this.#headNeed) break
        if (!this.#startBox()) {
          this.#pos += n - i
          return
        }
        continue
      }
      const take = this.#toEnd ? n - i : Math.min(this.#remaining, n - i)
      if (this.#keep) {
        const scratch = this.#scratch
        const at = this.#keepAt
        if (take < 512) for (let k = 0; k < take; k++) scratch[at + k] = chunk[i + k]!
        else scratch.set(chunk.subarray(i, i + take), at)
        this.#keepAt += take
      }
      this.#remaining -= take
      i += take
      this.#pos += take
      if (this.#remaining === 0 && !this.#toEnd && !this.#endBox()) {
        this.#pos += n - i
        return
      }
    }
  }

  /**
   * Bytes from the start of the segment to the end of its last complete CMAF chunk (a `moof`
   * and its `mdat`, whose sample sizes the `mdat` holds), when every box so far parsed; 0
   * before the first chunk ends. What a reader may be given of a segment still uploading.
   */
  get chunkEnd(): number {
    return this.#corrupt === undefined ? this.#chunkEnd : 0
  }

  /** Why the bytes so far do not parse (then `finish()` reports it as `corrupt`); undefined while they do. */
  get problem(): string | undefined {
    return this.#corrupt
  }

  /** The `styp`/`ftyp` brands read so far. */
  get brands(): readonly string[] {
    return this.#brands
  }

  /** Ends the segment and reports what it held. Idempotent. */
  finish(): FragmentSummary {
    if (this.#summary !== undefined) return this.#summary
    if (this.#corrupt === undefined) {
      if (this.#headLen > 0) {
        this.#fail(`segment ends inside a box header at byte ${this.#pos - this.#headLen}`)
      } else if (this.#remaining > 0) {
        const size = this.#pos - this.#boxStart + this.#remaining
        this.#fail(
          `segment ends inside the ${this.#type} box at byte ${this.#boxStart}: ${size - this.#remaining} of ${size} bytes`,
        )
      } else if (this.#toEnd && this.#type === 'mdat' && this.#pending) {
        this.#checkData(this.#pending, this.#openPayload, this.#pos)
        this.#pending = undefined
      }
      if (this.#corrupt === undefined && this.#pending !== undefined) {
        this.#fail(`the moof at byte ${this.#pending.start} is not followed by an mdat`)
      }
      if (this.#corrupt === undefined && this.#moofs === 0) this.#fail('no moof box: not a media segment')
    }
    const tracks: TrackSummary[] = []
    for (const t of this.#tracks.values()) {
      tracks.push({
        trackId: t.trackId,
        baseMediaDecodeTime: t.fragments[0]?.baseMediaDecodeTime,
        sampleCount: t.sampleCount,
        duration: t.duration,
        samplesWithoutDuration: t.samplesWithoutDuration,
        sampleDuration: t.sampleDuration,
        fragments: t.fragments,
      })
    }
    const summary: FragmentSummary = {
      brands: this.#brands,
      tracks,
      fragments: this.#moofs,
      bytes: this.#pos,
      ...(this.#corrupt === undefined ? {} : { corrupt: this.#corrupt }),
    }
    this.#summary = summary
    return summary
  }

  /** A full header is in #head: decide what to do with the box. Returns false on error. */
  #startBox(): boolean {
    const head = this.#head
    const start = this.#pos - this.#headLen
    if (!isPrintableType(head, 4)) return this.#fail(`bytes at ${start} are not an ISO BMFF box`)
    const type = fourcc(head, 4)
    const size32 = u32(head, 0)
    let size: number
    if (size32 === 1) {
      if (this.#headNeed === 8) {
        this.#headNeed = 16
        return true
      }
      size = u64(head, 8)
      // Beyond 2^53 a Number is no longer exact (and no segment is that large).
      if (size < 16 || size > Number.MAX_SAFE_INTEGER)
        return this.#fail(`${type} box at byte ${start} has an impossible 64-bit size ${size}`)
    } else if (size32 === 0) {
      size = Number.POSITIVE_INFINITY
    } else {
      size = size32
      if (size < 8) return this.#fail(`${type} box at byte ${start} has an impossible size ${size}`)
    }
    const headerSize = this.#headNeed
    this.#headLen = 0
    this.#headNeed = 8
    this.#type = type
    this.#boxStart = start
    this.#toEnd = size === Number.POSITIVE_INFINITY
    this.#remaining = this.#toEnd ? 0 : size - headerSize
    this.#keep = false
    this.#keepAt = 0

    if (type === 'moof') {
      if (this.#pending)
        return this.#fail(`the moof at byte ${this.#pending.start} is not followed by an mdat`)
      if (this.#toEnd) return this.#fail(`moof box at byte ${start} has size 0`)
      if (size > this.#maxMoof)
        return this.#fail(`moof box at byte ${start} is ${size} bytes (limit ${this.#maxMoof})`)
    } else if (type === 'styp' || type === 'ftyp') {
      if (this.#toEnd || size > MAX_TYPE_BOX)
        return this.#fail(`${type} box at byte ${start} is ${size} bytes`)
    } else if (type === 'mdat') {
      const pending = this.#pending
      if (!pending) return this.#fail(`the mdat at byte ${start} has no moof before it`)
      // With size 0 the mdat runs to the end of the segment: check its data in finish().
      if (!this.#toEnd) {
        this.#pending = undefined
        if (!this.#checkData(pending, start + headerSize, start + size)) return false
        if (this.#remaining === 0) this.#chunkEnd = start + size
      } else {
        this.#openPayload = start + headerSize
      }
      return true
    }
    if (type === 'moof' || type === 'styp' || type === 'ftyp') {
      if (size > this.#scratch.length)
        this.#scratch = new Uint8Array(Math.max(size, 2 * this.#scratch.length))
      this.#keep = true
      this.#keepSize = size
      this.#scratch.set(head.subarray(0, headerSize))
      this.#keepAt = headerSize
      if (this.#remaining === 0) return this.#endBox()
    }
    return true
  }

  /** The current box's body has been consumed. Returns false on error. */
  #endBox(): boolean {
    if (!this.#keep) {
      // An mdat with a known size ends here, its moof's samples checked against it when it began.
      if (this.#type === 'mdat') this.#chunkEnd = this.#pos
      return true
    }
    this.#keep = false
    const bytes = this.#scratch
    const box: Box = { type: this.#type, start: 0, body: u32(bytes, 0) === 1 ? 16 : 8, end: this.#keepSize }
    try {
      if (box.type === 'moof') this.#readMoof(bytes, box)
      else readBrands(bytes, box, this.#brands)
      return true
    } catch (err) {
      if (err instanceof Fmp4Error)
        return this.#fail(`${err.message} (${box.type} at byte ${this.#boxStart})`)
      throw err
    }
  }

  #readMoof(bytes: Uint8Array, moof: Box): void {
    const moofStart = this.#boxStart
    const ranges: PendingMoof['ranges'] = []
    let sawMfhd = false
    let trafs = 0
    let samples = 0
    let previousEnd: number | undefined = moofStart
    forEachBox(bytes, moof.body, moof.end, 'moof', (child) => {
      if (child.type === 'mfhd') sawMfhd = true
      else if (child.type === 'traf') {
        const traf = this.#readTraf(bytes, child, moofStart, trafs === 0, previousEnd, ranges)
        previousEnd = traf.dataEnd
        samples += traf.samples
        trafs++
      }
    })
    if (!sawMfhd) throw new Fmp4Error('moof has no mfhd')
    if (trafs === 0) throw new Fmp4Error('moof has no traf')
    this.#moofs++
    this.#pending = { start: moofStart, samples, ranges }
  }

  /**
   * Reads one traf; returns its sample count and where its sample data ends (the next traf's
   * implicit base), if known.
   */
  #readTraf(
    bytes: Uint8Array,
    traf: Box,
    moofStart: number,
    first: boolean,
    previousEnd: number | undefined,
    ranges: PendingMoof['ranges'],
  ): { samples: number; dataEnd: number | undefined } {
    let tfhd: Tfhd | undefined
    let tfdt: number | undefined
    const runs: Box[] = []
    forEachBox(bytes, traf.body, traf.end, 'traf', (child) => {
      if (child.type === 'tfhd') tfhd = readTfhd(bytes, child)
      else if (child.type === 'tfdt') tfdt = readTfdt(bytes, child)
      else if (child.type === 'trun') runs.push(child)
    })
    if (tfhd === undefined) throw new Fmp4Error('traf has no tfhd')
    const trex = this.#init?.tracks.find((t) => t.trackId === tfhd!.trackId)
    const defaultDuration = tfhd.defaultSampleDuration ?? (trex ? trex.defaultSampleDuration : undefined)
    const defaultSize = tfhd.defaultSampleSize ?? (trex ? trex.defaultSampleSize : undefined)
    // Where sample data starts, when it can be checked against the mdat that follows.
    // Explicit base offsets count from the start of a whole file, which a segment may not be.
    let base: number | undefined
    if (tfhd.flags & TFHD_BASE_DATA_OFFSET) base = undefined
    else if (tfhd.flags & TFHD_DEFAULT_BASE_IS_MOOF || first) base = moofStart
    else base = previousEnd

    let sampleCount = 0
    let duration = 0
    let samplesWithoutDuration = 0
    let firstDuration: number | undefined
    let firstCompositionOffset = 0
    // A first trun without data_offset would put its samples at the base (inside the moof):
    // leave such data unchecked rather than call a segment that players accept corrupt.
    let dataEnd: number | undefined
    for (let r = 0; r < runs.length; r++) {
      const run = readTrun(bytes, runs[r]!, defaultDuration, defaultSize)
      if (r === 0) firstCompositionOffset = run.firstCompositionOffset
      if (firstDuration === undefined) firstDuration = run.firstDuration
      sampleCount += run.sampleCount
      duration += run.duration
      samplesWithoutDuration += run.samplesWithoutDuration
      const start =
        run.dataOffset === undefined ? dataEnd : base === undefined ? undefined : base + run.dataOffset
      const end = start === undefined || run.bytes === undefined ? undefined : start + run.bytes
      if (run.sampleCount > 0 && start !== undefined) ranges.push({ trackId: tfhd.trackId, start, end })
      dataEnd = end
    }

    let acc = this.#tracks.get(tfhd.trackId)
    if (acc === undefined) {
      acc = {
        trackId: tfhd.trackId,
        fragments: [],
        sampleCount: 0,
        duration: 0,
        samplesWithoutDuration: 0,
        sampleDuration: 0,
      }
      this.#tracks.set(tfhd.trackId, acc)
    }
    acc.fragments.push({
      baseMediaDecodeTime: tfdt,
      firstCompositionOffset,
      sampleCount,
      duration,
      samplesWithoutDuration,
    })
    acc.sampleCount += sampleCount
    acc.duration += duration
    acc.samplesWithoutDuration += samplesWithoutDuration
    if (acc.sampleDuration === 0 && firstDuration !== undefined) acc.sampleDuration = firstDuration
    return { samples: sampleCount, dataEnd }
  }

  /**
   * Checks that a moof's sample data lies inside the mdat payload [from, to), and that the
   * payload can hold its samples at all (one byte each at least), whatever sizes are known.
   */
  #checkData(pending: PendingMoof, from: number, to: number): boolean {
    if (pending.samples > to - from) {
      return this.#fail(
        `the moof at byte ${pending.start} claims ${pending.samples} samples but the mdat after it holds ${to - from} bytes`,
      )
    }
    for (const r of pending.ranges) {
      if (r.start < from || r.start > to || (r.end !== undefined && r.end > to)) {
        const what = r.end === undefined ? `from byte ${r.start}` : `bytes ${r.start}-${r.end}`
        return this.#fail(
          `track ${r.trackId} sample data (${what}) lies outside the mdat payload (bytes ${from}-${to}) after the moof at byte ${pending.start}`,
        )
      }
    }
    return true
  }

  #fail(reason: string): false {
    this.#corrupt ??= reason
    this.#keep = false
    return false
  }
}

/** Inspects a whole segment held in memory (tests, tools): one `push`, then `finish`. */
export function summarizeFragment(bytes: Uint8Array, options: InspectorOptions = {}): FragmentSummary {
  const inspector = new FragmentInspector(options)
  inspector.push(bytes)
  return inspector.finish()
}

function readBrands(bytes: Uint8Array, box: Box, into: string[]): void {
  need(box, 8, 'major brand and minor version')
  const add = (brand: string): void => {
    if (!into.includes(brand)) into.push(brand)
  }
  add(fourcc(bytes, box.body))
  for (let at = box.body + 8; at + 4 <= box.end; at += 4) add(fourcc(bytes, at))
}

function readMoov(bytes: Uint8Array, moov: Box): InitTrack[] {
  const traks: Array<Omit<InitTrack, 'defaultSampleDuration' | 'defaultSampleSize'>> = []
  const trex = new Map<number, { duration: number; size: number }>()
  forEachBox(bytes, moov.body, moov.end, 'moov', (child) => {
    if (child.type === 'trak') traks.push(readTrak(bytes, child))
    else if (child.type === 'mvex') {
      forEachBox(bytes, child.body, child.end, 'mvex', (box) => {
        if (box.type !== 'trex') return
        need(box, 24, 'defaults')
        trex.set(u32(bytes, box.body + 4), {
          duration: u32(bytes, box.body + 12),
          size: u32(bytes, box.body + 16),
        })
      })
    }
  })
  if (traks.length === 0) throw new Fmp4Error('moov has no trak')
  return traks.map((t) => ({
    ...t,
    defaultSampleDuration: trex.get(t.trackId)?.duration ?? 0,
    defaultSampleSize: trex.get(t.trackId)?.size ?? 0,
  }))
}

/**
 * A 32-bit field of a full box that sits `v0` bytes into the body in version 0 and `v1` in
 * version 1 (whose times before it are 64-bit).
 */
function versionedU32(bytes: Uint8Array, box: Box, v0: number, v1: number, field: string): number {
  const at = bytes[box.body] === 1 ? v1 : v0
  need(box, at + 4, field)
  return u32(bytes, box.body + at)
}

function readTrak(
  bytes: Uint8Array,
  trak: Box,
): Omit<InitTrack, 'defaultSampleDuration' | 'defaultSampleSize'> {
  let trackId: number | undefined
  let timescale: number | undefined
  let handler: string | undefined
  let mediaTime = 0
  forEachBox(bytes, trak.body, trak.end, 'trak', (child) => {
    if (child.type === 'tkhd') {
      trackId = versionedU32(bytes, child, 12, 20, 'track_ID')
    } else if (child.type === 'mdia') {
      forEachBox(bytes, child.body, child.end, 'mdia', (box) => {
        if (box.type === 'mdhd') {
          timescale = versionedU32(bytes, box, 12, 20, 'timescale')
        } else if (box.type === 'hdlr') {
          need(box, 12, 'handler_type')
          handler = fourcc(bytes, box.body + 8)
        }
      })
    } else if (child.type === 'edts') {
      forEachBox(bytes, child.body, child.end, 'edts', (box) => {
        if (box.type === 'elst') mediaTime = readFirstMediaTime(bytes, box)
      })
    }
  })
  if (trackId === undefined) throw new Fmp4Error('trak has no tkhd')
  if (timescale === undefined) throw new Fmp4Error(`track ${trackId} has no mdia/mdhd`)
  if (timescale === 0) throw new Fmp4Error(`track ${trackId} has timescale 0`)
  if (handler === undefined) throw new Fmp4Error(`track ${trackId} has no mdia/hdlr`)
  return { trackId, timescale, handler, mediaTime }
}

/** media_time of the first edit that is not empty (media_time −1), else 0. */
function readFirstMediaTime(bytes: Uint8Array, elst: Box): number {
  need(elst, 8, 'entry_count')
  const v1 = bytes[elst.body] === 1
  const count = u32(bytes, elst.body + 4)
  const entry = v1 ? 20 : 12
  need(elst, 8 + count * entry, `${count} entries`)
  for (let k = 0, at = elst.body + 8; k < count; k++, at += entry) {
    const mediaTime = v1 ? i64(bytes, at + 8) : i32(bytes, at + 4)
    if (mediaTime !== -1) return mediaTime
  }
  return 0
}
