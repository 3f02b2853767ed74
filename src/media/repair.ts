/**
 * Repair of a cut-off fragmented MP4 media segment (docs/selection.md, "Repair"): a copy
 * whose upload ended inside a box cannot be decoded by a player (MSE rejects the append).
 * What arrived whole is kept: every complete `moof`/`mdat` pair as it is, and of the pair
 * that was cut, each track's samples up to its last complete one, with the `trun` sample
 * count, `data_offset`, and the `traf`, `moof` and `mdat` sizes rewritten to match. The last
 * kept sample of each track is stretched by the duration of the samples dropped after it
 * (its `trun` duration, written into every entry when the `trun` had none), so that the
 * repaired copy still covers the whole segment on the media timeline: a player shows the
 * last picture and plays the last sound longer instead of meeting a hole. A `moof`
 * that was itself cut off, or that keeps no complete sample, is dropped with its `mdat`.
 * `sidx` boxes are dropped: their sizes and durations describe the whole segment.
 *
 * Pure: bytes in, bytes out. The box reader is the inspection one (`src/media/boxes.ts`).
 */
import {
  type Box,
  Fmp4Error,
  i32,
  readBox,
  readTfhd,
  TFHD_BASE_DATA_OFFSET,
  TFHD_DEFAULT_SIZE,
  u32,
} from './boxes.js'
import type { InitInfo } from './types.js'

/** The outcome of {@link repairSegment}. */
export type RepairResult =
  | {
      readonly ok: true
      readonly bytes: Buffer
      /** Samples dropped from the cut fragment, over every track. */
      readonly droppedSamples: number
      /**
       * Per track, the media time (ticks of the track's timescale) of the dropped samples,
       * now covered by the stretched last sample: what is missing in media though the
       * timeline is whole. Empty when nothing was cut or nothing could be stretched.
       */
      readonly missing: ReadonlyArray<{ readonly trackId: number; readonly ticks: number }>
    }
  | { readonly ok: false; readonly reason: string }

const TRUN_DATA_OFFSET = 0x1
const TRUN_FIRST_SAMPLE_FLAGS = 0x4
const TRUN_DURATION = 0x100
const TRUN_SIZE = 0x200
const TRUN_FLAGS = 0x400
const TRUN_CTO = 0x800

/**
 * Repairs a media segment that ends inside a box. A segment that is whole comes back with
 * every box but `sidx` (`droppedSamples: 0`; at least 1 when anything was cut). `init` gives `trex` default sample sizes for `trun`s that carry
 * none. Fails (`ok: false`, with the reason) when the bytes are not fMP4, a whole box does
 * not parse, no sample is complete, or the cut fragment places its data in a way this
 * repair does not rewrite (an explicit `tfhd` base_data_offset, a `trun` without
 * data_offset, boxes other than `tfhd`/`tfdt`/`trun` in its `traf`).
 */
export function repairSegment(input: Uint8Array, init?: InitInfo): RepairResult {
  const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength)
  try {
    return repair(bytes, init)
  } catch (err) {
    if (err instanceof Fmp4Error || err instanceof RangeError) return { ok: false, reason: err.message }
    throw err
  }
}

function repair(bytes: Buffer, init: InitInfo | undefined): RepairResult {
  const kept: Buffer[] = []
  let at = 0
  let pendingMoof: Box | undefined
  let fragments = 0
  while (at < bytes.length) {
    if (bytes.length - at < 8) break
    const size32 = u32(bytes, at)
    const type = bytes.toString('latin1', at + 4, at + 8)
    if (!/^[\x20-\x7e]{4}$/.test(type)) return fail(`bytes at ${at} are not a box type: not fMP4`)
    const size =
      size32 === 1 ? (bytes.length - at >= 16 ? Number(bytes.readBigUInt64BE(at + 8)) : -1) : size32
    if (size32 === 0) {
      // "To the end of the file": whole by definition.
      if (type === 'mdat' && pendingMoof !== undefined) {
        kept.push(bytes.subarray(pendingMoof.start))
        fragments++
        pendingMoof = undefined
      } else if (pendingMoof === undefined && type !== 'sidx') {
        kept.push(bytes.subarray(at))
      }
      at = bytes.length
      break
    }
    if (size !== -1 && size < 8) return fail(`${type} box at ${at} has an impossible size ${size}`)
    if (size === -1 || at + size > bytes.length) {
      // The cut. Only a cut inside the mdat that follows a whole moof keeps something of it.
      if (type === 'mdat' && pendingMoof !== undefined) {
        const header = size32 === 1 ? 16 : 8
        const repaired = trimFragment(bytes, pendingMoof, at, header, init)
        if (repaired !== undefined) {
          kept.push(repaired.moof, repaired.mdat)
          fragments++
          return done(kept, fragments, repaired.dropped, repaired.missing)
        }
      }
      return done(kept, fragments, 1)
    }
    const box = readBox(bytes, at, bytes.length, 'segment', false)
    if (type === 'moof') {
      if (pendingMoof !== undefined) return fail(`moof at ${pendingMoof.start} has no mdat`)
      pendingMoof = box
    } else if (type === 'mdat') {
      if (pendingMoof === undefined) return fail(`mdat at ${at} has no moof before it`)
      kept.push(bytes.subarray(pendingMoof.start, box.end))
      fragments++
      pendingMoof = undefined
    } else if (pendingMoof !== undefined) {
      return fail(`${type} box at ${at} between a moof and its mdat`)
    } else if (type !== 'sidx') {
      kept.push(bytes.subarray(box.start, box.end))
    }
    at = box.end
  }
  // Ended at a box boundary (or inside a box header): a trailing moof without its mdat goes.
  return done(kept, fragments, pendingMoof !== undefined || at < bytes.length ? 1 : 0)
}

