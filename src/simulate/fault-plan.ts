/**
 * The simulator's fault plan: which copies of which segments a pipeline gets wrong, sends
 * late or never sends, and when a pipeline is down. Pure and seeded: every answer is a
 * function of the seed and the question (pipeline, rendition, number, or time), never of the
 * order in which questions are asked, so that a run can be reproduced with `--seed`.
 */

/** How a defective copy is defective. */
export type DefectFault =
  /** The body is cut off inside the `mdat` (the origin finds `corrupt`). */
  | 'corrupt'
  /** The `tfdt` is that of the next segment (the origin finds `timing-discontinuity`). */
  | 'tfdt'
  /** Clean bytes, but the packager reports a defect in `Segment-Defects`. */
  | 'reported'

export const DEFECT_FAULTS: readonly DefectFault[] = ['corrupt', 'tfdt', 'reported']

/** What happens to one pipeline's copy of one segment of one rendition. */
export interface SegmentFault {
  /** Never sent. */
  readonly missing: boolean
  /** Sent this long after A(N) (0: on time). */
  readonly lateMs: number
  /** Sent defective, and how; undefined when clean. */
  readonly defect: DefectFault | undefined
  /** For `reported`: the `Segment-Defects` value the packager sends. */
  readonly reported: string | undefined
}

/** A pipeline sends nothing during [fromMs, toMs) after the start of the run. */
export interface Outage {
  readonly pipeline: string
  readonly fromMs: number
  readonly toMs: number
}

export interface FaultPlanOptions {
  readonly seed: string
  readonly segmentDurationMs: number
  /** Probability (0–1) that a copy is defective. */
  readonly defectRate?: number
  /** Probability (0–1) that a copy is sent late (after A(N)+G, before A(N)+R at the defaults). */
  readonly lateRate?: number
  /** Probability (0–1) that a copy is never sent. */
  readonly missingRate?: number
  readonly outages?: readonly Outage[]
  /**
   * Segments that no pipeline sends (`--gap`): times after the start, each naming the
   * segment whose media covers it (index ⌊t / D⌋ from the start number).
   */
  readonly gapsMs?: readonly number[]
  /**
   * Segments whose only copy is cut off inside its `mdat` (`--cut`): the first pipeline not
   * in an outage when the segment is due sends it cut off, the others send nothing.
   */
  readonly cutsMs?: readonly number[]
  /**
   * Segments whose upload one pipeline stops halfway (`--abort`, chunked uploads): the first
   * pipeline not in an outage when the segment is due closes its connection after half of the
   * segment's chunks; the others send theirs as usual.
   */
  readonly abortsMs?: readonly number[]
}

/**
 * A fault forced on a segment: `gap`, no pipeline sends it; `cut`, one pipeline sends it cut
 * off and the others nothing (so that no pipeline has a clean copy); `abort`, one pipeline
 * stops its upload halfway and the others send theirs.
 */
export type ForcedFault = 'gap' | 'cut' | 'abort'

const CLEAN: SegmentFault = { missing: false, lateMs: 0, defect: undefined, reported: undefined }

/** Reported defects a video packager might send, and an audio one. */
const VIDEO_REPORTS = ['missing-frames', 'black', 'frozen'] as const
const AUDIO_REPORTS = ['silence', 'missing-frames'] as const

/** Decides faults for a run; see the module comment. */
export class FaultPlan {
  readonly seed: string
  readonly #d: number
  readonly #defectRate: number
  readonly #lateRate: number
  readonly #missingRate: number
  readonly outages: readonly Outage[]
  /** Forced faults by segment index (N − S). */
  readonly #forced = new Map<number, ForcedFault>()

