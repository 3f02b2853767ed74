/**
 * The distributed shape's targets (docs/benchmarks.md#on-the-ring), measured when a Cassandra
 * ring and memcached zones are given as the distributed tests take them
 * (`LIVEORIGIN_TEST_CASSANDRA`, `LIVEORIGIN_TEST_MEMCACHED_ZONES`; `scripts/cassandra/ring.sh`
 * and `scripts/memcached/zones.sh` start them on loopback). Origin nodes are `liveorigin
 * serve` processes on that ring, as `test/distributed/measure-origin-nodes.ts` starts them;
 * without a ring both scenarios are reported skipped.
 * - `ring-put`: sequential 2 MiB PUTs on one keep-alive connection through one node
 *   (Cassandra storage, write-through to both zones). Target: p99 ≤ 60 ms.
 * - `ring-held-release`: GETs held on node B (a delivery worker, as `serve` runs by default),
 *   each released by the PUT of its object on node A: from the PUT's 2xx to the held answer's
 *   head on B, one release per sample. Target: p99 ≤ 60 ms.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { Client, request } from 'undici'
import { cassandraContactPoints, memcachedZones } from '../../test/distributed/env.js'
import { type OriginNode, putChannel, startOriginNode } from '../../test/distributed/measure-origin-nodes.js'
import { metricValue } from '../../test/helpers/origin.js'
import { diffCounts, parseMetrics, type Sample, sumBy } from '../lib/metrics.js'
import { summarize } from '../lib/percentile.js'
import { row } from '../lib/report.js'
import { forNumber } from '../lib/segment.js'
import { startedAgo } from '../lib/timing.js'
import { PIPELINE_HEADERS, type Scenario, type ScenarioOutcome } from './types.js'

const KEYSPACE = 'liveorigin_bench'
const D = 2000
const PUTS = 200
const RELEASE_BATCHES = 5
const RELEASES_PER_BATCH = 20

function ringMissing(): string | undefined {
  if (!cassandraContactPoints()) return 'no Cassandra ring (set LIVEORIGIN_TEST_CASSANDRA)'
  if (!memcachedZones()) return 'no memcached zones (set LIVEORIGIN_TEST_MEMCACHED_ZONES)'
  return undefined
}

export const ringPut: Scenario = {
  id: 'ring-put',
  title: 'PUT of a 2 MiB segment through a node on a 3-node Cassandra ring',
  spec: 'PUT on a 3-node Cassandra ring on loopback: p99 ≤ 60 ms',
  baseline: false,
  unavailable: ringMissing,
  async run(ctx): Promise<ScenarioOutcome> {
    const { progress } = ctx
    const node = await startOriginNode({
      name: 'bench',
      localZone: 'a',
      keyPrefix: `bench:${randomUUID().slice(0, 8)}:`,
      keyspace: KEYSPACE,
    })
    const channel = `ringput${randomUUID().slice(0, 8)}`
    const client = new Client(node.ingest, { pipelining: 0 })
    try {
      // As the embedded `put` scenario: segment 1 of a new rendition each time.
      const t = startedAgo(ctx.now(), ctx.media.durationMs, 500)
      await putChannel(node, channel, {
        segmentDurationMs: t.durationMs,
        availabilityStartTime: t.ast,
        media: '$RepresentationID$/$Number$.m4s',
        lateAllowanceMs: 3_600_000,
      })
      const body = forNumber(ctx.media, 1)
      const before = parseMetrics(await node.metrics())
      progress.begin('ring-put/liveorigin')
      const latencies: number[] = []
      let failed = 0
      for (let i = 0; i < PUTS; i++) {
        const t0 = performance.now()
        const res = await client.request({
          method: 'PUT',
          path: `/${channel}/w${i}/1.m4s`,
          body,
          headers: { 'content-type': 'video/mp4', ...PIPELINE_HEADERS },
        })
        await res.body.dump()
        latencies.push(performance.now() - t0)
        if (res.statusCode < 200 || res.statusCode >= 300) failed++
        progress.update({ requests: i + 1, detail: `${i + 1}/${PUTS} PUTs` })
      }
      const s = summarize(latencies)
      progress.end(`${s.count} PUTs, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms`)
      const storage = storageTime(before, parseMetrics(await node.metrics()), PUTS)
      return {
        rows: [
          row({ metric: 'PUT latency on the ring, mean', unit: 'ms', origin: s.mean }),
          row({
            metric: 'of which Cassandra operations (driver calls, summed), mean per PUT',
            unit: 'ms',
            origin: storage.totalMs,
          }),
          row({ metric: 'PUT latency on the ring, p50', unit: 'ms', origin: s.p50 }),
          row({
            metric: 'PUT latency on the ring, p99',
            unit: 'ms',
            origin: s.p99,
            target: { on: 'origin', op: '<=', value: 60 },
          }),
        ],
        details: { putMs: s, puts: PUTS, failed, storagePerPut: storage.byOp },
        notes: [
          `Cassandra operations per PUT: ${storage.describe}; summed over operations that may overlap (chunks are written as they fill)`,
          ...(failed > 0 ? [`${failed} PUTs were not answered 2xx`] : []),
        ],
      }
    } finally {
      await client.close()
      await node.close()
    }
  },
}

/**
 * The storage driver's operations during `puts` PUTs, from the node's
 * `liveorigin_storage_operation_duration_seconds` (count and sum by `op`): how many of each
 * per PUT and their mean time, and the time of all of them per PUT.
 */
