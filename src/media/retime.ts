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
import { Fmp4Error, readBox, readTfhd, TWO_32, u32, u64 } from './boxes.js'
import { summarizeFragment } from './fmp4.js'
import type { InitInfo } from './types.js'

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
  const ticks = (timescale: number): number => {
    const v = (shift.segments * shift.segmentDurationMs * timescale) / 1000
    if (!Number.isSafeInteger(v))
      throw new Fmp4Error(`D is not a whole number of ticks at timescale ${timescale}`)
    return v
  }
  return rewrite(input, init, {
    track: (_id, ts) => ticks(ts),
    sidx: (_id, ts) => ticks(ts),
    segments: shift.segments,
  })
}

/** Where a copy is moved to: segment `number` starts at (number − startNumber)·D. */
export interface MoveTarget {
  readonly number: number
  readonly startNumber: number
  readonly segmentDurationMs: number
}

/**
 * Moves a mis-timed copy of segment N to its place (docs/selection.md, "Re-timed copies"):
 * each track's `tfdt` values are shifted by that track's own offset, so that its first
 * sample is presented at (N−S)·D (the same start `inspectSegment` expects, edit-list media
 * time and first composition offset included); a `sidx` moves with the track it references.
 * `mfhd` sequence numbers are kept. Pure; fails like `retimeSegment` (and when no track has
 * a `tfdt`).
 */
export function moveSegment(input: Uint8Array, init: InitInfo, target: MoveTarget): RetimeResult {
  let summary: ReturnType<typeof summarizeFragment>
  try {
    summary = summarizeFragment(input, { init })
  } catch (err) {
    if (err instanceof Fmp4Error) return { ok: false, reason: err.message }
    throw err
  }
  if (summary.corrupt !== undefined) return { ok: false, reason: summary.corrupt }
  const deltas = new Map<number, { ticks: number; timescale: number }>()
  for (const track of summary.tracks) {
    const t = init.tracks.find((x) => x.trackId === track.trackId)
    const first = track.fragments[0]
    if (t === undefined || first?.baseMediaDecodeTime === undefined) continue
    const start = first.baseMediaDecodeTime + first.firstCompositionOffset - t.mediaTime
    const expected = ((target.number - target.startNumber) * target.segmentDurationMs * t.timescale) / 1000
    deltas.set(track.trackId, { ticks: Math.round(expected - start), timescale: t.timescale })
  }
  if (deltas.size === 0) return { ok: false, reason: 'no track has a tfdt' }
  const fallback = [...deltas.values()][0]!
  return rewrite(input, init, {
    track: (id) => deltas.get(id)?.ticks ?? 0,
    sidx: (refId, timescale) => {
      const d = deltas.get(refId) ?? fallback
      return Math.round((d.ticks * timescale) / d.timescale)
    },
    segments: 0,
  })
}

interface Shifts {
  /** Ticks added to a track's `tfdt` values. */
  readonly track: (trackId: number, timescale: number) => number
  /** Ticks added to a `sidx` earliest_presentation_time (reference_ID, sidx timescale). */
  readonly sidx: (referenceId: number, timescale: number) => number
  /** Segments the `mfhd` sequence numbers move by. */
  readonly segments: number
}

function rewrite(input: Uint8Array, init: InitInfo, shifts: Shifts): RetimeResult {
  const bytes = Buffer.from(input)
  try {
    const timescales = new Map(init.tracks.map((t) => [t.trackId, t.timescale]))
    const moofs: number[] = []
    let at = 0
    while (at < bytes.length) {
      const box = readBox(bytes, at, bytes.length, 'segment', true)
      if (box.type === 'sidx') shiftSidx(bytes, box.body, box.end, shifts.sidx)
      else if (box.type === 'moof') moofs.push(at)
      at = box.end
    }
    if (moofs.length === 0) throw new Fmp4Error('no moof box')
    for (const start of moofs) {
      const moof = readBox(bytes, start, bytes.length, 'segment', true)
      forChildren(bytes, moof, (child) => {
        if (child.type === 'mfhd') {
          const seq = u32(bytes, child.body + 4) + shifts.segments * moofs.length
          write32(bytes, child.body + 4, seq, 'mfhd sequence_number')
        } else if (child.type === 'traf') {
          let track: { id: number; timescale: number } | undefined
          forChildren(bytes, child, (box) => {
            if (box.type === 'tfhd') {
              const trackId = readTfhd(bytes, box).trackId
              const timescale = timescales.get(trackId)
              if (timescale === undefined) throw new Fmp4Error(`track ${trackId} is not in the init segment`)
              track = { id: trackId, timescale }
            } else if (box.type === 'tfdt') {
              if (track === undefined) throw new Fmp4Error('tfdt before tfhd')
              const add = shifts.track(track.id, track.timescale)
              const version = bytes[box.body]!
              if (version === 1) write64(bytes, box.body + 4, u64(bytes, box.body + 4) + add)
              else write32(bytes, box.body + 4, u32(bytes, box.body + 4) + add, 'tfdt (version 0)')
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
function shiftSidx(
  bytes: Buffer,
  body: number,
  end: number,
  shift: (referenceId: number, timescale: number) => number,
): void {
  if (end - body < 16) throw new Fmp4Error('sidx box is too short')
  const version = bytes[body]!
  const referenceId = u32(bytes, body + 4)
  const timescale = u32(bytes, body + 8)
  const ticks = (ts: number): number => shift(referenceId, ts)
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
