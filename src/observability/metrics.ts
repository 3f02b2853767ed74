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
  return {
    registry,
    requests: new Counter({
      name: 'liveorigin_requests_total',
      help: 'Requests answered, by listener role, request class and status.',
      labelNames: ['role', 'class', 'status'] as const,
      registers: r,
    }),
    requestDuration: new Histogram({
      name: 'liveorigin_request_duration_seconds',
      help: 'Time to answer a request (for held requests: including the hold), by role.',
      labelNames: ['role'] as const,
      buckets: latencyBuckets,
      registers: r,
    }),
    uploadsInProgress: new Gauge({
      name: 'liveorigin_uploads_in_progress',
      help: 'Uploads being received.',
      registers: r,
    }),
    uploadBytesReserved: new Gauge({
      name: 'liveorigin_upload_bytes_reserved',
      help: 'Bytes of ingest.maxInFlightBytes reserved by uploads in progress.',
      registers: r,
    }),
    uploadsRefused: new Counter({
      name: 'liveorigin_uploads_refused_total',
      help: 'Uploads refused for a resource limit, by reason (budget, manifest-size, too-slow, stalled).',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    held: new Gauge({
      name: 'liveorigin_held_requests',
      help: 'Requests held at the live edge.',
      registers: r,
    }),
    holdDuration: new Histogram({
      name: 'liveorigin_hold_duration_seconds',
      help: 'How long held requests waited, by outcome (released, timeout, disconnected).',
      labelNames: ['outcome'] as const,
      buckets: holdBuckets,
      registers: r,
    }),
    timingAnswers: new Counter({
      name: 'liveorigin_timing_answers_total',
      help: '404 and 410 answers decided by segment timing, by status and reason.',
      labelNames: ['status', 'reason'] as const,
      registers: r,
    }),
    lateSegments: new Counter({
      name: 'liveorigin_late_segments_total',
      help: 'Media segments committed after their availability time, by pipeline.',
      labelNames: ['pipeline'] as const,
      registers: r,
    }),
    missingSegments: new Counter({
      name: 'liveorigin_missing_segments_total',
      help: 'Media segments a pipeline had not delivered by A(N)+R when a request needed them, by pipeline.',
      labelNames: ['pipeline'] as const,
      registers: r,
    }),
    selections: new Counter({
      name: 'liveorigin_selections_total',
      help: 'Segment selections, by pipeline served and outcome (valid, defective, missing).',
      labelNames: ['pipeline', 'outcome'] as const,
      registers: r,
    }),
    defects: new Counter({
      name: 'liveorigin_defects_total',
      help: 'Defects recorded on ingest, by kind and source (packager, origin).',
      labelNames: ['kind', 'source'] as const,
      registers: r,
    }),
    storageOps: new Counter({
      name: 'liveorigin_storage_operations_total',
      help: 'Storage driver operations, by driver, operation and result.',
      labelNames: ['driver', 'op', 'result'] as const,
      registers: r,
    }),
    storageDuration: new Histogram({
      name: 'liveorigin_storage_operation_duration_seconds',
      help: 'Storage driver operation latency, by driver and operation.',
      labelNames: ['driver', 'op'] as const,
      buckets: latencyBuckets,
      registers: r,
    }),
    cacheOps: new Counter({
      name: 'liveorigin_cache_operations_total',
      help: 'Cache tier operations, by tier, operation and result (hit, miss, ok, error).',
      labelNames: ['tier', 'op', 'result'] as const,
      registers: r,
    }),
    objectReads: new Counter({
      name: 'liveorigin_object_reads_total',
      help: 'Object fetches from storage after single flight (one per object however many requests wait).',
      registers: r,
    }),
    shed: new Counter({
      name: 'liveorigin_shed_requests_total',
      help: 'Requests refused under pressure, by class.',
      labelNames: ['class'] as const,
      registers: r,
    }),
    admission: new Gauge({
      name: 'liveorigin_admission_state',
      help: 'Per class: 1 when the class is admitted, 0 when it is being shed.',
      labelNames: ['class'] as const,
      registers: r,
    }),
    eventLoopDelay: new Gauge({
      name: 'liveorigin_event_loop_delay_seconds',
      help: 'Event-loop delay p99 over the last second, as used by admission control.',
      registers: r,
    }),
    inFlight: new Gauge({
      name: 'liveorigin_in_flight_requests',
      help: 'Requests in progress, by class.',
      labelNames: ['class'] as const,
      registers: r,
    }),
  }
}

export type Metrics = ReturnType<typeof createMetrics>
