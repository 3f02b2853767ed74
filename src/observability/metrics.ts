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
  const cache = new Map<string, T>()
  return (...values) => {
    const key = values.join('\u0000')
    let child = cache.get(key)
    if (child === undefined) {
      child = labels(...values)
      cache.set(key, child)
    }
    return child
  }
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
  }
}

export type Metrics = ReturnType<typeof createMetrics>
