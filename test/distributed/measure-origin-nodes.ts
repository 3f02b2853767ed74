/**
 * Origin nodes on the test ring as child processes (`liveorigin serve --config`, Cassandra
 * storage, both memcached zones), and the measurements of the distributed shape taken through
 * them (docs/running-at-scale.md, "Measured on this machine"):
 * - PUT of 2 MB segments through a node: one keep-alive connection, sequential, p50/p99;
 * - Cassandra reads per segment on a fresh node during a 2,000-request storm, after the
 *   segments were written through to memcached by another node (from the node's `/metrics`);
 * - GET throughput of 2 MB segments served by the memcached tier through a node whose memory
 *   cache is small (8 MiB, rotating over more segments than it holds), with wrk, and the same
 *   node serving one segment from memory for comparison.
 *
 * `live-faults.test.ts` runs `measureOriginNodes` during `npm run test:distributed`. By hand,
 * against services started with the scripts (run from the repository root):
 *
 *   scripts/memcached/zones.sh start && scripts/cassandra/ring.sh start
 *   export LIVEORIGIN_TEST_CASSANDRA=127.0.0.1,127.0.0.2,127.0.0.3 "$(scripts/memcached/zones.sh env)"
 *   node --import tsx test/distributed/measure-origin-nodes.ts [puts=100] [cacheSeconds=10]
 */

import type { ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client, Pool } from 'undici'
import { runWrk, type WrkSummary } from '../../bench/lib/wrk.js'
import { startCli } from '../helpers/cli.js'
import { metricValue } from '../helpers/origin.js'
import {
  cassandraContactPoints,
  cassandraDataCenter,
  ensureSchema,
  memcachedZones,
  percentiles,
} from './env.js'

/** Keyspace of the origin-node tests and measurements on the test ring. */
export const ORIGIN_KEYSPACE = 'liveorigin_origin_test'

export interface OriginNodeOptions {
  /** Name used in messages. */
  readonly name: string
  /** The memcached zone this node reads first. */
  readonly localZone: string
  /** Namespace of the node's memcached keys (shared by the nodes of one test). */
  readonly keyPrefix: string
  readonly keyspace?: string
  /** `cache.memoryBytes` (default: the origin's default, 256 MiB). */
  readonly memoryBytes?: number
  /** `overload` thresholds (default: the origin's defaults). */
  readonly overload?: Readonly<Record<string, number>>
  /** More settings by section, e.g. `{ delivery: { holdPolling: false } }`. */
  readonly sections?: Readonly<Record<string, Readonly<Record<string, unknown>>>>
  /** Environment of the process (e.g. `LIVEORIGIN_DELIVERY_WORKERS`: 0 unless given). */
  readonly env?: NodeJS.ProcessEnv
}

/** One origin node: a `liveorigin serve` process on loopback ports. */
export interface OriginNode {
  readonly name: string
  readonly ingest: string
  readonly delivery: string
  readonly control: string
  readonly child: ChildProcess
  /** Whether the process has exited. */
  exited(): boolean
  /** The node's `/metrics` text. */
  metrics(): Promise<string>
  /** Everything the node printed (JSON log lines). */
  output(): string
  /** `kill -9` the process; resolves once it has exited. */
  kill(): Promise<void>
  /** SIGTERM (drain), SIGKILL if it has not exited within 15 s. */
  close(): Promise<void>
}

const live = new Set<ChildProcess>()
// A test process that dies must not leave origin processes behind.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

/**
 * Starts an origin node on the test ring and zones (LIVEORIGIN_TEST_CASSANDRA and
 * LIVEORIGIN_TEST_MEMCACHED_ZONES must be set). Every role runs in the one process.
 */