function storageTime(before: readonly Sample[], after: readonly Sample[], puts: number) {
  const name = 'liveorigin_storage_operation_duration_seconds'
  const counts = diffCounts(sumBy(before, `${name}_count`, 'op'), sumBy(after, `${name}_count`, 'op'))
  const sums = diffCounts(sumBy(before, `${name}_sum`, 'op'), sumBy(after, `${name}_sum`, 'op'))
  const byOp: Record<string, { perPut: number; meanMs: number }> = {}
  let totalMs = 0
  for (const [op, count] of Object.entries(counts)) {
    const seconds = sums[op] ?? 0
    byOp[op] = { perPut: count / puts, meanMs: (seconds * 1000) / count }
    totalMs += (seconds * 1000) / puts
  }
  const describe = Object.entries(byOp)
    .map(([op, o]) => `${op} ${o.perPut.toFixed(1)} × ${o.meanMs.toFixed(1)} ms`)
    .join(', ')
  return { byOp, totalMs, describe: describe || 'none counted' }
}

export const ringHeldRelease: Scenario = {
  id: 'ring-held-release',
  title: 'GETs held on one node released by PUTs on another, on the ring',
  spec: 'Held request released ≤ 60 ms (p99) after the PUT is acknowledged, across nodes',
  baseline: false,
  unavailable: ringMissing,
  async run(ctx): Promise<ScenarioOutcome> {
    const { progress } = ctx
    const keyPrefix = `bench:${randomUUID().slice(0, 8)}:`
    const channel = `ringhold${randomUUID().slice(0, 8)}`
    const nodes: OriginNode[] = []
    try {
      const a = await startOriginNode({ name: 'A', localZone: 'a', keyPrefix, keyspace: KEYSPACE })
      nodes.push(a)
      const ast = ctx.now()
      // H and R of a minute: nothing but the commit answers a held request within the run.
      await putChannel(a, channel, {
        segmentDurationMs: D,
        availabilityStartTime: ast,
        holdWindowMs: 60_000,
        lateAllowanceMs: 60_000,
        media: '$RepresentationID$/$Number$.ts',
      })
      const b = await startOriginNode({
        name: 'B',
        localZone: 'b',
        keyPrefix,
        keyspace: KEYSPACE,
        env: { LIVEORIGIN_DELIVERY_WORKERS: '1' },
      })
      nodes.push(b)
      progress.begin('ring-held-release/liveorigin')
      const releases: number[] = []
      for (let batch = 0; batch < RELEASE_BATCHES; batch++) {
        const n = Math.ceil((ctx.now() - ast) / D) + 3
        const paths = Array.from(
          { length: RELEASES_PER_BATCH },
          (_, i) => `/${channel}/r${batch}x${i}/${n}.ts`,
        )
        const held = paths.map(async (path) => {
          const res = await request(`${b.delivery}${path}`)
          const at = performance.now()
          await res.body.dump()
          return { status: res.statusCode, at }
        })
        await waitForHeld(b, RELEASES_PER_BATCH)
        for (const [i, path] of paths.entries()) {
          const body = randomBytes(64 * 1024)
          const res = await request(`${a.ingest}${path}`, { method: 'PUT', body, headers: PIPELINE_HEADERS })
          const ackedAt = performance.now()
          await res.body.dump()
          if (res.statusCode !== 201) throw new Error(`PUT ${path} on A: ${res.statusCode}`)
          const answer = await held[i]!
          if (answer.status !== 200) throw new Error(`GET ${path} on B: ${answer.status}`)
          releases.push(Math.max(0, answer.at - ackedAt))
          progress.update({ requests: releases.length, detail: `batch ${batch + 1}/${RELEASE_BATCHES}` })
        }
      }
      const s = summarize(releases)
      progress.end(`${s.count} releases, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms`)
      return {
        rows: [
          row({ metric: 'release on B after the PUT ack on A, p50', unit: 'ms', origin: s.p50 }),
          row({
            metric: 'release on B after the PUT ack on A, p99',
            unit: 'ms',
            origin: s.p99,
            target: { on: 'origin', op: '<=', value: 60 },
          }),
        ],
        details: { releaseMs: s, batches: RELEASE_BATCHES, perBatch: RELEASES_PER_BATCH },
        notes: [],
      }
    } finally {
      await Promise.all(nodes.map((n) => n.close()))
    }
  },
}

/** Waits until `count` requests are held on `node` (its `/metrics`), for at most 30 s. */
async function waitForHeld(node: OriginNode, count: number): Promise<void> {
  const deadline = Date.now() + 30_000
  while (metricValue(await node.metrics(), 'liveorigin_held_requests') < count) {
    if (Date.now() > deadline) throw new Error(`fewer than ${count} requests held on ${node.name} after 30 s`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
