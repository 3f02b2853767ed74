/**
 * The health of every channel's pipelines as one process sees it, fed by commit events:
 * a `HealthTracker` per channel, and the choice of the copy of a manifest, init segment or
 * other mutable object to serve (docs/protocol.md#quality-control-and-selection: from the most preferred healthy pipeline). Times
 * are passed in; nothing here reads a clock or storage.
 */
import type { ObjectMeta } from '../storage/types.js'
import type { ChannelConfig } from '../timing/channel-config.js'
import { liveEdge, selectionDeadline } from '../timing/schedule.js'
import type { PathMatcher } from '../timing/template.js'
import { defectKinds } from './defects.js'
import { copyEnded } from './ended.js'
import { type HealthOptions, HealthTracker, type PipelineHealth } from './health.js'
import { isMasked } from './masks.js'
import { preferredHealthy } from './select.js'
import type { Mask } from './types.js'

/** What health tracking reads of a channel (a registry `Channel` is one). */
export interface TrackedChannel {
  readonly name: string
  readonly config: ChannelConfig | undefined
  readonly matcher: PathMatcher | undefined
  readonly masks: readonly Mask[]
}

/**
 * How long a manifest copy may go without an update before another pipeline's updated copy
 * is served instead (`HealthBook.preferredManifest`): 1.5·D on a channel with a template
 * (a packager rewrites its manifest at every segment, so this is a missed update and half a
 * segment of slack), else the HLS playlist's target duration; undefined (no such rule) for
 * an MPD of a channel without a template.
 */
export function manifestStaleAfterMs(
  cfg: Pick<ChannelConfig, 'segmentDurationMs'> | undefined,
  targetDurationMs?: number,
): number | undefined {
  return cfg ? Math.floor(cfg.segmentDurationMs * 1.5) : targetDurationMs
}

/** Channels tracked at most; the least recently fed is forgotten beyond this. */
const MAX_CHANNELS = 10_000

/** Health of the pipelines of every channel. */
export class HealthBook {
  readonly #options: HealthOptions
  readonly #channels = new Map<string, HealthTracker>()

  constructor(options: HealthOptions = {}) {
    this.#options = options
  }

  /**
   * Records that `pipeline` committed `path` of `channel` at `now`, with the stored
   * `Segment-Defects` value (`defects`, '' when valid). Only media segments of channels with
   * a template count. A segment is late when it commits after A(N)+G, once selection has
   * stopped waiting for it. Segments whose A(N)+R has passed are settled: a pipeline that
   * did not deliver one counts it missing.
   */
  committed(
    channel: TrackedChannel | undefined,
    path: string,
    pipeline: string,
    now: number,
    defects = '',
  ): void {
    const cfg = channel?.config
    if (!channel || !cfg || !channel.matcher) return
    const match = channel.matcher.match(path)
    if (match.kind !== 'media' || Number.isNaN(match.number)) return
    const tracker = this.#tracker(channel.name, true)!
    tracker.record({
      pipeline,
      rendition: match.rendition,
      number: match.number,
      defects: defectKinds(defects),
      late: now > selectionDeadline(cfg, match.number),
      at: now,
    })
    tracker.settle(liveEdge(cfg, now - cfg.lateAllowanceMs))
  }

  /**
   * The copy of a mutable object (manifest, init segment, other) to serve: the most
   * preferred pipeline that is healthy at the live edge and not masked there; failing that,
   * the most recently committed copy. Channels without a template have no health: the most
   * recently committed copy.
   */
  preferred<C extends Pick<ObjectMeta, 'pipeline' | 'committedAt'>>(
    channel: TrackedChannel,
    copies: readonly C[],
    now: number,
  ): C | undefined {
    if (copies.length <= 1) return copies[0]
    const cfg = channel.config
    if (!cfg) return preferredHealthy(copies, [], () => false)
    const edge = liveEdge(cfg, now)
    const tracker = this.#channels.get(channel.name)
    return preferredHealthy(
      copies,
      cfg.pipelines,
      (p) => tracker?.isHealthy(p, edge) === true && !isMasked(channel.masks, p, edge),
    )
  }

