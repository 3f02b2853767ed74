/**
 * The LL-HLS media playlists of `simulate --low-latency` (docs/simulate.md#ll-hls): the parts
 * of a segment are its CMAF chunks, each addressed as a byte range of the segment, exactly
 * (`EXT-X-PART:…,URI="<segment>",BYTERANGE="<length>@<offset>"`), so that the chunks a
 * low-latency DASH player follows are the parts an LL-HLS player loads, from the one upload
 * in progress. A playlist is rendered after each chunk: the complete segments (the last ones
 * with their parts), the parts of the segment in progress sent so far, and a preload hint for
 * the next part (`BYTERANGE-START` only: its length is not known until it is made). Pure.
 */
import { isSync, readFragment } from './fmp4.js'
import { HLS_WINDOW_SEGMENTS } from './hls.js'

/** One part: a CMAF chunk of a segment. */
export interface Part {
  /** Byte offset in the segment and length. */
  readonly offset: number
  readonly length: number
  /** Media duration (ms). */
  readonly durationMs: number
  /** Whether it starts with a sync sample (`INDEPENDENT=YES`). */
  readonly independent: boolean
}

/** Whose parts the playlist lists: complete segments within this many target durations of the end. */
const PART_WINDOW_TARGETS = 3

/**
 * The parts of a segment made of CMAF chunks (`chunks`, as `cmafChunks` splits it), from the
 * samples of each chunk's `moof` (durations in `timescale` ticks).
 */
export function segmentParts(chunks: readonly Uint8Array[], timescale: number): Part[] {
  let offset = 0
  return chunks.map((chunk) => {
    const samples = readFragment(chunk).flatMap((t) => t.samples)
    const ticks = samples.reduce((sum, s) => sum + s.duration, 0)
    const part: Part = {
      offset,
      length: chunk.length,
      durationMs: (ticks * 1000) / timescale,
      independent: samples[0] !== undefined && isSync(samples[0]),
    }
    offset += chunk.length
    return part
  })
}

/**
 * `PART-TARGET` (ms) of a rendition cut into chunks of `chunkMs`: a chunk holds whole samples,
 * so a part may run up to one sample longer than the chunk duration, and RFC 8216bis wants
 * every part at most `PART-TARGET` long.
 */
export function partTargetMs(chunkMs: number, sampleMs: number): number {
  return Math.ceil(chunkMs + sampleMs)
}

export interface LowLatencyPlaylistOptions {
  readonly availabilityStartTime: number
  readonly segmentDurationMs: number
  readonly startNumber: number
  /** The segment being sent (its parts so far are listed; the segments before it are complete). */
  readonly currentNumber: number
  /** How many parts of the current segment have been sent; all of them makes it complete. */
  readonly partsSent: number
  /** Parts of segment `n` (undefined for one too old to list parts of). */
  readonly parts: (n: number) => readonly Part[] | undefined
  readonly partTargetMs: number
  readonly segmentPath: (n: number) => string
  readonly initPath: string
  readonly windowSegments?: number
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3)
}

function partLine(p: Part, uri: string): string {
  const independent = p.independent ? ',INDEPENDENT=YES' : ''
  return `#EXT-X-PART:DURATION=${seconds(p.durationMs)},URI="${uri}",BYTERANGE="${p.length}@${p.offset}"${independent}`
}

/**
 * A live LL-HLS media playlist (version 9): `EXT-X-SERVER-CONTROL` with `CAN-BLOCK-RELOAD=YES`
 * and `PART-HOLD-BACK` = 3 × `PART-TARGET`, `EXT-X-PART-INF`, the window of complete segments
 * (numbers are media sequence numbers, as in `renderMediaPlaylist`), the parts of those within
 * three target durations of the end and of the segment in progress, then one
 * `EXT-X-PRELOAD-HINT` for the next part: the current segment's next chunk, or the first
 * chunk (from byte 0) of the segment after it.
 */
export function renderLowLatencyPlaylist(o: LowLatencyPlaylistOptions): string {
  const d = o.segmentDurationMs
  const targetS = Math.ceil(d / 1000)
  const current = o.parts(o.currentNumber) ?? []
  const complete = o.partsSent >= current.length
  const lastComplete = complete ? o.currentNumber : o.currentNumber - 1
  const window = o.windowSegments ?? HLS_WINDOW_SEGMENTS
  const first = Math.max(o.startNumber, lastComplete - window + 1)
  const partsFrom = lastComplete - Math.ceil((PART_WINDOW_TARGETS * targetS * 1000) / d) + 1
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:9',
    `#EXT-X-TARGETDURATION:${targetS}`,
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${seconds(3 * o.partTargetMs)}`,
    `#EXT-X-PART-INF:PART-TARGET=${seconds(o.partTargetMs)}`,
    `#EXT-X-MEDIA-SEQUENCE:${first}`,
    '#EXT-X-INDEPENDENT-SEGMENTS',
    `#EXT-X-MAP:URI="${o.initPath}"`,
    `#EXT-X-PROGRAM-DATE-TIME:${new Date(o.availabilityStartTime + (first - o.startNumber) * d).toISOString()}`,
  ]
  for (let n = first; n <= lastComplete; n++) {
    const uri = o.segmentPath(n)
    if (n >= partsFrom) for (const p of o.parts(n) ?? []) lines.push(partLine(p, uri))
    lines.push(`#EXTINF:${seconds(d)},`, uri)
  }
  if (complete) {
    lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${o.segmentPath(o.currentNumber + 1)}",BYTERANGE-START=0`)
  } else {
    const uri = o.segmentPath(o.currentNumber)
    for (const p of current.slice(0, o.partsSent)) lines.push(partLine(p, uri))
    const nextPart = current[o.partsSent]!
    lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${uri}",BYTERANGE-START=${nextPart.offset}`)
  }
  lines.push('')
  return lines.join('\n')
}
