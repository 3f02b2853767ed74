/**
 * Every Prometheus metric liveorigin exports, registered in one place (names prefixed
 * `liveorigin_`). Each process has its own registry; in a multi-process `serve` the control
 * listener aggregates the workers' registries.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

const latencyBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const holdBuckets = [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32]

/**
 * Label children by their values, cached: hot paths (every delivery request) skip prom-client's
 * per-call label hashing and validation. Values are given in the metric's label order.
 */
export function childrenOf<T>(labels: (...values: string[]) => T): (...values: string[]) => T {
  // One map level per label value: no key string is built per call.
  const root = new Map<string, unknown>()
  return (...values) => {
    let level = root
    const last = values.length - 1
    for (let i = 0; i < last; i++) {
      let next = level.get(values[i]!) as Map<string, unknown> | undefined
      if (next === undefined) {
        next = new Map()
        level.set(values[i]!, next)
      }
      level = next
    }
    const key = values[last] ?? ''
    let child = level.get(key) as T | undefined
    if (child === undefined) {
      child = labels(...values)
      level.set(key, child)
    }
    return child
  }
}

/** A counter child whose increments are kept in a plain number until the counter is read. */
export interface CountTally {
  inc(): void
}

/**
 * Hot-path counting for a labelled counter: prom-client hashes and validates the label set on
 * every `inc`, even of a child, so per label set a plain number is counted instead and added to
 * the counter whenever it is read (`/metrics`, `get()`). Values are given in label order.
 */
export function tallyOf(counter: Counter<string>): (...values: string[]) => CountTally {
  return deltasOf(counter)
}

/** A gauge child whose changes are kept in a plain number until the gauge is read. */
export interface LevelTally {
  inc(): void
  dec(): void
}

/** {@link tallyOf} for a labelled gauge that goes up and down (requests in progress). */
export function levelOf(gauge: Gauge<string>): (...values: string[]) => LevelTally {
  return deltasOf(gauge)
}

function deltasOf(metric: Counter<string> | Gauge<string>): (...values: string[]) => LevelTally {
  const tallies: { child: { inc(n: number): void }; n: number }[] = []
  chainCollect(metric, () => {
    for (const t of tallies) {
      if (t.n === 0) continue
      t.child.inc(t.n)
      t.n = 0
    }
  })
  return childrenOf((...values) => {
    const t = { child: metric.labels(...values), n: 0 }
    // The series shows from its first use, as with prom-client's own `inc`.
    t.child.inc(0)
    tallies.push(t)
    return {
      inc() {
        t.n++
      },
      dec() {
        t.n--
      },
    }
  })
}

/** A histogram child whose observations are kept in plain numbers until the histogram is read. */
export interface ObserveTally {
  observe(value: number): void
}

interface HistogramEntry {
  labels: Record<string, string | number>
  bucketValues: Record<number, number>
  sum: number
  count: number
}

/**
 * Hot-path observations for one label set of a histogram: bucket counts, sum and count kept
 * locally and added to prom-client's series for that label set whenever the histogram is read
 * (prom-client's `observe` validates and hashes the label set each time).
 */
export function observeTally(histogram: Histogram<string>, ...values: string[]): ObserveTally {
  const h = histogram as unknown as {
    upperBounds: number[]
    labelNames: string[]
    hashMap: Record<string, HistogramEntry>
  }
  const bounds = h.upperBounds
  const counts = new Float64Array(bounds.length)
  let sum = 0
  let count = 0
  const labels = Object.fromEntries(h.labelNames.map((name, i) => [name, values[i]!]))
  const entry = () =>
    Object.values(h.hashMap).find((e) =>
      h.labelNames.every((name) => String(e.labels[name]) === labels[name]),
    )
  chainCollect(histogram, () => {
    if (count === 0) return
    // The series appears with its first observation, as with prom-client's own `observe`.
    if (entry() === undefined) histogram.zero(labels)
    const e = entry()
    if (e === undefined) throw new Error(`histogram series ${values.join(',')} not found`)
    for (let i = 0; i < bounds.length; i++) {
      e.bucketValues[bounds[i]!] = (e.bucketValues[bounds[i]!] ?? 0) + counts[i]!
      counts[i] = 0
    }
    e.sum += sum
    e.count += count
    sum = 0
    count = 0
  })
  return {
    observe(value) {
      let i = 0
      while (i < bounds.length && value > bounds[i]!) i++
      if (i < bounds.length) counts[i]!++
      sum += value
      count++
    },
  }
}

