/**
 * Publishes the LL-HLS media playlists of `simulate --low-latency` (docs/simulate.md#ll-hls):
 * for each segment a pipeline starts, one playlist per rendition after each of its CMAF chunks
 * is sent, at the chunk's time (the segment's start + (k + 1) · chunk), listing the parts sent
 * so far (`ll-hls.ts`). The origin's blocking playlist reload then answers a player's
 * `_HLS_msn`/`_HLS_part` request part by part. A pipeline's playlists of one rendition are PUT
 * one after the other, so that the origin never stores an older one after a newer one.
 */
import { cmafChunks } from './fmp4.js'
import { mediaPlaylistName } from './hls.js'
import { type Part, partTargetMs, renderLowLatencyPlaylist, segmentParts } from './ll-hls.js'
import { buildMediaSegment, copyLabel, type SimRendition } from './media.js'

export interface LowLatencyPlaylistsOptions {
  readonly segmentDurationMs: number
  readonly chunkMs: number
  readonly availabilityStartTime: number
  readonly startNumber: number
  readonly renditions: readonly SimRendition[]
  readonly segmentPath: (rendition: string, n: number) => string
  readonly initPath: (rendition: string) => string
  readonly now: () => number
  /** Whether pipeline `p` still publishes (not stopped, not in an outage). */
  readonly live: (pipeline: string) => boolean
  /** PUTs one object of pipeline `p`. */
  readonly put: (pipeline: string, path: string, body: Uint8Array) => Promise<void>
}

/** How many segments back the parts of a pipeline's copies are kept (more than a playlist lists). */
const KEEP_SEGMENTS = 4

export class LowLatencyPlaylists {
  readonly #o: LowLatencyPlaylistsOptions
  /** Parts by pipeline, rendition and number. */
  readonly #parts = new Map<string, readonly Part[]>()
  /** The last playlist PUT of each pipeline and rendition: the next one waits for it. */
  readonly #chains = new Map<string, Promise<void>>()

  constructor(options: LowLatencyPlaylistsOptions) {
    this.#o = options
  }

  /**
   * Publishes pipeline `p`'s playlists for segment `n`, from its first chunk (now) to its
   * last; resolves when they are all answered. Segment S is listed once complete: a live
   * playlist lists at least one segment.
   */
  async publish(p: string, n: number): Promise<void> {
    const o = this.#o
    const chunks = o.segmentDurationMs / o.chunkMs
    const start = o.availabilityStartTime + (n - o.startNumber) * o.segmentDurationMs
    for (const r of o.renditions) this.#partsOf(p, r, n)
    for (const key of this.#parts.keys()) {
      if (Number(key.slice(key.lastIndexOf('/') + 1)) < n - KEEP_SEGMENTS) this.#parts.delete(key)
    }
    const work: Promise<void>[] = []
    for (let k = 0; k < chunks; k++) {
      const wait = start + (k + 1) * o.chunkMs - o.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      if (!o.live(p)) break
      if (n === o.startNumber && k < chunks - 1) continue
      for (const r of o.renditions) work.push(this.#putPlaylist(p, r, n, k + 1))
    }
    await Promise.all(work)
  }

  #putPlaylist(p: string, r: SimRendition, n: number, partsSent: number): Promise<void> {
    const o = this.#o
    const body = renderLowLatencyPlaylist({
      availabilityStartTime: o.availabilityStartTime,
      segmentDurationMs: o.segmentDurationMs,
      startNumber: o.startNumber,
      currentNumber: n,
      partsSent,
      parts: (m) => (m < o.startNumber ? undefined : this.#partsOf(p, r, m)),
      partTargetMs: partTargetMs(o.chunkMs, (r.sampleDuration * 1000) / r.timescale),
      segmentPath: (m) => o.segmentPath(r.id, m),
      initPath: o.initPath(r.id),
    })
    const key = `${p}/${r.id}`
    const put = (this.#chains.get(key) ?? Promise.resolve()).then(() =>
      o.put(p, mediaPlaylistName(r.id), Buffer.from(body)),
    )
    this.#chains.set(key, put)
    return put
  }

  /** The parts of pipeline `p`'s copy of segment `n` of `r`: its CMAF chunks as the publisher sends them. */
  #partsOf(p: string, r: SimRendition, n: number): readonly Part[] {
    const key = `${p}/${r.id}/${n}`
    let parts = this.#parts.get(key)
    if (parts === undefined) {
      const o = this.#o
      const segment = buildMediaSegment(
        r,
        { number: n, startNumber: o.startNumber, segmentDurationMs: o.segmentDurationMs },
        { label: copyLabel(p, r.id, n), chunks: o.segmentDurationMs / o.chunkMs },
      )
      parts = segmentParts(cmafChunks(segment), r.timescale)
      this.#parts.set(key, parts)
    }
    return parts
  }
}
