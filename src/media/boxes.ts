/**
 * Low-level ISO BMFF (ISO/IEC 14496-12) reading over an in-memory box: box headers, child
 * iteration with bounds checks, and the few full boxes fragment inspection needs (`tfhd`,
 * `tfdt`, `trun`). Every read is bounds-checked and failures are `Fmp4Error`s with a reason
 * a person can act on. Nothing here copies bytes.
 */

/** A box structure that cannot be right: impossible size, truncated field, missing box. */
export class Fmp4Error extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'Fmp4Error'
  }
}

/** 2^32, to combine two 32-bit halves into a Number (exact up to 2^53). */
export const TWO_32 = 4294967296

/** A box found inside a buffer. `start`/`end` are offsets in that buffer. */
export interface Box {
  readonly type: string
  readonly start: number
  /** Offset of the box body (after size, type and any largesize). */
  readonly body: number
  readonly end: number
}

/** The four-character code at `offset`, read as latin1. */
export function fourcc(bytes: Uint8Array, offset: number): string {
  return String.fromCharCode(bytes[offset]!, bytes[offset + 1]!, bytes[offset + 2]!, bytes[offset + 3]!)
}

/**
 * Whether the four bytes at `offset` look like a box type: printable ASCII. ISO BMFF allows
 * any 32-bit code, but every top-level box of a media segment has a printable one, and
 * garbage (a cut-off body, a TS segment under an .m4s name) almost never does.
 */
export function isPrintableType(bytes: Uint8Array, offset: number): boolean {
  for (let i = offset; i < offset + 4; i++) {
    const c = bytes[i]!
    if (c < 0x20 || c > 0x7e) return false
  }
  return true
}

/** Reads 32-bit big-endian unsigned. */
export function u32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset]! << 24) >>> 0) +
    (bytes[offset + 1]! << 16) +
    (bytes[offset + 2]! << 8) +
    bytes[offset + 3]!
  )
}

/** Reads 32-bit big-endian signed. */
export function i32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!
}

/** Reads 64-bit big-endian unsigned as a Number (exact below 2^53). */
export function u64(bytes: Uint8Array, offset: number): number {
  return u32(bytes, offset) * TWO_32 + u32(bytes, offset + 4)
}

/** Reads 64-bit big-endian signed as a Number (exact within ±2^53). */
export function i64(bytes: Uint8Array, offset: number): number {
  return i32(bytes, offset) * TWO_32 + u32(bytes, offset + 4)
}

/**
 * Calls `visit` for each box in [start, end) of `bytes`. A box that claims more bytes than
 * its parent holds, or fewer than its own header, is an error; size 0 ("to the end") is
 * accepted only where `allowToEnd` says so (top level).
 */
export function forEachBox(
  bytes: Uint8Array,
  start: number,
  end: number,
  where: string,
  visit: (box: Box) => void,
  allowToEnd = false,
): void {
  let at = start
  while (at < end) {
    const box = readBox(bytes, at, end, where, allowToEnd)
    visit(box)
    at = box.end
  }
}

/** Reads the header of the box at `at`, which must fit in [at, limit). */
export function readBox(
  bytes: Uint8Array,
  at: number,
  limit: number,
  where: string,
  allowToEnd = false,
): Box {
  if (limit - at < 8) throw new Fmp4Error(`${limit - at} stray bytes at the end of ${where}`)
  const size32 = u32(bytes, at)
  const type = fourcc(bytes, at + 4)
  let size: number
  let body = at + 8
  if (size32 === 1) {
    if (limit - at < 16) throw new Fmp4Error(`${type} box in ${where} is cut inside its 64-bit size`)
    size = u64(bytes, at + 8)
    body = at + 16
    // Beyond 2^53 a Number is no longer exact (and no buffer is that large).
    if (size < 16 || size > Number.MAX_SAFE_INTEGER)
      throw new Fmp4Error(`${type} box in ${where} has an impossible 64-bit size ${size}`)
  } else if (size32 === 0) {
    if (!allowToEnd) throw new Fmp4Error(`${type} box in ${where} has size 0 where its size must be given`)
    size = limit - at
  } else {
    size = size32
    if (size < 8) throw new Fmp4Error(`${type} box in ${where} has an impossible size ${size}`)
  }
  if (at + size > limit) {
    throw new Fmp4Error(`${type} box in ${where} claims ${size} bytes but only ${limit - at} remain`)
  }
  return { type, start: at, body, end: at + size }
}

/** Checks that a full box's body holds at least `need` bytes. */
export function need(box: Box, bytes: number, what: string): void {
  if (box.end - box.body < bytes) {
    throw new Fmp4Error(`${box.type} box is ${box.end - box.start} bytes, too short for its ${what}`)
  }
}

/** `tfhd`: the track a `traf` describes and its defaults (ISO/IEC 14496-12 §8.8.7). */
export interface Tfhd {
  readonly trackId: number
  readonly flags: number
  readonly baseDataOffset: number | undefined
  readonly defaultSampleDuration: number | undefined
  readonly defaultSampleSize: number | undefined
}

export const TFHD_BASE_DATA_OFFSET = 0x1
export const TFHD_DEFAULT_DURATION = 0x8
export const TFHD_DEFAULT_SIZE = 0x10
export const TFHD_DEFAULT_BASE_IS_MOOF = 0x20000

