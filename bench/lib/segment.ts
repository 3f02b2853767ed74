/**
 * The media the benchmark moves: a real fragmented-MP4 (CMAF) video segment of exactly
 * `targetBytes` (2 MiB by default) with its init segment, made once per run with ffmpeg.
 *
 * The origin inspects media segments (docs/protocol.md#quality-control-and-selection), so the bytes must be a segment it accepts as
 * defect-free: ffmpeg encodes 2 s of a test pattern (D = 2000 ms), the segment is padded to
 * the target size with a trailing ISO BMFF `free` box (legal at top level, skipped by every
 * parser), and `forNumber` rewrites its decode time (`tfdt`, `sidx`) and sequence number
 * (`mfhd`) to what the channel template expects for segment N: (N − S)·D.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Default segment size: 2 MiB. */
export const SEGMENT_BYTES = 2 * 1024 * 1024
/** Segment duration of the fixture (D). */
export const SEGMENT_DURATION_MS = 2000

export interface MediaFixture {
  /** Init segment (ftyp + moov). */
  readonly init: Buffer
  /** Media segment for decode time 0, padded to the target size. */
  readonly segment: Buffer
  /** Media timescale of the track (from `mdhd`). */
  readonly timescale: number
  readonly durationMs: number
  /** Bytes of real media before the padding. */
  readonly mediaBytes: number
}

interface Box {
  type: string
  /** Offset of the box header. */
  start: number
  /** Offset of the payload (after size/type and any 64-bit size). */
  payload: number
  end: number
}

/** The boxes in `buf` between `from` and `to` (one level). */
export function boxes(buf: Buffer, from = 0, to = buf.length): Box[] {
  const out: Box[] = []
  let off = from
  while (off + 8 <= to) {
    let size = buf.readUInt32BE(off)
    const type = buf.toString('latin1', off + 4, off + 8)
    let payload = off + 8
    if (size === 1) {
      size = Number(buf.readBigUInt64BE(off + 8))
      payload += 8
    } else if (size === 0) {
      size = to - off
    }
    if (size < payload - off || off + size > to) throw new Error(`bad ${type} box at ${off}`)
    out.push({ type, start: off, payload, end: off + size })
    off += size
  }
  return out
}

function child(buf: Buffer, parent: Box, type: string): Box | undefined {
  return boxes(buf, parent.payload, parent.end).find((b) => b.type === type)
}

/** The media timescale of the first track of an init segment (`moov/trak/mdia/mdhd`). */
export function readTimescale(init: Buffer): number {
  const moov = boxes(init).find((b) => b.type === 'moov')
  const trak = moov && child(init, moov, 'trak')
  const mdia = trak && child(init, trak, 'mdia')
  const mdhd = mdia && child(init, mdia, 'mdhd')
  if (!mdhd) throw new Error('init segment has no moov/trak/mdia/mdhd')
  const version = init[mdhd.payload]
  return init.readUInt32BE(mdhd.payload + (version === 1 ? 20 : 12))
}

/** Appends a `free` box so that the result is exactly `size` bytes. */
export function padWithFreeBox(segment: Buffer, size: number): Buffer {
  const pad = size - segment.length
  if (pad === 0) return segment
  if (pad < 8) throw new Error(`segment of ${segment.length} bytes cannot be padded to ${size}`)
  const free = Buffer.alloc(pad)
  free.writeUInt32BE(pad, 0)
  free.write('free', 4, 'latin1')
  return Buffer.concat([segment, free])
}

/** The decode time (`tfdt`) of the first track fragment of a media segment. */
export function readDecodeTime(segment: Buffer): bigint {
  const moof = boxes(segment).find((b) => b.type === 'moof')
  const traf = moof && child(segment, moof, 'traf')
  const tfdt = traf && child(segment, traf, 'tfdt')
  if (!tfdt) throw new Error('segment has no moof/traf/tfdt')
  return segment[tfdt.payload] === 1
    ? segment.readBigUInt64BE(tfdt.payload + 4)
    : BigInt(segment.readUInt32BE(tfdt.payload + 4))
}

