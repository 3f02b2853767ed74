/**
 * Every setting liveorigin reads, in one table: its YAML path (camelCase), its environment
 * variable, its flag where it has one, its type, default and meaning. The loader, the
 * `--help` text and the configuration reference in the README all come from this table.
 */
import { availableParallelism } from 'node:os'

export type SettingType = 'string' | 'int' | 'bool' | 'roles' | 'json'

export interface Setting {
  /** Dotted YAML path, e.g. `ingest.maxObjectBytes`. */
  readonly path: string
  readonly type: SettingType
  /** Default value (undefined: unset unless given). */
  readonly default?: unknown
  /** Command-line flag, when the setting has one. */
  readonly flag?: string
  readonly doc: string
}

const MiB = 1024 * 1024

export const settings: readonly Setting[] = [
  {
    path: 'host',
    type: 'string',
    default: '127.0.0.1',
    flag: '--host',
    doc: 'Address every listener binds.',
  },
  {
    path: 'roles',
    type: 'roles',
    default: ['all'],
    flag: '--role',
    doc: 'Roles this process serves: all | ingest | delivery | control (flag repeatable, env comma-separated).',
  },
  {
    path: 'ingest.port',
    type: 'int',
    default: 8081,
    flag: '--ingest-port',
    doc: 'Ingest listener port (PUT/POST/DELETE).',
  },
  {
    path: 'ingest.tokens',
    type: 'json',
    default: {},
    doc: 'Pipeline tokens: `{ east: "<secret>" }` or `{ east: { token: "<secret>", channels: ["ch1"] } }`. Empty: open mode (`Pipeline-Id` header).',
  },
  {
    path: 'ingest.insecureOpenIngest',
    type: 'bool',
    default: false,
    flag: '--insecure-open-ingest',
    doc: 'Allow open mode (no tokens) on a non-loopback host.',
  },
  {
    path: 'ingest.standby',
    type: 'bool',
    default: true,
    doc: 'Under `serve` with worker processes, keep a second ingest process ready that takes the port over at once when the active one dies (else a new process is started: about a second without ingest).',
  },
  {
    path: 'ingest.maxObjectBytes',
    type: 'int',
    default: 64 * MiB,
    doc: 'Largest object accepted (413 beyond).',
  },
  {
    path: 'ingest.strictChannels',
    type: 'bool',
    default: false,
    doc: 'Refuse (404) writes to channels that were not created through the API, config or an MPD.',
  },
  {
    path: 'ingest.ingestIdleMs',
    type: 'int',
    doc: 'Abort an upload that sends no bytes for this long (408). Default: 2·D of the channel, 10 000 ms without a template.',
  },
  {
    path: 'ingest.maxUploadsPerPipeline',
    type: 'int',
    default: 64,
    doc: 'Concurrent uploads one pipeline may have in progress (429 beyond).',
  },
  {
    path: 'ingest.maxManifestBytes',
    type: 'int',
    default: 4 * MiB,
    doc: 'Largest manifest (MPD, HLS playlist) accepted (413 beyond). Fits a day of 2 s segments listed one by one in a SegmentTimeline or playlist.',
  },
  {
    path: 'ingest.maxInFlightBytes',
    type: 'int',
    default: 512 * MiB,
    doc: 'Memory all uploads in progress may hold together: each counts its Content-Length, capped at what it holds while streaming to storage (5 storage chunks; a manifest: `ingest.maxManifestBytes`, as it is parsed whole). A new upload beyond it gets 503 with `Retry-After` and is not read.',
  },
  {
    path: 'ingest.minUploadBytesPerSecond',
    type: 'int',
    default: 64,
    doc: 'Slowest upload accepted: one averaging fewer bytes per second over `ingest.minUploadRateWindowMs` of waiting for the client is aborted (408), so that a trickle cannot hold an upload open. Real packagers send far more, even a chunked subtitle track (a `moof` every chunk). 0 turns the check off.',
  },
  {
    path: 'ingest.minUploadRateWindowMs',
    type: 'int',
    default: 10_000,
    doc: 'Window over which `ingest.minUploadBytesPerSecond` is averaged.',
  },
  {
    path: 'ingest.maxHeaderBytes',
    type: 'int',
    default: 16384,
    doc: 'Largest request header block (431 beyond).',
  },
  {
    path: 'delivery.port',
    type: 'int',
    default: 8080,
    flag: '--delivery-port',
    doc: 'Delivery listener port (GET/HEAD).',
  },
  {
    path: 'delivery.workers',
    type: 'int',
    default: availableParallelism(),
    flag: '--delivery-workers',
    doc: 'Delivery processes `serve` runs beside the ingest process (0: every role in one process, no isolation). Default: the number of CPU cores.',
  },
  {
    path: 'delivery.niceness',
    type: 'int',
    default: 10,
    flag: '--delivery-niceness',
    doc: 'OS scheduling niceness of delivery processes under `serve` (0–19): when reads saturate the CPU, the ingest process runs first.',
  },
  {
    path: 'delivery.liveEdgeSegments',
    type: 'int',
    default: 3,
    doc: 'At least this many segments behind the live edge are live-edge class; more when the presentation delay of the channel reaches further (docs/overload.md).',
  },
  {
    path: 'delivery.holdPollMs',
    type: 'int',
    default: 10,
    doc: 'While requests are held, how often a node polls storage for a commit made by a process it gets no notice from.',
  },
  {
    path: 'delivery.maxHeldRequests',
    type: 'int',
    default: 100000,
    doc: 'Held requests per process (503 beyond).',
  },
  {
    path: 'control.port',
    type: 'int',
    default: 8082,
    flag: '--control-port',
    doc: 'Control listener port (API, metrics, health, dashboard).',
  },
  {
    path: 'control.token',
    type: 'string',
    doc: 'Bearer token required for control API writes; unset: open (loopback only).',
  },
  {
    path: 'control.insecureOpenControl',
    type: 'bool',
    default: false,
    flag: '--insecure-open-control',
    doc: 'Allow a control listener without control.token on a non-loopback host (anyone who reaches it can change channels).',
  },
  {
    path: 'control.allowedHosts',
    type: 'json',
    default: [],
    doc: 'Host names (`Host` header, without port) accepted on control API writes besides loopback names and `host`; `["*"]` accepts any (docs/security.md).',
  },
  {
    path: 'control.maxChannels',
    type: 'int',
    default: 1000,
    doc: 'Channels the origin holds at most, however created (409 beyond).',
  },
  {
    path: 'control.maxMasksPerChannel',
    type: 'int',
    default: 100,
    doc: 'Masks one channel may have at once (409 beyond).',
  },
  {
    path: 'storage.driver',
    type: 'string',
    default: 'embedded',
    doc: 'Storage driver: embedded (local disk) | cassandra.',
  },
  {
    path: 'storage.dataDir',
    type: 'string',
    default: './data',
    flag: '--data-dir',
    doc: 'Embedded store directory.',
  },
  { path: 'storage.chunkSize', type: 'int', default: MiB, doc: 'Chunk size of stored values, bytes.' },
  {
    path: 'storage.sweepIntervalMs',
    type: 'int',
    default: 30000,
    doc: 'How often expired objects are swept (embedded).',
  },
  {
    path: 'storage.inject',
    type: 'json',
    doc: 'Drill: `{ latencyMs, maxConcurrent }` adds real latency and a concurrency limit to storage.',
  },
  {
    path: 'storage.cassandra',
    type: 'json',
    doc: 'Cassandra driver options (see docs/running-at-scale.md).',
  },
  {
    path: 'cache.memoryBytes',
    type: 'int',
    default: 512 * MiB,
    doc: 'In-process cache size per process, bytes.',
  },
  { path: 'cache.memcached', type: 'json', doc: 'memcached cache tier (see docs/running-at-scale.md).' },
  {
    path: 'overload.eventLoopDelayMs',
    type: 'int',
    default: 200,
    doc: "Event-loop delay the process's own work accounts for (p99 over 1-2 s times its busy share; docs/overload.md) at which DVR reads are shed.",
  },
  {
    path: 'overload.storageLatencyMs',
    type: 'int',
    default: 100,
    doc: "Storage read latency beyond the event loop's delay (p90 over 1 s; docs/overload.md) at which DVR reads are shed.",
  },
  {
    path: 'overload.maxInFlight',
    type: 'int',
    default: 256,
    doc: 'Storage operations in flight per process at which DVR reads are shed.',
  },
  {
    path: 'overload.liveEdgeFactor',
    type: 'int',
    default: 2,
    doc: 'Live-edge reads are shed at this multiple of the DVR thresholds.',
  },
  {
    path: 'overload.maxDvrInFlight',
    type: 'int',
    default: 16,
    doc: 'DVR segment requests a delivery process serves at once; one more is refused (503) at once rather than queued, so that live-edge reads, init segments and manifests wait behind at most this many DVR reads (docs/overload.md).',
  },
  { path: 'channels', type: 'json', default: {}, doc: 'Channel configs by name (docs/timing.md).' },
  {
    path: 'log.level',
    type: 'string',
    default: 'info',
    doc: 'Log level: fatal | error | warn | info | debug | trace | silent.',
  },
]

/** `ingest.maxObjectBytes` → `LIVEORIGIN_INGEST_MAX_OBJECT_BYTES`. */
export function envName(path: string): string {
  return `LIVEORIGIN_${path
    .split('.')
    .map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase())
    .join('_')}`
}
