/**
 * Storage stays flat (docs/storage.md, "Cassandra tables"; docs/running-at-scale.md#expiry-model):
 * a 10-minute live stream with a 60 s DVR window, published by the simulator (its real fMP4
 * media, 2 pipelines, 2 renditions, 2 s segments, an MPD per segment per pipeline) through two
 * origin nodes on the ring (a round-robin relay sends each PUT to the next node), into a
 * keyspace of its own whose chunks table has 1-minute time windows, a 30 s gc_grace, expired
 * SSTables looked for every 30 s and memtables flushed every 15 s. Every 30 s the test reads
 * the chunks table's SSTable bytes on every node (`system_views.disk_usage`). Once the oldest
 * window can expire (about DVR + margins + window + gc_grace: 5–6 min), the level must stay
 * flat: the samples of the last 90 s may not exceed the level of minutes 5–7 by more than
 * `TOLERANCE` (+ the MiB rounding of each node). Media expire with their DVR window; the init
 * segments (PUT once) and manifests are extended while the stream runs, never kept longer
 * than needed, and are still served at the end.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Agent, createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import cassandra from 'cassandra-driver'
import { loadRenditions } from '../../src/simulate/media.js'
import { parseSimulateArgs } from '../../src/simulate/options.js'
import { Simulation } from '../../src/simulate/publisher.js'
import { applyCassandraSchema, tablesWithChunkOptions } from '../../src/storage/cassandra-schema.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'
import { cassandraContactPoints, cassandraDataCenter, NO_RING } from './env.js'

const contactPoints = cassandraContactPoints()
const skip = contactPoints ? {} : { skip: NO_RING }
const KEYSPACE = 'liveorigin_flat_storage_test'
const STREAM_MS = 10 * 60_000
const SAMPLE_EVERY_MS = 30_000
/** The steady level: the samples between these times after the start. */
const STEADY_FROM_MS = 300_000
const STEADY_TO_MS = 420_000
/** The samples held against it. */
const LAST_FROM_MS = 510_000
/** How much the last samples may exceed the steady level (a fraction of it). */
const TOLERANCE = 0.25

/** The chunks table as a keyspace of 1-minute DVR windows would declare it. */
const CHUNKS = {
  compaction: {
    class: 'TimeWindowCompactionStrategy',
    compaction_window_unit: 'MINUTES',
    compaction_window_size: '1',
    expired_sstable_check_frequency_seconds: '30',
  },
  defaultTimeToLive: 600,
  gcGraceSeconds: 30,
  memtableFlushPeriodMs: 15_000,
}

/** An HTTP relay that sends each request to the next of `targets`, in turn. */
async function roundRobin(targets: string[]): Promise<{ url: string; server: Server; agent: Agent }> {
  let next = 0
  const agent = new Agent({ keepAlive: true, maxSockets: 16 })
  const server = createServer((req, res) => {
    const target = new URL(targets[next++ % targets.length]!)
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' })
      res.end(String(err))
    })
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, agent }
}