function done(
  kept: Buffer[],
  fragments: number,
  dropped: number,
  missing: Array<{ trackId: number; ticks: number }> = [],
): RepairResult {
  if (fragments === 0) return fail('no complete sample')
  return { ok: true, bytes: Buffer.concat(kept), droppedSamples: dropped, missing }
}

function fail(reason: string): RepairResult {
  return { ok: false, reason }
}

interface TrunEdit {
  readonly box: Box
  readonly flags: number
  readonly entrySize: number
  readonly dataOffset: number
  /** Samples to keep. */
  keep: number
  readonly count: number
  /** Duration of a sample without its own (the `tfhd` or `trex` default), if known. */
  readonly defaultDuration: number | undefined
  /** Ticks added to the last kept sample: the dropped samples' durations in this traf. */
  stretch: number
}

/**
 * The moof at `moof` and its mdat cut at `bytes.length`: keeps, per `trun`, the samples whose
 * data lies wholly before the cut. Undefined when nothing is left or the layout is not one
 * this rewrites.
 */
function trimFragment(
  bytes: Buffer,
  moof: Box,
  mdatStart: number,
  mdatHeader: number,
  init: InitInfo | undefined,
):
  | { moof: Buffer; mdat: Buffer; dropped: number; missing: Array<{ trackId: number; ticks: number }> }
  | undefined {
  const available = bytes.length
  const children: Array<{ box: Box; truns?: TrunEdit[]; tfhdSize?: number }> = []
  const missing: Array<{ trackId: number; ticks: number }> = []
  let dropped = 0
  let dataEnd = mdatStart + mdatHeader
  let at = moof.body
  while (at < moof.end) {
    const box = readBox(bytes, at, moof.end, 'moof')
    if (box.type !== 'traf') {
      children.push({ box })
      at = box.end
      continue
    }
    const truns: TrunEdit[] = []
    let tfhd: ReturnType<typeof readTfhd> | undefined
    let inner = box.body
    while (inner < box.end) {
      const child = readBox(bytes, inner, box.end, 'traf')
      if (child.type === 'tfhd') tfhd = readTfhd(bytes, child)
      else if (child.type === 'trun') {
        if (tfhd === undefined) throw new Fmp4Error('trun before tfhd')
        if (tfhd.flags & TFHD_BASE_DATA_OFFSET) throw new Fmp4Error('tfhd has an explicit base_data_offset')
        const flags = u32(bytes, child.body) & 0xffffff
        if (!(flags & TRUN_DATA_OFFSET)) throw new Fmp4Error('trun without data_offset')
        const count = u32(bytes, child.body + 4)
        const entrySize =
          (flags & TRUN_DURATION ? 4 : 0) +
          (flags & TRUN_SIZE ? 4 : 0) +
          (flags & TRUN_FLAGS ? 4 : 0) +
          (flags & TRUN_CTO ? 4 : 0)
        const first = child.body + 12 + (flags & TRUN_FIRST_SAMPLE_FLAGS ? 4 : 0)
        if (first + count * entrySize > child.end) throw new Fmp4Error('trun cannot hold its samples')
        const dataOffset = i32(bytes, child.body + 8)
        const defaultSize =
          tfhd.flags & TFHD_DEFAULT_SIZE
            ? tfhd.defaultSampleSize
            : init?.tracks.find((t) => t.trackId === tfhd!.trackId)?.defaultSampleSize
        const trexDuration = init?.tracks.find((t) => t.trackId === tfhd!.trackId)?.defaultSampleDuration
        const defaultDuration =
          tfhd.defaultSampleDuration ??
          (trexDuration !== undefined && trexDuration > 0 ? trexDuration : undefined)
        let end = moof.start + dataOffset
        let keep = 0
        for (let i = 0; i < count; i++) {
          const size =
            flags & TRUN_SIZE
              ? u32(bytes, first + i * entrySize + (flags & TRUN_DURATION ? 4 : 0))
              : defaultSize
          if (size === undefined || size === 0) throw new Fmp4Error('sample sizes are not known')
          if (end + size > available) break
          end += size
          keep++
        }
        if (keep > 0 && end > dataEnd) dataEnd = end
        dropped += count - keep
        truns.push({ box: child, flags, entrySize, dataOffset, keep, count, defaultDuration, stretch: 0 })
        // The dropped samples' durations, when every one is known, go to the last kept sample.
        let ticks: number | undefined = 0
        for (let i = keep; i < count && ticks !== undefined; i++) {
          const duration = flags & TRUN_DURATION ? u32(bytes, first + i * entrySize) : defaultDuration
          ticks = duration === undefined ? undefined : ticks + duration
        }
        const last = [...truns].reverse().find((t) => t.keep > 0)
        if (ticks !== undefined && ticks > 0 && last !== undefined) {
          const wide = last.flags & TRUN_DURATION || last.defaultDuration !== undefined
          if (wide) {
            last.stretch += ticks
            const track = missing.find((m) => m.trackId === tfhd!.trackId)
            if (track) track.ticks += ticks
            else missing.push({ trackId: tfhd.trackId, ticks })
          }
        }
      } else if (child.type !== 'tfdt') {
        throw new Fmp4Error(`traf holds a ${child.type} box`)
      }
      inner = child.end
    }
    children.push({ box, truns })
    at = box.end
  }
  const kept = children.filter((c) => c.truns === undefined || c.truns.some((t) => t.keep > 0))
  if (!kept.some((c) => c.truns !== undefined)) return undefined

  // Rebuild the moof, then move every data_offset by how much the moof shrank.
  const parts: Buffer[] = []
  const offsetsAt: Array<{ at: number; value: number }> = []
  let size = 8
  for (const c of kept) {
    if (c.truns === undefined) {
      parts.push(bytes.subarray(c.box.start, c.box.end))
      size += c.box.end - c.box.start
      continue
    }
    const trafParts: Buffer[] = []
    let trafSize = 8
    const trafStart = size
    let inner = c.box.body
    let t = 0
    while (inner < c.box.end) {
      const child = readBox(bytes, inner, c.box.end, 'traf')
      if (child.type === 'trun') {
        const edit = c.truns[t++]!
        if (edit.keep > 0) {
          const headLength = 12 + (edit.flags & TRUN_FIRST_SAMPLE_FLAGS ? 4 : 0)
          // A stretched trun without per-sample durations gets them (the default in each).
          const addDurations = edit.stretch > 0 && !(edit.flags & TRUN_DURATION)
          const entrySize = edit.entrySize + (addDurations ? 4 : 0)
          const trun = Buffer.alloc(8 + headLength + edit.keep * entrySize)
          trun.writeUInt32BE(trun.length, 0)
          trun.write('trun', 4, 'latin1')
          bytes.copy(trun, 8, child.body, child.body + headLength)
          trun.writeUInt32BE(edit.keep, 12)
          const entries = 8 + headLength
          if (addDurations) {
            trun.writeUInt32BE(((edit.flags | TRUN_DURATION) & 0xffffff) | (trun.readUInt8(8) << 24), 8)
            for (let i = 0; i < edit.keep; i++) {
              trun.writeUInt32BE(edit.defaultDuration!, entries + i * entrySize)
              const from = child.body + headLength + i * edit.entrySize
              bytes.copy(trun, entries + i * entrySize + 4, from, from + edit.entrySize)
            }
          } else {
            bytes.copy(
              trun,
              entries,
              child.body + headLength,
              child.body + headLength + edit.keep * entrySize,
            )
          }
          if (edit.stretch > 0) {
            const lastAt = entries + (edit.keep - 1) * entrySize
            trun.writeUInt32BE(trun.readUInt32BE(lastAt) + edit.stretch, lastAt)
          }
          offsetsAt.push({ at: trafStart + trafSize + 16, value: edit.dataOffset })
          trafParts.push(trun)
          trafSize += trun.length
        }
      } else {
        trafParts.push(bytes.subarray(child.start, child.end))
        trafSize += child.end - child.start
      }
      inner = child.end
    }
    const header = Buffer.alloc(8)
    header.writeUInt32BE(trafSize, 0)
    header.write('traf', 4, 'latin1')
    parts.push(header, ...trafParts)
    size += trafSize
  }
  const header = Buffer.alloc(8)
  header.writeUInt32BE(size, 0)
  header.write('moof', 4, 'latin1')
  const out = Buffer.concat([header, ...parts])
  // The mdat keeps its place right after the moof, so every offset moves by the size change.
  const shift = size - (moof.end - moof.start)
  for (const o of offsetsAt) out.writeInt32BE(o.value + shift, o.at)
  const payload = bytes.subarray(mdatStart + mdatHeader, dataEnd)
  const mdatHead = Buffer.alloc(8)
  mdatHead.writeUInt32BE(8 + payload.length, 0)
  mdatHead.write('mdat', 4, 'latin1')
  // A 64-bit mdat header becomes a 32-bit one: 8 bytes fewer between the moof and the data.
  if (mdatHeader === 16) for (const o of offsetsAt) out.writeInt32BE(out.readInt32BE(o.at) - 8, o.at)
  return { moof: out, mdat: Buffer.concat([mdatHead, payload]), dropped, missing }
}
