/**
 * Re-timing of a fragmented MP4 media segment (docs/timing.md, "Gap policy"): the filler
 * for a missing segment N is an earlier segment M of the same rendition moved to N's place
 * on the timeline. Every track's `tfdt` is shifted by (N−M)·D in that track's timescale,
 * every `sidx` earliest_presentation_time by (N−M)·D in the `sidx` timescale, and every
 * `mfhd` sequence number by (N−M)·(fragments per segment), so that the sequence keeps
 * increasing. Boxes are rewritten in place: the output has the same size and layout.
 *
 * Pure: bytes in, new bytes out (the input is not modified).
 */
import { Fmp4Error, readBox, readTfhd, TWO_32, u32, u64 } from '../selection/boxes.js'
import type { InitInfo } from '../selection/types.js'

/** What moves, and by how much (segments and milliseconds). */
export interface RetimeShift {
  /** N − M: how many segments later the copy is placed. */
  readonly segments: number
  /** D, the channel's segment duration. */
  readonly segmentDurationMs: number
}

export type RetimeResult =
  | { readonly ok: true; readonly bytes: Buffer }
  | { readonly ok: false; readonly reason: string }

/**
 * Re-times `input` by `shift` (see the module comment); `init` gives each track's timescale.
 * Fails (with the reason) when the boxes do not parse, a fragment names a track the init
 * segment does not have, a shift is not a whole number of ticks, or a 32-bit field would
 * overflow (the box would have to grow).
 */
export function retimeSegment(input: Uint8Array, init: InitInfo, shift: RetimeShift): RetimeResult {
  const bytes = Buffer.from(input)
  try {
    const timescales = new Map(init.tracks.map((t) => [t.trackId, t.timescale]))
    const ticks = (timescale: number): number => {
      const v = (shift.segments * shift.segmentDurationMs * timescale) / 1000
      if (!Number.isSafeInteger(v))
        throw new Fmp4Error(`D is not a whole number of ticks at timescale ${timescale}`)
      return v
    }
    const moofs: number[] = []
    let at = 0
    while (at < bytes.length) {
      const box = readBox(bytes, at, bytes.length, 'segment', true)
      if (box.type === 'sidx') shiftSidx(bytes, box.body, box.end, ticks)
      else if (box.type === 'moof') moofs.push(at)
      at = box.end
    }
    if (moofs.length === 0) throw new Fmp4Error('no moof box')
    for (const start of moofs) {
      const moof = readBox(bytes, start, bytes.length, 'segment', true)
      forChildren(bytes, moof, (child) => {
        if (child.type === 'mfhd') {
          const seq = u32(bytes, child.body + 4) + shift.segments * moofs.length
          write32(bytes, child.body + 4, seq, 'mfhd sequence_number')
        } else if (child.type === 'traf') {
          let timescale: number | undefined
          forChildren(bytes, child, (box) => {
            if (box.type === 'tfhd') {
              const trackId = readTfhd(bytes, box).trackId
              timescale = timescales.get(trackId)
              if (timescale === undefined) throw new Fmp4Error(`track ${trackId} is not in the init segment`)
            } else if (box.type === 'tfdt') {
              if (timescale === undefined) throw new Fmp4Error('tfdt before tfhd')
              const version = bytes[box.body]!
              if (version === 1) write64(bytes, box.body + 4, u64(bytes, box.body + 4) + ticks(timescale))
              else
                write32(bytes, box.body + 4, u32(bytes, box.body + 4) + ticks(timescale), 'tfdt (version 0)')
            }
          })
        }
      })
    }
    return { ok: true, bytes }
  } catch (err) {
    if (err instanceof Fmp4Error || err instanceof RangeError) return { ok: false, reason: err.message }
    throw err
  }
}

function forChildren(
  bytes: Buffer,
  parent: { body: number; end: number; type: string },
  visit: (b: ReturnType<typeof readBox>) => void,
): void {
  let at = parent.body
  while (at < parent.end) {
    const box = readBox(bytes, at, parent.end, parent.type)
    visit(box)
    at = box.end
  }
}

/** `sidx`: version(1) flags(3) reference_ID(4) timescale(4) earliest_presentation_time(4|8) … */
function shiftSidx(bytes: Buffer, body: number, end: number, ticks: (timescale: number) => number): void {
  if (end - body < 16) throw new Fmp4Error('sidx box is too short')
  const version = bytes[body]!
  const timescale = u32(bytes, body + 8)
  if (timescale === 0) throw new Fmp4Error('sidx timescale is 0')
  if (version === 1) {
    if (end - body < 20) throw new Fmp4Error('sidx box is too short')
    write64(bytes, body + 12, u64(bytes, body + 12) + ticks(timescale))
  } else {
    write32(bytes, body + 12, u32(bytes, body + 12) + ticks(timescale), 'sidx (version 0)')
  }
}

function write32(bytes: Buffer, at: number, value: number, what: string): void {
  if (value < 0 || value >= TWO_32) throw new Fmp4Error(`${what} would overflow 32 bits`)
  bytes.writeUInt32BE(value, at)
}

function write64(bytes: Buffer, at: number, value: number): void {
  if (value < 0 || !Number.isSafeInteger(value)) throw new Fmp4Error('time would overflow')
  bytes.writeUInt32BE(Math.floor(value / TWO_32), at)
  bytes.writeUInt32BE(value % TWO_32, at + 4)
}
