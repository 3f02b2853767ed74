/**
 * The configuration of liveorigin, in one place: every setting's type, range, default,
 * flag and meaning. The loader, the settings table (`settings.ts`), the `--help` text and
 * `docs/configuration.md` are all derived from this schema.
 */
import { availableParallelism } from 'node:os'
import { z } from 'zod'
import {
  cacheTierSettings,
  missingDriverSettings,
  storageDriverNames,
  storageDriverSettings,
  storageDrivers,
} from '../storage/open.js'

/** How an environment variable or flag value is read: see `parseSettingValue`. */
export type SettingType = 'string' | 'int' | 'bool' | 'roles' | 'json'

/** What a setting says about itself, besides its type and default. */
export interface SettingMeta {
  readonly doc: string
  /** Command-line flag, when the setting has one. */
  readonly flag?: `--${string}`
  /** How a textual value is read, when the schema's own type does not say (roles). */
  readonly kind?: SettingType
}

/** A setting with a default. */
function setting<T extends z.ZodType>(schema: T, value: z.util.NoUndefined<z.output<T>>, meta: SettingMeta) {
  return schema.default(value).meta({ ...meta })
}

/** A setting that is unset unless given. */
function unset<T extends z.ZodType>(schema: T, meta: SettingMeta) {
  return schema.optional().meta({ ...meta })
}

const MiB = 1024 * 1024
const port = z.number().int().min(0).max(65535)
const positiveInt = z.number().int().positive()
const nonNegativeInt = z.number().int().min(0)

const tokenEntry = z.union([
  z.string().min(8, 'a token must have at least 8 characters'),
  z.object({
    token: z.string().min(8, 'a token must have at least 8 characters'),
    channels: z.array(z.string()).optional(),
  }),
])

const ingest = z.object({
  port: setting(port, 8081, { flag: '--ingest-port', doc: 'Ingest listener port (PUT/POST/DELETE).' }),
  tokens: setting(
    z.record(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'pipeline ids are [A-Za-z0-9._-]{1,64}'), tokenEntry),
    {},
    {
      doc: 'Pipeline tokens: `{ east: "<secret>" }` or `{ east: { token: "<secret>", channels: ["ch1"] } }`. Empty: open mode (`Pipeline-Id` header).',
    },
  ),
  insecureOpenIngest: setting(z.boolean(), false, {
    flag: '--insecure-open-ingest',
    doc: 'Allow open mode (no tokens) on a non-loopback host.',
  }),
  standby: setting(z.boolean(), true, {
    doc: 'Under `serve` with worker processes, keep a second ingest process ready that takes the port over at once when the active one dies (else a new process is started: about a second without ingest).',
  }),
  maxObjectBytes: setting(positiveInt, 64 * MiB, { doc: 'Largest object accepted (413 beyond).' }),
  strictChannels: setting(z.boolean(), false, {
    doc: 'Refuse (404) writes to channels that were not created through the API, config or an MPD.',
  }),
  ingestIdleMs: unset(positiveInt, {
    doc: 'Abort an upload that sends no bytes for this long (408). Default: 2·D of the channel, 10 000 ms without a template.',
  }),
  maxUploadsPerPipeline: setting(positiveInt, 64, {
    doc: 'Concurrent uploads one pipeline may have in progress (429 beyond).',
  }),
  maxManifestBytes: setting(positiveInt, 4 * MiB, {
    doc: 'Largest manifest (MPD, HLS playlist) accepted (413 beyond). Fits a day of 2 s segments listed one by one in a SegmentTimeline or playlist.',
  }),
  maxInFlightBytes: setting(positiveInt, 512 * MiB, {
    doc: 'Memory all uploads in progress may hold together: each counts its Content-Length, capped at what it holds while streaming to storage (5 storage chunks; a manifest: `ingest.maxManifestBytes`, as it is parsed whole). A new upload beyond it gets 503 with `Retry-After` and is not read.',
  }),
  minUploadBytesPerSecond: setting(nonNegativeInt, 64, {
    doc: 'Slowest upload accepted: one averaging fewer bytes per second over `ingest.minUploadRateWindowMs` of waiting for the client is aborted (408), so that a trickle cannot hold an upload open. Real packagers send far more, even a chunked subtitle track (a `moof` every chunk). 0 turns the check off.',
  }),
  minUploadRateWindowMs: setting(positiveInt, 10_000, {
    doc: 'Window over which `ingest.minUploadBytesPerSecond` is averaged.',
  }),
  maxHeaderBytes: setting(z.number().int().min(1024), 16384, {
    doc: 'Largest request header block (431 beyond).',
  }),
})