  constructor(options: FaultPlanOptions) {
    this.seed = options.seed
    this.#d = options.segmentDurationMs
    this.#defectRate = rate(options.defectRate ?? 0, 'defectRate')
    this.#lateRate = rate(options.lateRate ?? 0, 'lateRate')
    this.#missingRate = rate(options.missingRate ?? 0, 'missingRate')
    this.outages = [...(options.outages ?? [])]
    if (!(Number.isInteger(this.#d) && this.#d > 0)) {
      throw new RangeError(`segmentDurationMs must be a positive integer, got ${options.segmentDurationMs}`)
    }
    for (const [kind, times] of [
      ['gap', options.gapsMs ?? []],
      ['cut', options.cutsMs ?? []],
      ['abort', options.abortsMs ?? []],
    ] as const) {
      for (const t of times) {
        if (!(Number.isFinite(t) && t >= 0)) throw new RangeError(`a ${kind} time must be ≥ 0, got ${t}`)
        const index = this.index(t)
        const other = this.#forced.get(index)
        if (other !== undefined && other !== kind) {
          throw new RangeError(`segment ${index} after the start has two forced faults: ${other} and ${kind}`)
        }
        this.#forced.set(index, kind)
      }
    }
  }

  /** The index (N − S) of the segment whose media covers `elapsedMs` after the start. */
  index(elapsedMs: number): number {
    return Math.floor(elapsedMs / this.#d)
  }

  /** The forced fault of the segment with index `index` (N − S), if any. */
  forced(index: number): ForcedFault | undefined {
    return this.#forced.get(index)
  }

  /** Forced faults in index order. */
  forcedFaults(): Array<{ index: number; kind: ForcedFault }> {
    return [...this.#forced].map(([index, kind]) => ({ index, kind })).sort((a, b) => a.index - b.index)
  }

  /**
   * Which pipeline sends the cut-off (or aborted) copy of the segment with index `index`: the
   * first of `pipelines` not in an outage when it is due ((index + 1)·D after the start);
   * undefined when every pipeline is down then.
   */
  faultyPipeline(index: number, pipelines: readonly string[]): string | undefined {
    const due = (index + 1) * this.#d
    return pipelines.find((p) => !this.inOutage(p, due))
  }

  /**
   * The fault of `pipeline`'s copy of segment `number` of `rendition` (`media` picks the
   * kind of packager report). Independent draws: missing first (a missing copy has no other
   * fault), then late, then defective (a late copy may also be defective).
   */
  segment(
    pipeline: string,
    rendition: string,
    number: number,
    media: 'video' | 'audio' = 'video',
  ): SegmentFault {
    const key = `${pipeline}\u0000${rendition}\u0000${number}`
    if (this.#missingRate > 0 && this.#draw(key, 'missing') < this.#missingRate) {
      return { ...CLEAN, missing: true }
    }
    let lateMs = 0
    if (this.#lateRate > 0 && this.#draw(key, 'late') < this.#lateRate) {
      // After A(N)+G (G = D/4 by default), so the origin counts it late and selection has
      // stopped waiting for it; before A(N)+R (2·D by default), so that it still counts.
      lateMs = Math.round(this.#d * (0.5 + this.#draw(key, 'late-by')))
    }
    if (!(this.#defectRate > 0 && this.#draw(key, 'defect') < this.#defectRate)) {
      return lateMs === 0 ? CLEAN : { ...CLEAN, lateMs }
    }
    const defect = pick(DEFECT_FAULTS, this.#draw(key, 'defect-kind'))
    let reported: string | undefined
    if (defect === 'reported') {
      const kind = pick(media === 'audio' ? AUDIO_REPORTS : VIDEO_REPORTS, this.#draw(key, 'report-kind'))
      reported =
        kind === 'missing-frames'
          ? `missing-frames;count=${1 + Math.floor(this.#draw(key, 'count') * 12)}`
          : kind
    }
    return { missing: false, lateMs, defect, reported }
  }

  /** Whether `pipeline` is down `elapsedMs` after the start of the run. */
  inOutage(pipeline: string, elapsedMs: number): boolean {
    return this.outages.some((o) => o.pipeline === pipeline && elapsedMs >= o.fromMs && elapsedMs < o.toMs)
  }

  /** When (ms after the start) `pipeline` comes back from an outage, ascending. */
  recoveries(pipeline: string): number[] {
    return this.outages
      .filter((o) => o.pipeline === pipeline)
      .map((o) => o.toMs)
      .filter((t) => !this.inOutage(pipeline, t))
      .sort((a, b) => a - b)
  }

  #draw(key: string, purpose: string): number {
    return uniform(`${this.seed}\u0000${key}\u0000${purpose}`)
  }
}

function rate(value: number, name: string): number {
  if (!(value >= 0 && value <= 1)) throw new RangeError(`${name} must be between 0 and 1, got ${value}`)
  return value
}

function pick<T>(items: readonly T[], u: number): T {
  return items[Math.min(items.length - 1, Math.floor(u * items.length))]!
}

/**
 * A uniform number in [0, 1) from a string: FNV-1a over the UTF-16 code units, then two
 * rounds of the murmur3 finaliser, so that keys differing in one character are unrelated.
 */
export function uniform(key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h = fmix32(fmix32(h) ^ key.length)
  return (h >>> 0) / 4294967296
}

function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h
}
