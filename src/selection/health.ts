/**
 * Per-channel pipeline health (docs/protocol.md#quality-control-and-selection, #observability): which segments each pipeline delivered, how
 * many came late, never came, or came defective, and whether a pipeline counts as healthy
 * (delivered one of the last 3 expected segments) for serving manifests. A pure data
 * structure: times and live edges are passed in; memory is bounded per pipeline and rendition.
 */

/** One segment delivered (committed) by a pipeline. */
export interface SegmentDelivery {
  readonly pipeline: string
  readonly rendition: string
  readonly number: number
  /** Defect kinds of the copy ([] when valid). */
  readonly defects: readonly string[]
  /** Whether it arrived later than the channel allows for (the caller decides; see docs). */
  readonly late: boolean
  /** When it was committed (epoch ms). */
  readonly at: number
}

/** What the status endpoint shows per pipeline. JSON-ready (null, not undefined). */
export interface PipelineHealth {
  readonly pipeline: string
  /** Healthy at the live edge passed to `snapshot()`; null when none was passed. */
  readonly healthy: boolean | null
  /** Highest segment number delivered, any rendition. */
  readonly lastNumber: number | null
  /** When the pipeline last delivered a segment (epoch ms). */
  readonly lastAt: number | null
  /** Distinct segments (rendition, number) delivered. */
  readonly delivered: number
  readonly late: number
  /** Segments never delivered by the time they were settled (see `settle`). */
  readonly missing: number
  /** Distinct segments whose latest copy is defective. */
  readonly defective: number
  /** Deliveries per defect kind. */
  readonly defects: Readonly<Record<string, number>>
  /** Highest number delivered per rendition. */
  readonly renditions: Readonly<Record<string, number>>
}

/** Options of {@link HealthTracker}. */
export interface HealthOptions {
  /** How many of the latest expected segments a healthy pipeline must have delivered one of. Default 3. */
  readonly window?: number
  /** Segment numbers remembered per pipeline and rendition (for replacements and settling). Default 256. */
  readonly tracked?: number
}

interface RenditionState {
  /** Lowest unsettled-at-arrival number delivered: settling counts missing ones from here. */
  first: number
  last: number
  /** number → whether its latest copy is defective. Pruned to `tracked`, lowest first. */
  readonly numbers: Map<number, boolean>
  /** Delivered numbers pruned before they were settled: the next `settle` counts them delivered. */
  pruned: number
}

interface PipelineState {
  lastNumber: number | undefined
  lastAt: number | undefined
  delivered: number
  late: number
  missing: number
  defective: number
  readonly defects: Map<string, number>
  readonly renditions: Map<string, RenditionState>
}

/** Health of the pipelines of one channel. */
export class HealthTracker {
  readonly #window: number
  readonly #tracked: number
  readonly #pipelines = new Map<string, PipelineState>()
  /** Segments up to this number have been settled (missing ones counted). */
  #settled = Number.NEGATIVE_INFINITY

  constructor(options: HealthOptions = {}) {
    this.#window = options.window ?? 3
    this.#tracked = options.tracked ?? 256
  }

  /** Records a delivered segment. A second copy of the same (rendition, number) is a replacement, not a new delivery. */
  record(d: SegmentDelivery): void {
    let p = this.#pipelines.get(d.pipeline)
    if (p === undefined) {
      p = {
        lastNumber: undefined,
        lastAt: undefined,
        delivered: 0,
        late: 0,
        missing: 0,
        defective: 0,
        defects: new Map(),
        renditions: new Map(),
      }
      this.#pipelines.set(d.pipeline, p)
    }
    const defective = d.defects.length > 0
    for (const kind of new Set(d.defects)) p.defects.set(kind, (p.defects.get(kind) ?? 0) + 1)
    if (p.lastAt === undefined || d.at > p.lastAt) p.lastAt = d.at
    if (p.lastNumber === undefined || d.number > p.lastNumber) p.lastNumber = d.number

    let r = p.renditions.get(d.rendition)
    const known = r !== undefined
    if (r === undefined) {
      r = { first: d.number, last: d.number, numbers: new Map(), pruned: 0 }
      p.renditions.set(d.rendition, r)
    }
    const previous = r.numbers.get(d.number)
    if (previous !== undefined) {
      p.defective += Number(defective) - Number(previous)
      r.numbers.set(d.number, defective)
      return
    }
    // A copy of a segment already settled as missing (and still remembered) turns up after all.
    const settled = d.number <= this.#settled
    if (known && settled && d.number >= r.first && d.number > this.#settled - this.#tracked) p.missing--
    if (!settled && d.number < r.first) r.first = d.number
    p.delivered++
    if (d.late) p.late++
    if (defective) p.defective++
    if (d.number > r.last) r.last = d.number
    r.numbers.set(d.number, defective)
    if (r.numbers.size > this.#tracked) {
      let lowest = Number.POSITIVE_INFINITY
      for (const n of r.numbers.keys()) if (n < lowest) lowest = n
      r.numbers.delete(lowest)
      if (lowest > this.#settled) r.pruned++
    }
  }

  /**
   * Declares that segments up to `through` can no longer arrive in time (e.g. A(N)+R has
   * passed): every pipeline and rendition that had started by then and did not deliver one of
   * them counts it as missing. Each number is settled once; calling again with a lower or
   * equal number does nothing.
   */
  settle(through: number): void {
    if (!(through > this.#settled)) return
    for (const p of this.#pipelines.values()) {
      for (const r of p.renditions.values()) {
        const from = Math.max(this.#settled + 1, r.first)
        if (from > through) continue
        // Pruned numbers are the lowest ones, so they lie in the range being settled.
        let delivered = r.pruned
        r.pruned = 0
        for (const n of r.numbers.keys()) if (n >= from && n <= through) delivered++
        p.missing += Math.max(0, through - from + 1 - delivered)
      }
    }
    this.#settled = through
  }

  /** Whether `pipeline` delivered one of the last `window` expected segments (live edge included) or a later one. */
  isHealthy(pipeline: string, liveEdge: number): boolean {
    const last = this.#pipelines.get(pipeline)?.lastNumber
    return last !== undefined && last > liveEdge - this.#window
  }

  /** Highest segment number `pipeline` delivered, any rendition. */
  lastNumber(pipeline: string): number | undefined {
    return this.#pipelines.get(pipeline)?.lastNumber
  }

  /** Pipelines seen, sorted by id. */
  pipelines(): string[] {
    return [...this.#pipelines.keys()].sort(compareIds)
  }

  /** Renditions seen from any pipeline, sorted. */
  renditions(): string[] {
    const all = new Set<string>()
    for (const p of this.#pipelines.values()) for (const r of p.renditions.keys()) all.add(r)
    return [...all].sort(compareIds)
  }

  /** Per-pipeline counters, sorted by pipeline id; `healthy` filled in when `liveEdge` is given. */
  snapshot(liveEdge?: number): PipelineHealth[] {
    return this.pipelines().map((id) => {
      const p = this.#pipelines.get(id)!
      const renditions: Record<string, number> = {}
      for (const [name, r] of p.renditions) renditions[name] = r.last
      return {
        pipeline: id,
        healthy: liveEdge === undefined ? null : this.isHealthy(id, liveEdge),
        lastNumber: p.lastNumber ?? null,
        lastAt: p.lastAt ?? null,
        delivered: p.delivered,
        late: p.late,
        missing: p.missing,
        defective: p.defective,
        defects: Object.fromEntries(p.defects),
        renditions,
      }
    })
  }
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