const delivery = z.object({
  port: setting(port, 8080, { flag: '--delivery-port', doc: 'Delivery listener port (GET/HEAD).' }),
  workers: setting(nonNegativeInt.max(64), availableParallelism(), {
    flag: '--delivery-workers',
    doc: 'Delivery processes `serve` runs beside the ingest process (0: every role in one process, no isolation). Default: the number of CPU cores.',
  }),
  niceness: setting(nonNegativeInt.max(19), 10, {
    flag: '--delivery-niceness',
    doc: 'OS scheduling niceness of delivery processes under `serve` (0–19): when reads saturate the CPU, the ingest process runs first.',
  }),
  liveEdgeSegments: setting(positiveInt, 3, {
    doc: 'At least this many segments behind the live edge are live-edge class; more when the presentation delay of the channel reaches further (docs/overload.md).',
  }),
  holdPollMs: setting(positiveInt, 10, {
    doc: 'While requests are held for an object that is due, a node polls for a commit made by a process it gets no notice from (docs/running-at-scale.md#held-requests): the first interval between two polls, doubling after each.',
  }),
  holdPollMaxMs: setting(positiveInt, 40, {
    doc: 'Longest interval between two such polls until the grace window of a segment (A(N) + G) ends: how late, at most, a punctual commit made on another node is seen.',
  }),
  holdPollLateMaxMs: setting(positiveInt, 200, {
    doc: 'Longest interval between two such polls after the grace window.',
  }),
  holdPolling: setting(z.boolean(), true, {
    doc: 'Poll for commits made on other nodes while requests are held (the fallback behind peer notices, docs/running-at-scale.md#held-requests). Off: a held request is released by a peer notice or re-reads at its deadline.',
  }),
  maxHeldRequests: setting(positiveInt, 100000, { doc: 'Held requests per process (503 beyond).' }),
  inProgressMaxBytes: setting(positiveInt, 64 * MiB, {
    doc: 'Memory each process keeps for segments of `lowLatency` channels still uploading, served chunk by chunk to readers. An upload that would take it past this, or one copy past a quarter of it, is withdrawn: its readers are cut off and ask again, and it is served once committed.',
  }),
})

const peers = z
  .object({
    enabled: unset(z.boolean(), {
      doc: 'Push commit notices to the other origin nodes and receive theirs on the control listener (docs/running-at-scale.md#peer-notices). Default: on with `storage.driver: cassandra` when this process serves every role, off otherwise (true: also nodes of one machine sharing an embedded store).',
    }),
    advertiseUrl: unset(z.url({ protocol: /^https?$/ }), {
      doc: "This node's control listener as the other nodes reach it, e.g. `http://10.0.1.5:8082`. Default: `http://<host>:<control port>` (with a wildcard `host`, the first non-loopback IPv4 address of the machine).",
    }),
    heartbeatMs: setting(z.number().int().min(50).max(60_000), 1000, {
      doc: 'How often a node writes its heartbeat record and lists the others (one write and one read of storage).',
    }),
    ttlMs: setting(z.number().int().min(100).max(600_000), 5000, {
      doc: 'A peer whose heartbeat has not changed for this long is no longer sent notices; must exceed `peers.heartbeatMs`.',
    }),
    noticeTimeoutMs: setting(z.number().int().min(10).max(10_000), 500, {
      doc: 'Longest wait for a peer to answer a notice; a peer that fails or times out is skipped until its next heartbeat.',
    }),
    noticeConcurrency: setting(z.number().int().min(1).max(64), 4, {
      doc: 'Notice requests in flight to one peer at once; notices made meanwhile wait and go together in the next request (at most 256 waiting per peer, the oldest dropped beyond).',
    }),
    maxClockOffsetMs: setting(positiveInt, 250, {
      doc: 'Clock offset of a peer beyond which this node logs a warning and raises `liveorigin_peer_clock_skew_alarm` (docs/timing.md#clock-skew says what skew timing decisions tolerate).',
    }),
  })
  .refine((p) => p.ttlMs > p.heartbeatMs, { path: ['ttlMs'], message: 'must exceed peers.heartbeatMs' })