/** Runs `flush` before the metric is read, after any `collect` it already has. */
function chainCollect(metric: Counter<string> | Gauge<string> | Histogram<string>, flush: () => void): void {
  const m = metric as unknown as { collect?: () => unknown }
  const before = m.collect
  m.collect = before
    ? function (this: unknown) {
        flush()
        return before.call(this)
      }
    : flush
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry()
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'liveorigin_' })
  const r = [registry]
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name, help, labelNames, registers: r })
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Gauge<L>({ name, help, labelNames, registers: r })
  const histogram = <L extends string>(
    name: string,
    help: string,
    buckets: number[],
    labelNames: readonly L[],
  ) => new Histogram<L>({ name, help, labelNames, buckets, registers: r })
  return {
    registry,
    requests: counter(
      'liveorigin_requests_total',
      'Requests answered, by listener role, request class and status.',
      ['role', 'class', 'status'] as const,
    ),
    requestDuration: histogram(
      'liveorigin_request_duration_seconds',
      'Time to answer a request (for held requests: including the hold), by role.',
      latencyBuckets,
      ['role'] as const,
    ),
    uploadsInProgress: gauge('liveorigin_uploads_in_progress', 'Uploads being received.', []),
    uploadPhase: histogram(
      'liveorigin_upload_phase_seconds',
      'Time a stored upload spent in each phase before its answer: receive (the body, to its last byte), store (the chunks still being written after it), commit (the commit record, durable), announce (the commit told to readers and cache tiers).',
      latencyBuckets,
      ['phase'] as const,
    ),
    uploadBytesReserved: gauge(
      'liveorigin_upload_bytes_reserved',
      'Bytes of ingest.maxInFlightBytes reserved by uploads in progress.',
      [],
    ),
    uploadsRefused: counter(
      'liveorigin_uploads_refused_total',
      'Uploads refused for a resource limit, by reason (budget, manifest-size, too-slow, stalled).',
      ['reason'] as const,
    ),
    held: gauge('liveorigin_held_requests', 'Requests held at the live edge.', []),
    holdDuration: histogram(
      'liveorigin_hold_duration_seconds',
      'How long held requests waited, by outcome (released, timeout, disconnected).',
      holdBuckets,
      ['outcome'] as const,
    ),
    timingAnswers: counter(
      'liveorigin_timing_answers_total',
      '404 and 410 answers decided by segment timing, by status and reason.',
      ['status', 'reason'] as const,
    ),
    lateSegments: counter(
      'liveorigin_late_segments_total',
      'Media segments committed after their availability time, by pipeline.',
      ['pipeline'] as const,
    ),
    missingSegments: counter(
      'liveorigin_missing_segments_total',
      'Media segments a pipeline had not delivered by A(N)+R when a request needed them, by pipeline.',
      ['pipeline'] as const,
    ),
    selections: counter(
      'liveorigin_selections_total',
      'Segment selections, by pipeline served and outcome (valid, defective, repaired, filler, missing; in-progress: a copy followed while it uploads).',
      ['pipeline', 'outcome'] as const,
    ),
    defects: counter(
      'liveorigin_defects_total',
      'Defects recorded on ingest, by kind and source (packager, origin).',
      ['kind', 'source'] as const,
    ),
    storageOps: counter(
      'liveorigin_storage_operations_total',
      'Storage driver operations, by driver, operation and result.',
      ['driver', 'op', 'result'] as const,
    ),
    storageDuration: histogram(
      'liveorigin_storage_operation_duration_seconds',
      'Storage driver operation latency, by driver and operation.',
      latencyBuckets,
      ['driver', 'op'] as const,
    ),
    cacheOps: counter(
      'liveorigin_cache_operations_total',
      'Cache tier operations, by tier, operation and result (hit, miss, ok, error).',
      ['tier', 'op', 'result'] as const,
    ),
    cacheErrors: counter(
      'liveorigin_cache_errors_total',
      'Failed operations of the memcached tier (timeouts, refused or broken connections), by zone and operation. A failed get reads the next zone, then storage; requests never see the failure.',
      ['zone', 'op'] as const,
    ),
    objectReads: counter(
      'liveorigin_object_reads_total',
      'Object fetches from storage after single flight (one per object however many requests wait).',
      [],
    ),
    shed: counter('liveorigin_shed_requests_total', 'Requests refused under pressure, by class.', [
      'class',
    ] as const),
    admission: gauge(
      'liveorigin_admission_state',
      'Per class: 1 when the class is admitted, 0 when it is being shed.',
      ['class'] as const,
    ),
    eventLoopDelay: gauge(
      'liveorigin_event_loop_delay_seconds',
      'Event-loop delay p99 over the last second, as used by admission control.',
      [],
    ),
    inFlight: gauge('liveorigin_in_flight_requests', 'Requests in progress, by class.', ['class'] as const),
    peers: gauge(
      'liveorigin_peers',
      'Other origin nodes this node sends commit notices to (heartbeat live, not skipped after a failure).',
      [],
    ),
    peerNotices: counter(
      'liveorigin_peer_notices_total',
      'Commit and removal notices between origin nodes, by direction (sent, received) and result (ok, failed: the request to the peer failed or timed out; dropped: more waiting for one peer than it takes).',
      ['direction', 'result'] as const,
    ),
    peerClockOffset: gauge(
      'liveorigin_peer_clock_offset_ms',
      "A peer's clock minus this node's, in ms, from the notice round trip with the shortest duration of the last 8 (error at most half that duration).",
      ['peer'] as const,
    ),
    peerClockAlarm: gauge(
      'liveorigin_peer_clock_skew_alarm',
      "1 while a peer's clock offset is beyond peers.maxClockOffsetMs, else 0.",
      ['peer'] as const,
    ),
  }
}

export type Metrics = ReturnType<typeof createMetrics>