describe('storage stays flat through a 10-minute stream with a 60 s DVR window', skip, () => {
  let client: cassandra.Client
  let a: TestOrigin
  let b: TestOrigin
  let relay: Awaited<ReturnType<typeof roundRobin>>

  before(async () => {
    client = new cassandra.Client({
      contactPoints: contactPoints!,
      localDataCenter: cassandraDataCenter(),
      protocolOptions: { maxSchemaAgreementWaitSeconds: 60 },
      socketOptions: { readTimeout: 60_000 },
    })
    await client.connect()
    // A fresh keyspace each run: what an earlier run left would blur the level.
    await client.execute(`DROP KEYSPACE IF EXISTS ${KEYSPACE}`)
    await applyCassandraSchema(
      client,
      KEYSPACE,
      { class: 'NetworkTopologyStrategy', dataCenters: { [cassandraDataCenter()]: 3 } },
      undefined,
      tablesWithChunkOptions(CHUNKS),
    )
    const node = {
      'storage.driver': 'cassandra',
      'storage.cassandra': { contactPoints, localDataCenter: cassandraDataCenter(), keyspace: KEYSPACE },
    }
    a = await startOrigin(node)
    b = await startOrigin(node)
    relay = await roundRobin([a.ingest, b.ingest])
  })

  after(async () => {
    relay?.server.close()
    relay?.agent.destroy()
    await a?.close()
    await b?.close()
    await client?.execute(`DROP KEYSPACE IF EXISTS ${KEYSPACE}`).catch(() => {})
    await client?.shutdown()
  })

  /** The chunks table's SSTable bytes on every node of the ring (MiB, each rounded by its node). */
  async function chunksMiB(): Promise<number> {
    let sum = 0
    for (const host of client.hosts.values()) {
      const rs = await client.execute(
        'SELECT mebibytes FROM system_views.disk_usage WHERE keyspace_name = ? AND table_name = ?',
        [KEYSPACE, 'chunks'],
        { host, prepare: false },
      )
      sum += Number(rs.first()?.get('mebibytes') ?? 0)
    }
    return sum
  }

  it('keeps the chunks table at its steady level, init segments and manifests served to the end', {
    timeout: STREAM_MS + 5 * 60_000,
  }, async () => {
    const channel = `flat${randomUUID().slice(0, 8)}`
    const options = parseSimulateArgs([
      '--ingest',
      relay.url,
      '--control',
      a.control,
      '--delivery',
      a.delivery,
      '--time-source',
      'none',
      '--channel',
      channel,
      '--duration',
      `${STREAM_MS / 1000}s`,
      '--dvr',
      '60s',
    ])
    // Two video renditions: about 60 kB per segment time per pipeline.
    const sim = new Simulation(
      options,
      loadRenditions()
        .filter((r) => r.contentType === 'video')
        .slice(0, 2),
    )
    const started = Date.now()
    const samples: Array<{ atMs: number; mib: number }> = []
    let sampling = true
    const sampler = (async () => {
      for (let at = SAMPLE_EVERY_MS; sampling && at <= STREAM_MS; at += SAMPLE_EVERY_MS) {
        const wait = started + at - Date.now()
        if (wait > 0) await new Promise((r) => setTimeout(r, wait))
        if (!sampling) break
        samples.push({ atMs: Date.now() - started, mib: await chunksMiB() })
      }
    })()
    const result = await sim.run()
    sampling = false
    await sampler
    const shown = samples.map((s) => `${Math.round(s.atMs / 1000)}s ${s.mib} MiB`).join(', ')

    const sent = result.pipelines.reduce((n, p) => n + p.segmentsOk, 0)
    const failed = result.pipelines.reduce((n, p) => n + p.segmentsFailed, 0)
    assert.ok(sent >= 0.99 * 2 * 2 * (STREAM_MS / 2000), `segments stored: ${sent}, failed: ${failed}`)

    const steady = samples.filter((s) => s.atMs >= STEADY_FROM_MS && s.atMs <= STEADY_TO_MS)
    const last = samples.filter((s) => s.atMs >= LAST_FROM_MS)
    assert.ok(steady.length >= 2 && last.length >= 2, `too few samples: ${shown}`)
    const level = Math.max(...steady.map((s) => s.mib))
    // The level holds more than a DVR window of media on each node (the test measures
    // something): 2 pipelines × ~60 kB/s × 60 s × 3 replicas ≈ 10 MiB.
    assert.ok(level >= 10, `steady level ${level} MiB (${shown})`)
    // Each node rounds its bytes up to a MiB.
    const bound = level * (1 + TOLERANCE) + client.hosts.length
    for (const s of last) {
      assert.ok(s.mib <= bound, `${s.mib} MiB at ${Math.round(s.atMs / 1000)}s > ${bound} MiB (${shown})`)
    }

    // The init segments PUT once at the start, and the manifests, outlived 10 DVR windows.
    for (const origin of [a, b]) {
      for (const path of ['init-0.m4s', 'init-1.m4s', 'manifest.mpd']) {
        const res = await fetch(`${origin.delivery}/${channel}/${path}`)
        assert.equal(res.status, 200, `${path} on ${origin === a ? 'A' : 'B'} (${shown})`)
        await res.arrayBuffer()
      }
    }
    console.log(`chunks table (all nodes): ${shown}`)
  })
})