const control = z.object({
  port: setting(port, 8082, {
    flag: '--control-port',
    doc: 'Control listener port (API, metrics, health, dashboard).',
  }),
  token: unset(z.string().min(8), {
    doc: 'Bearer token required for control API writes; unset: open (loopback only).',
  }),
  insecureOpenControl: setting(z.boolean(), false, {
    flag: '--insecure-open-control',
    doc: 'Allow a control listener without control.token on a non-loopback host (anyone who reaches it can change channels).',
  }),
  allowedHosts: setting(z.array(z.string().min(1)), [], {
    doc: 'Host names (`Host` header, without port) accepted on control API writes besides loopback names and `host`; `["*"]` accepts any (docs/security.md).',
  }),
  maxChannels: setting(positiveInt, 1000, {
    doc: 'Channels the origin holds at most, however created (409 beyond).',
  }),
  maxMasksPerChannel: setting(positiveInt, 100, { doc: 'Masks one channel may have at once (409 beyond).' }),
})

const storage = z
  .object({
    driver: setting(z.enum(storageDriverNames), 'embedded', {
      doc: `Storage driver: ${storageDriverNames.map((n) => `${n} (${storageDrivers[n].summary})`).join(' | ')}.`,
    }),
    ...storageDriverSettings,
    chunkSize: setting(
      z
        .number()
        .int()
        .min(4096)
        .max(16 * MiB),
      MiB,
      { doc: 'Chunk size of stored values, bytes.' },
    ),
    sweepIntervalMs: setting(positiveInt, 30000, {
      doc: 'How often expired objects are swept (embedded).',
    }),
    inject: unset(
      z.object({ latencyMs: nonNegativeInt.default(0), maxConcurrent: positiveInt.optional() }).strict(),
      { doc: 'Drill: `{ latencyMs, maxConcurrent }` adds real latency and a concurrency limit to storage.' },
    ),
  })
  .superRefine((s, ctx) => {
    for (const key of missingDriverSettings(s)) {
      ctx.addIssue({ code: 'custom', path: [key], message: `required when storage.driver is ${s.driver}` })
    }
  })

const cache = z.object({
  memoryBytes: setting(nonNegativeInt, 512 * MiB, { doc: 'In-process cache size per process, bytes.' }),
  ...cacheTierSettings,
})

const overload = z.object({
  eventLoopDelayMs: setting(positiveInt, 200, {
    doc: "Event-loop delay the process's own work accounts for (p99 over 1-2 s times its busy share; docs/overload.md) at which DVR reads are shed.",
  }),
  storageLatencyMs: setting(positiveInt, 100, {
    doc: "Read latency beyond the event loop's delay (p90 over 1 s of the tier that answered each read: storage, or the shared cache tier on a hit; docs/overload.md) at which DVR reads are shed.",
  }),
  maxInFlight: setting(positiveInt, 256, {
    doc: 'Storage operations in flight per process at which DVR reads are shed.',
  }),
  liveEdgeFactor: setting(positiveInt, 2, {
    doc: 'Live-edge reads are shed at this multiple of the DVR thresholds.',
  }),
  maxDvrInFlight: setting(positiveInt, 16, {
    doc: 'DVR segment requests a delivery process serves at once; one more is refused (503) at once rather than queued, so that live-edge reads, init segments and manifests wait behind at most this many DVR reads (docs/overload.md).',
  }),
})

export const configSchema = z.object({
  host: setting(z.string().min(1), '127.0.0.1', { flag: '--host', doc: 'Address every listener binds.' }),
  roles: setting(z.array(z.enum(['all', 'ingest', 'delivery', 'control'])).min(1), ['all'], {
    flag: '--role',
    kind: 'roles',
    doc: 'Roles this process serves: all | ingest | delivery | control (flag repeatable, env comma-separated).',
  }),
  ingest,
  delivery,
  control,
  storage,
  cache,
  overload,
  peers,
  channels: setting(
    z.record(z.string(), z.unknown()),
    {},
    {
      doc: 'Channels by name, each a channel config (docs/timing.md).',
    },
  ),
  log: z.object({
    level: setting(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info', {
      doc: 'Log level: fatal | error | warn | info | debug | trace | silent.',
    }),
  }),
})

export type Config = z.infer<typeof configSchema>

/** A role a process serves (docs/protocol.md#listeners-and-roles). */
export type Role = 'ingest' | 'delivery' | 'control'

/** The roles of `config`, `all` spelled out. */
export function rolesOf(config: Pick<Config, 'roles'>): Role[] {
  if (config.roles.includes('all')) return ['ingest', 'delivery', 'control']
  return [...new Set(config.roles as Role[])]
}
export type TokenEntry = z.infer<typeof tokenEntry>