export function readTfhd(bytes: Uint8Array, box: Box): Tfhd {
  need(box, 8, 'track_ID')
  const flags = u32(bytes, box.body) & 0xffffff
  const trackId = u32(bytes, box.body + 4)
  let at = box.body + 8
  let length = 8
  if (flags & TFHD_BASE_DATA_OFFSET) length += 8
  if (flags & 0x2) length += 4
  if (flags & TFHD_DEFAULT_DURATION) length += 4
  if (flags & TFHD_DEFAULT_SIZE) length += 4
  if (flags & 0x20) length += 4
  need(box, length, `fields (flags 0x${flags.toString(16)})`)
  let baseDataOffset: number | undefined
  let defaultSampleDuration: number | undefined
  let defaultSampleSize: number | undefined
  if (flags & TFHD_BASE_DATA_OFFSET) {
    baseDataOffset = u64(bytes, at)
    at += 8
  }
  if (flags & 0x2) at += 4
  if (flags & TFHD_DEFAULT_DURATION) {
    defaultSampleDuration = u32(bytes, at)
    at += 4
  }
  if (flags & TFHD_DEFAULT_SIZE) defaultSampleSize = u32(bytes, at)
  return { trackId, flags, baseDataOffset, defaultSampleDuration, defaultSampleSize }
}

/** `tfdt` baseMediaDecodeTime (v0 32-bit, v1 64-bit). */
export function readTfdt(bytes: Uint8Array, box: Box): number {
  need(box, 4, 'version')
  const version = bytes[box.body]!
  if (version === 1) {
    need(box, 12, '64-bit baseMediaDecodeTime')
    return u64(bytes, box.body + 4)
  }
  need(box, 8, '32-bit baseMediaDecodeTime')
  return u32(bytes, box.body + 4)
}

/** What one `trun` adds up to. Sizes and durations fall back to the defaults passed in. */
export interface TrunTotals {
  readonly sampleCount: number
  readonly dataOffset: number | undefined
  /** Sum of known durations. */
  readonly duration: number
  /** Samples with no duration known (no per-sample value and no default). */
  readonly samplesWithoutDuration: number
  /** Duration of the first sample, when known. */
  readonly firstDuration: number | undefined
  /** Composition offset of the first sample (0 when the trun has none). */
  readonly firstCompositionOffset: number
  /** Sum of sample sizes, or undefined when sizes are not known. */
  readonly bytes: number | undefined
}

/** Reads a `trun` (ISO/IEC 14496-12 §8.8.8), summing durations and sizes without keeping samples. */
export function readTrun(
  bytes: Uint8Array,
  box: Box,
  defaultDuration: number | undefined,
  defaultSize: number | undefined,
): TrunTotals {
  need(box, 8, 'sample_count')
  const version = bytes[box.body]!
  const flags = u32(bytes, box.body) & 0xffffff
  const sampleCount = u32(bytes, box.body + 4)
  let at = box.body + 8
  let dataOffset: number | undefined
  if (flags & 0x1) {
    need(box, at - box.body + 4, 'data_offset')
    dataOffset = i32(bytes, at)
    at += 4
  }
  if (flags & 0x4) at += 4
  const hasDuration = (flags & 0x100) !== 0
  const hasSize = (flags & 0x200) !== 0
  const hasFlags = (flags & 0x400) !== 0
  const hasCto = (flags & 0x800) !== 0
  const entry = (hasDuration ? 4 : 0) + (hasSize ? 4 : 0) + (hasFlags ? 4 : 0) + (hasCto ? 4 : 0)
  const room = box.end - at
  if (room < 0 || entry * sampleCount > room) {
    throw new Fmp4Error(
      `trun box of ${box.end - box.start} bytes cannot hold ${sampleCount} samples of ${entry} bytes`,
    )
  }
  let duration = 0
  let samplesWithoutDuration = 0
  let size = 0
  let firstDuration: number | undefined
  let firstCompositionOffset = 0
  if (entry === 0) {
    if (defaultDuration === undefined) samplesWithoutDuration = sampleCount
    else duration = defaultDuration * sampleCount
    firstDuration = sampleCount > 0 ? defaultDuration : undefined
  } else {
    const ctoAt = (hasDuration ? 4 : 0) + (hasSize ? 4 : 0) + (hasFlags ? 4 : 0)
    const sizeAt = hasDuration ? 4 : 0
    for (let i = 0; i < sampleCount; i++, at += entry) {
      if (hasDuration) duration += u32(bytes, at)
      if (hasSize) size += u32(bytes, at + sizeAt)
    }
    const first = box.end - room
    if (sampleCount > 0) {
      firstDuration = hasDuration ? u32(bytes, first) : defaultDuration
      if (hasCto)
        firstCompositionOffset = version === 0 ? u32(bytes, first + ctoAt) : i32(bytes, first + ctoAt)
    }
    if (!hasDuration) {
      if (defaultDuration === undefined) samplesWithoutDuration = sampleCount
      else duration = defaultDuration * sampleCount
    }
  }
  let total: number | undefined
  if (hasSize) total = size
  else if (defaultSize !== undefined) total = defaultSize * sampleCount
  return {
    sampleCount,
    dataOffset,
    duration,
    samplesWithoutDuration,
    firstDuration,
    firstCompositionOffset,
    bytes: total,
  }
}