export async function startOriginNode(options: OriginNodeOptions): Promise<OriginNode> {
  const contactPoints = cassandraContactPoints()
  const zones = memcachedZones()
  if (!contactPoints || !zones) throw new Error('no test ring or memcached zones in the environment')
  await ensureSchema(options.keyspace ?? ORIGIN_KEYSPACE)
  const dir = mkdtempSync(join(tmpdir(), 'liveorigin-node-'))
  const file = join(dir, 'node.yaml')
  const config = {
    storage: {
      driver: 'cassandra',
      cassandra: {
        contactPoints,
        localDataCenter: cassandraDataCenter(),
        keyspace: options.keyspace ?? ORIGIN_KEYSPACE,
      },
    },
    cache: {
      ...(options.memoryBytes !== undefined ? { memoryBytes: options.memoryBytes } : {}),
      memcached: { zones, localZone: options.localZone, timeoutMs: 500, keyPrefix: options.keyPrefix },
    },
    ...(options.overload ? { overload: options.overload } : {}),
    ...options.sections,
    log: { level: 'info' },
  }
  // JSON is YAML.
  writeFileSync(file, JSON.stringify(config, null, 2))
  let cli: Awaited<ReturnType<typeof startCli>>
  try {
    // Generous: a loaded ring may be slow to answer a node's first queries.
    cli = await startCli(['--config', file], options.env ?? {}, 120_000)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const child = cli.child
  live.add(child)
  child.once('exit', () => live.delete(child))
  const stop = async (signal: NodeJS.Signals, graceMs: number) => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await exitOf(child)
    clearTimeout(timer)
  }
  return {
    name: options.name,
    ingest: cli.ingest,
    delivery: cli.delivery,
    control: cli.control,
    child,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    metrics: async () => {
      const res = await fetch(`${cli.control}/metrics`)
      if (!res.ok) throw new Error(`${options.name} /metrics: ${res.status}`)
      return res.text()
    },
    output: cli.output,
    kill: () => stop('SIGKILL', 0),
    close: () => stop('SIGTERM', 15_000),
  }
}