/**
 * A copy of `fixture.segment` as segment `number` of a channel with start number
 * `startNumber`: decode time (N − S)·D, `sidx` earliest presentation time moved by the same
 * amount, `mfhd` sequence number N.
 */
export function forNumber(fixture: MediaFixture, number: number, startNumber = 1): Buffer {
  const out = Buffer.from(fixture.segment)
  const target =
    (BigInt(number - startNumber) * BigInt(fixture.durationMs) * BigInt(fixture.timescale)) / 1000n
  const delta = target - readDecodeTime(out)
  for (const box of boxes(out)) {
    if (box.type === 'sidx') {
      const version = out[box.payload]
      const sidxTimescale = BigInt(out.readUInt32BE(box.payload + 8))
      const shift = (delta * sidxTimescale) / BigInt(fixture.timescale)
      if (version === 1) out.writeBigUInt64BE(out.readBigUInt64BE(box.payload + 12) + shift, box.payload + 12)
      else out.writeUInt32BE(Number(BigInt(out.readUInt32BE(box.payload + 12)) + shift), box.payload + 12)
    } else if (box.type === 'moof') {
      for (const inner of boxes(out, box.payload, box.end)) {
        if (inner.type === 'mfhd') out.writeUInt32BE(number >>> 0, inner.payload + 4)
        if (inner.type !== 'traf') continue
        const tfdt = child(out, inner, 'tfdt')
        if (!tfdt) continue
        if (out[tfdt.payload] === 1) {
          out.writeBigUInt64BE(out.readBigUInt64BE(tfdt.payload + 4) + delta, tfdt.payload + 4)
        } else {
          // Version 0 holds 32 bits only: rewrite as the 64-bit version would not fit in place.
          const v = BigInt(out.readUInt32BE(tfdt.payload + 4)) + delta
          if (v > 0xffffffffn) throw new Error('tfdt version 0 cannot hold the decode time')
          out.writeUInt32BE(Number(v), tfdt.payload + 4)
        }
      }
    }
  }
  return out
}

/**
 * Encodes the fixture with ffmpeg (about a second of CPU). Tries decreasing bitrates until
 * the encoded segment fits `targetBytes`, then pads it.
 */
export function makeMediaFixture(targetBytes = SEGMENT_BYTES): MediaFixture {
  const dir = mkdtempSync(join(tmpdir(), 'liveorigin-bench-media-'))
  try {
    for (const bitrate of ['7M', '5M', '3M', '1M']) {
      const r = spawnSync(
        'ffmpeg',
        [
          '-hide_banner',
          '-loglevel',
          'error',
          '-y',
          '-f',
          'lavfi',
          '-i',
          'testsrc2=size=1280x720:rate=25',
          '-t',
          String(SEGMENT_DURATION_MS / 1000),
          '-c:v',
          'libx264',
          '-preset',
          'ultrafast',
          '-g',
          '50',
          '-keyint_min',
          '50',
          '-sc_threshold',
          '0',
          '-b:v',
          bitrate,
          '-maxrate',
          bitrate,
          '-bufsize',
          bitrate,
          '-f',
          'dash',
          '-seg_duration',
          String(SEGMENT_DURATION_MS / 1000),
          '-use_timeline',
          '0',
          '-use_template',
          '1',
          '-init_seg_name',
          'init.m4s',
          '-media_seg_name',
          'seg-$Number$.m4s',
          join(dir, 'out.mpd'),
        ],
        { encoding: 'utf8' },
      )
      if (r.error)
        throw new Error(`ffmpeg could not run (${r.error.message}); it is needed to make the media`)
      if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`)
      const init = readFileSync(join(dir, 'init.m4s'))
      const raw = readFileSync(join(dir, 'seg-1.m4s'))
      if (raw.length + 8 > targetBytes) continue
      return {
        init,
        segment: padWithFreeBox(raw, targetBytes),
        timescale: readTimescale(init),
        durationMs: SEGMENT_DURATION_MS,
        mediaBytes: raw.length,
      }
    }
    throw new Error(`could not encode a segment smaller than ${targetBytes} bytes`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