  /**
   * The copy of a manifest to serve: as `preferred`, with two copies passed over while
   * another is live.
   *
   * - Stale: a copy not updated (committed) for more than `staleAfterMs` (see
   *   `manifestStaleAfterMs`) is passed over while another pipeline's copy, not masked at
   *   the live edge, was updated within it: the pipeline of a frozen copy has stopped (a
   *   killed encoder leaves its last playlist stored), and a player reloading it would wait
   *   for segments that never come. Not applied when `staleAfterMs` is undefined.
   * - Ended: a copy that says the stream ended (`copyEnded`) is passed over while another
   *   pipeline is live — its copy does not say so and, on a channel with a template, its
   *   pipeline is healthy (a pipeline that stopped without ending its manifest is not
   *   live). When every copy has ended, or no other pipeline is live, every copy is
   *   considered.
   */
  preferredManifest<C extends Pick<ObjectMeta, 'pipeline' | 'committedAt' | 'defects'>>(
    channel: TrackedChannel,
    copies: readonly C[],
    now: number,
    staleAfterMs?: number,
  ): C | undefined {
    if (copies.length <= 1) return copies[0]
    const current = staleAfterMs === undefined ? copies : this.#updated(channel, copies, now, staleAfterMs)
    const live = current.filter((c) => !copyEnded(c.defects))
    if (live.length === current.length || live.length === 0) return this.preferred(channel, current, now)
    const cfg = channel.config
    if (cfg) {
      const edge = liveEdge(cfg, now)
      const tracker = this.#channels.get(channel.name)
      if (!live.some((c) => tracker?.isHealthy(c.pipeline, edge) === true)) {
        return this.preferred(channel, current, now)
      }
    }
    return this.preferred(channel, live, now)
  }

  /** `copies` without the stale ones when another, not masked, was updated within `staleAfterMs`. */
  #updated<C extends Pick<ObjectMeta, 'pipeline' | 'committedAt'>>(
    channel: TrackedChannel,
    copies: readonly C[],
    now: number,
    staleAfterMs: number,
  ): readonly C[] {
    const fresh = copies.filter((c) => now - c.committedAt <= staleAfterMs)
    if (fresh.length === copies.length) return copies
    const cfg = channel.config
    const edge = cfg ? liveEdge(cfg, now) : 0
    if (!fresh.some((c) => cfg === undefined || !isMasked(channel.masks, c.pipeline, edge))) return copies
    return fresh
  }

  /** Pipelines the channel's tracker knows to be healthy at `now` (e.g. `SelectionContext.expected`). */
  healthyPipelines(channel: TrackedChannel, now: number): string[] {
    const cfg = channel.config
    const tracker = this.#channels.get(channel.name)
    if (!cfg || !tracker) return []
    const edge = liveEdge(cfg, now)
    return tracker.pipelines().filter((p) => tracker.isHealthy(p, edge))
  }

  /** Per-pipeline health for the status endpoint ([] before any segment was seen). */
  snapshot(channel: TrackedChannel, now: number): PipelineHealth[] {
    const tracker = this.#channels.get(channel.name)
    if (!tracker) return []
    const cfg = channel.config
    if (!cfg) return tracker.snapshot()
    tracker.settle(liveEdge(cfg, now - cfg.lateAllowanceMs))
    return tracker.snapshot(liveEdge(cfg, now))
  }

  /** Renditions seen in the channel, sorted. */
  renditions(channel: string): string[] {
    return this.#channels.get(channel)?.renditions() ?? []
  }

  /** The channel's tracker, if it has seen a segment. */
  tracker(channel: string): HealthTracker | undefined {
    return this.#channels.get(channel)
  }

  /** Forgets a channel (ended, or deleted). */
  forget(channel: string): void {
    this.#channels.delete(channel)
  }

  #tracker(channel: string, create: boolean): HealthTracker | undefined {
    let t = this.#channels.get(channel)
    if (t !== undefined) {
      // Keep recently fed channels at the end, so that the oldest is dropped first.
      this.#channels.delete(channel)
      this.#channels.set(channel, t)
      return t
    }
    if (!create) return undefined
    t = new HealthTracker(this.#options)
    this.#channels.set(channel, t)
    if (this.#channels.size > MAX_CHANNELS) this.#channels.delete(this.#channels.keys().next().value!)
    return t
  }
}