/** Creates (or replaces) a channel through a node's control API. */
export async function putChannel(
  node: OriginNode,
  channel: string,
  config: Record<string, unknown>,
): Promise<void> {
  const res = await fetch(`${node.control}/api/v1/channels/${channel}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(config),
  })
  if (!res.ok) throw new Error(`channel ${channel} on ${node.name}: ${res.status} ${await res.text()}`)
}

/** Storage and cache counters of one node, from its `/metrics`. */
export interface NodeCounters {
  /** Cassandra `list` operations (candidate lists read from storage). */
  list: number
  /** Cassandra `getChunk` operations (body chunks read from storage). */
  getChunk: number
  memoryHit: number
  memoryMiss: number
  memcachedHit: number
  memcachedMiss: number
  /** memcached gets that failed (timed out, refused) in some zone: each may cost a storage read. */
  memcachedGetErrors: number
}

export async function nodeCounters(node: OriginNode): Promise<NodeCounters> {
  const text = await node.metrics()
  const storage = (op: string) =>
    metricValue(text, 'liveorigin_storage_operations_total', { driver: 'cassandra', op })
  const cache = (tier: string, result: string) =>
    metricValue(text, 'liveorigin_cache_operations_total', { tier, op: 'get', result })
  return {
    list: storage('list'),
    getChunk: storage('getChunk'),
    memoryHit: cache('memory', 'hit'),
    memoryMiss: cache('memory', 'miss'),
    // Cache tiers other than memory report a found value as `ok` (instrumentCache).
    memcachedHit: cache('memcached', 'ok'),
    memcachedMiss: cache('memcached', 'miss'),
    memcachedGetErrors: metricValue(text, 'liveorigin_cache_errors_total', { op: 'get' }),
  }
}

function delta(after: NodeCounters, before: NodeCounters): NodeCounters {
  const out = { ...after }
  for (const k of Object.keys(out) as Array<keyof NodeCounters>) out[k] = after[k] - before[k]
  return out
}

export interface MeasureOptions {
  /** Measured 2 MB PUTs (after 10 unmeasured ones). Default 100. */
  puts?: number
  /** Duration of the cache-tier GET run, seconds. Default 10. */
  cacheSeconds?: number
  /** wrk connections of the GET runs. Default 16. */
  connections?: number
  /** Requests of the storm on the fresh node. Default 2000. */
  stormRequests?: number
}

export interface Measurements {
  /** 1-minute load average before and after. */
  load: { before: number; after: number }
  put: { count: number; bytes: number; failed: number; p50: number; p90: number; p99: number; max: number }
  storm: {
    requests: number
    segments: number
    segmentBytes: number
    ok: number
    seconds: number
    /** Cassandra reads on the fresh node during the storm. */
    list: number
    getChunk: number
    memcachedHits: number
    /** memcached gets that failed on the fresh node during the storm. */
    memcachedGetErrors: number
  }
  /** 2 MB GETs rotating over more segments than the node's memory cache holds. */
  cacheTier: { run: WrkSummary; segments: number; counters: NodeCounters }
  /** The same node, one 2 MB segment, served from its memory cache. */
  memoryTier: { run: WrkSummary; counters: NodeCounters }
}

const SEGMENT_BYTES = 2_000_000
const STORM_SEGMENT_BYTES = 500_000
const STORM_SEGMENTS = 4
/** Segments the cache-tier run rotates over: 64 MB, eight times what the node's memory holds. */
const ROTATION = 32
/** Memory cache of the reading node: a 2 MB body is cacheable (≤ a quarter), four fit. */
const SMALL_MEMORY = 8 * 1024 * 1024
/** Shedding is measured elsewhere: these runs measure the read path, not the shedder. */
const NO_SHEDDING = {
  eventLoopDelayMs: 60_000,
  storageLatencyMs: 60_000,
  maxInFlight: 100_000,
  maxDvrInFlight: 100_000,
}

/**
 * Starts a writer node (zone a) and, after the writes, a fresh reader node (zone b, 8 MiB
 * memory cache), takes the measurements, and stops both.
 */
export async function measureOriginNodes(options: MeasureOptions = {}): Promise<Measurements> {
  const puts = options.puts ?? 100
  const cacheSeconds = options.cacheSeconds ?? 10
  const connections = options.connections ?? 16
  const stormRequests = options.stormRequests ?? 2000
  const loadBefore = loadavg()[0] ?? 0
  const prefix = `lom:${randomUUID().slice(0, 8)}:`
  const channel = `measure${randomUUID().slice(0, 8)}`
  const nodes: OriginNode[] = []
  try {
    const writer = await startOriginNode({
      name: 'writer',
      localZone: 'a',
      keyPrefix: prefix,
      overload: NO_SHEDDING,
    })
    nodes.push(writer)
    // Every segment lies well inside the DVR window and before the live edge: plain 200s.
    // They are written an hour after they were due; a late allowance longer than that keeps
    // them on time. (A copy committed after A(N) + R stays out of selection for D after its
    // commit, so a storm starting within D of the last PUT would be answered 410.)
    await putChannel(writer, channel, {
      segmentDurationMs: 2000,
      availabilityStartTime: Date.now() - 3_600_000,
      lateAllowanceMs: 2 * 3_600_000,
      media: '$RepresentationID$/$Number$.dat',
      pipelines: ['east', 'west'],
    })

    // PUT latency: one keep-alive connection, sequential, 10 warm-up PUTs.
    const client = new Client(writer.ingest, { pipelining: 1 })
    const samples: number[] = []
    let failed = 0
    const warmup = 10
    for (let i = 0; i < warmup + puts; i++) {
      const body = randomBytes(SEGMENT_BYTES)
      const started = performance.now()
      const res = await client.request({
        method: 'PUT',
        path: `/${channel}/v/${i + 1}.dat`,
        body,
        headers: { 'pipeline-id': 'east' },
      })
      await res.body.dump()
      const ms = performance.now() - started
      if (res.statusCode !== 201) failed++
      if (i >= warmup) samples.push(ms)
    }
    await client.close()
    const putP = percentiles(samples)

    // The storm's segments, written (and written through) by the writer before the reader starts.
    for (let i = 0; i < STORM_SEGMENTS; i++) {
      const res = await fetch(`${writer.ingest}/${channel}/storm/${i + 1}.dat`, {
        method: 'PUT',
        body: randomBytes(STORM_SEGMENT_BYTES),
        headers: { 'pipeline-id': 'east' },
      })
      if (res.status !== 201) throw new Error(`storm segment ${i + 1}: ${res.status} ${await res.text()}`)
    }

    const reader = await startOriginNode({
      name: 'reader',
      localZone: 'b',
      keyPrefix: prefix,
      memoryBytes: SMALL_MEMORY,
      overload: NO_SHEDDING,
    })
    nodes.push(reader)

    // Storm: every request in flight at once, one connection each.
    const beforeStorm = await nodeCounters(reader)
    const pool = new Pool(reader.delivery, { connections: stormRequests, pipelining: 1 })
    const stormStarted = performance.now()
    const answers = await Promise.all(
      Array.from({ length: stormRequests }, async (_, i) => {
        const res = await pool.request({
          method: 'GET',
          path: `/${channel}/storm/${(i % STORM_SEGMENTS) + 1}.dat`,
        })
        const bytes = (await res.body.arrayBuffer()).byteLength
        return res.statusCode === 200 && bytes === STORM_SEGMENT_BYTES
      }),
    )
    const stormSeconds = (performance.now() - stormStarted) / 1000
    await pool.close()
    const storm = delta(await nodeCounters(reader), beforeStorm)

    // Cache tier: wrk's threads start half a rotation apart, so that no request finds a body
    // another thread just brought into memory.
    const paths = Array.from({ length: ROTATION }, (_, i) => `/${channel}/v/${warmup + i + 1}.dat`)
    const rotate = `
local paths = { ${paths.map((p) => `"${p}"`).join(', ')} }
local threads = 0
setup = function(thread) thread:set("offset", threads * ${ROTATION / 2}); threads = threads + 1 end
local i = 0
init = function(args) i = offset end
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
`
    const beforeCache = await nodeCounters(reader)
    const cacheRun = await runWrk({
      url: `${reader.delivery}${paths[0]}`,
      connections,
      threads: 2,
      durationSec: cacheSeconds,
      answerBytes: SEGMENT_BYTES + 400,
      script: rotate,
    })
    const cacheCounters = delta(await nodeCounters(reader), beforeCache)

    const beforeMemory = await nodeCounters(reader)
    const memoryRun = await runWrk({
      url: `${reader.delivery}${paths[0]}`,
      connections,
      threads: 2,
      durationSec: Math.max(3, Math.round(cacheSeconds / 2)),
      answerBytes: SEGMENT_BYTES + 400,
    })
    const memoryCounters = delta(await nodeCounters(reader), beforeMemory)

    return {
      load: { before: loadBefore, after: loadavg()[0] ?? 0 },
      put: { count: samples.length, bytes: SEGMENT_BYTES, failed, ...putP },
      storm: {
        requests: stormRequests,
        segments: STORM_SEGMENTS,
        segmentBytes: STORM_SEGMENT_BYTES,
        ok: answers.filter(Boolean).length,
        seconds: stormSeconds,
        list: storm.list,
        getChunk: storm.getChunk,
        memcachedHits: storm.memcachedHit,
        memcachedGetErrors: storm.memcachedGetErrors,
      },
      cacheTier: { run: cacheRun, segments: ROTATION, counters: cacheCounters },
      memoryTier: { run: memoryRun, counters: memoryCounters },
    }
  } finally {
    for (const node of nodes) await node.close()
  }
}

/** The measurements as printable lines. */
export function formatMeasurements(m: Measurements): string[] {
  const mbps = (r: WrkSummary) => r.bytes / r.durationSec / 1e6
  const tier = (label: string, r: WrkSummary, c: NodeCounters) =>
    `${label}: ${(r.requests / r.durationSec).toFixed(0)} req/s, ${mbps(r).toFixed(0)} MB/s, ` +
    `p50 ${r.latencyMs.p50.toFixed(1)} ms, p99 ${r.latencyMs.p99.toFixed(1)} ms, ${r.non2xx3xx} non-2xx, ${r.errors} errors ` +
    `(memory hits ${c.memoryHit}, memcached hits ${c.memcachedHit}, Cassandra list ${c.list} getChunk ${c.getChunk})`
  return [
    `load average ${m.load.before.toFixed(1)} → ${m.load.after.toFixed(1)}`,
    `PUT ${m.put.bytes} bytes through a node, one keep-alive connection, sequential (${m.put.count}, ${m.put.failed} failed): ` +
      `p50 ${m.put.p50.toFixed(1)} ms, p90 ${m.put.p90.toFixed(1)} ms, p99 ${m.put.p99.toFixed(1)} ms, max ${m.put.max.toFixed(1)} ms`,
    `storm of ${m.storm.requests} GETs over ${m.storm.segments} segments of ${m.storm.segmentBytes} bytes on a fresh node ` +
      `(${m.storm.ok} ok, ${m.storm.seconds.toFixed(1)} s): Cassandra list ${m.storm.list}, getChunk ${m.storm.getChunk} ` +
      `(${((m.storm.list + m.storm.getChunk) / m.storm.segments).toFixed(2)} reads per segment), memcached hits ${m.storm.memcachedHits}, failed memcached gets ${m.storm.memcachedGetErrors}`,
    tier(
      `GET 2 MB from the memcached tier (${m.cacheTier.segments} segments rotating, 8 MiB memory cache)`,
      m.cacheTier.run,
      m.cacheTier.counters,
    ),
    tier('GET 2 MB from the memory cache (one segment)', m.memoryTier.run, m.memoryTier.counters),
  ]
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [puts = 100, cacheSeconds = 10] = process.argv.slice(2).map(Number)
  const m = await measureOriginNodes({ puts, cacheSeconds })
  for (const line of formatMeasurements(m)) console.log(line)
}
