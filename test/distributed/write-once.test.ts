/**
 * Write-once segments and candidate logs on the test ring and zones (docs/storage.md#candidate-logs,
 * docs/running-at-scale.md): a segment's commit reads nothing from Cassandra; the candidate
 * log in memcached loses no pipeline's copy however many commit at once; a copy whose writer
 * died between its commit and its confirmation in the log is listed by every reader soon
 * after; a reader that went to Cassandra refills memcached, so the next one does not.
 *
 * Then origin processes (`liveorigin serve`): four pipelines committing one segment through
 * four nodes, one node killed with SIGKILL right after its PUT's 2xx, every copy listed on the
 * three others within 1 s; and the storage and memcached operations of one segment while 200
 * requests are held on each of three nodes, against the capacity model's figures.
 */

import assert from 'node:assert/strict'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { createMemcachedCache } from '../../src/cache/memcached.js'
import { createMemoryCache } from '../../src/cache/memory.js'
import type { CacheStore } from '../../src/cache/types.js'
import { NEW_OBJECT_COSTS, putCosts, READ_COSTS } from '../../src/capacity/model.js'
import { DEFAULT_POLL_SCHEDULE, pollCost } from '../../src/delivery/poll-schedule.js'
import { parseLog } from '../../src/objects/candidate-log.js'
import { candidatesKey, ObjectReader, PENDING_RESOLVE_MS } from '../../src/objects/reader.js'
import { createMetrics } from '../../src/observability/metrics.js'
import { createCassandraDriver } from '../../src/storage/cassandra.js'
import { instrumentCache, instrumentDriver } from '../../src/storage/instrumented.js'
import { ObjectStore } from '../../src/storage/object-store.js'
import type { ObjectMeta, StorageDriver } from '../../src/storage/types.js'
import { waitFor } from '../helpers/http.js'
import { metricValue } from '../helpers/origin.js'
import {
  cassandraContactPoints,
  cassandraDataCenter,
  ensureSchema,
  memcachedZones,
  NO_MEMCACHED,
  NO_RING,
} from './env.js'
import { type OriginNode, putChannel, startOriginNode } from './measure-origin-nodes.js'

const contactPoints = cassandraContactPoints()
const zones = memcachedZones()
const skip = !contactPoints ? { skip: NO_RING } : !zones ? { skip: NO_MEMCACHED } : {}
const KEYSPACE = 'liveorigin_writeonce_test'
const HOUR = 3_600_000

async function* once(bytes: Buffer): AsyncIterable<Uint8Array> {
  yield bytes
}

type Counts = Record<string, number>

/** One node's read path, in this process: its own driver, zone and counters. */
interface Node {
  readonly store: ObjectStore
  readonly reader: ObjectReader
  readonly driver: StorageDriver
  readonly cache: CacheStore
  /** Driver and memcached operations, by op (`appendLog`, `getLog`, `list`, …). */
  readonly ops: Counts
}

describe('write-once commits and candidate logs (ring and zones)', skip, () => {
  const prefix = `lowo:${randomUUID().slice(0, 8)}:`
  const channel = `wo${randomUUID().slice(0, 8)}`
  const nodes: Node[] = []

  function node(localZone: string, now?: () => number): Node {
    const ops: Counts = {}
    const count = (e: { op: string }) => {
      ops[e.op] = (ops[e.op] ?? 0) + 1
    }
    const driver = instrumentDriver(
      createCassandraDriver({
        contactPoints: contactPoints ?? [],
        localDataCenter: cassandraDataCenter(),
        keyspace: KEYSPACE,
        ...(now ? { now } : {}),
      }),
      count,
    )
    const cache = instrumentCache(
      createMemcachedCache({ zones: zones ?? [], localZone, timeoutMs: 500, keyPrefix: prefix }),
      count,
    )
    const store = new ObjectStore(driver)
    const reader = new ObjectReader(
      store,
      createMemoryCache({ maxBytes: 16 * 1024 * 1024 }),
      cache,
      createMetrics({ defaultMetrics: false }),
      { maxCachedObjectBytes: 4 * 1024 * 1024 },
    )
    const n = { store, reader, driver, cache, ops }
    nodes.push(n)
    return n
  }

  /** A PUT of a segment as ingest makes it: announced, committed write-once, confirmed. */
  async function putSegment(n: Node, path: string, pipeline: string, confirm = true): Promise<ObjectMeta> {
    const bytes = randomBytes(20_000)
    const { meta } = await n.store.write({ channel, path, pipeline }, once(bytes), {
      contentType: 'video/mp4',
      expiresAt: Date.now() + HOUR,
      writeOnce: true,
      beforeCommit: (m) => n.reader.committing(m),
    })
    if (confirm) await n.reader.written(meta, bytes)
    return meta
  }

  const tokens = (list: readonly ObjectMeta[]) => list.map((m) => m.token).sort()
  const clear = (c: Counts) => {
    for (const k of Object.keys(c)) delete c[k]
  }

  before(async () => {
    await ensureSchema(KEYSPACE)
  })
  after(async () => {
    for (const n of nodes) {
      await n.cache.close()
      await n.driver.close()
    }
  })

  it('a segment commit is placed by the writer clock alone: it reads nothing it replaces', async () => {
    // A node whose clock runs a minute behind: a commit that read the record it replaces
    // would write after it (as manifests do); a write-once commit does not, and loses.
    const ahead = node('a')
    const behind = node('b', () => Date.now() - 60_000)
    const path = 'v/clock.m4s'
    const first = await putSegment(ahead, path, 'east')
    clear(behind.ops)
    await putSegment(behind, path, 'east')
    // The log exists (the first PUT created and sealed it): no listing either.
    assert.deepEqual(behind.ops, { putChunk: 1, appendLog: 2, commit: 1, set: 1 })
    assert.deepEqual(tokens(await ahead.store.list(channel, path)), [first.token])
    // The same commit without write-once reads the record first and replaces it.
    const manifest = await behind.store.write({ channel, path, pipeline: 'east' }, once(Buffer.from('x')), {
      contentType: 'video/mp4',
      expiresAt: Date.now() + HOUR,
    })
    assert.deepEqual(tokens(await ahead.store.list(channel, path)), [manifest.meta.token])
  })

  it('sixteen pipelines committing one segment through sixteen nodes at once: every node lists every copy', async () => {
    const writers = Array.from({ length: 16 }, (_, i) => node(i % 2 === 0 ? 'a' : 'b'))
    const path = 'v/race.m4s'
    const metas = await Promise.all(writers.map((w, i) => putSegment(w, path, `p${i}`)))
    // The first writer seals the new log in the background: readers before that list storage.
    await waitFor('the log sealed in both zones', async () => {
      for (const zone of ['a', 'b']) {
        const log = await writers[zone === 'a' ? 0 : 1]!.cache.getLog!(candidatesKey(channel, path), true)
        if (!log || !parseLog(log, Date.now())?.sealed) return false
      }
      return true
    })
    for (const w of writers) clear(w.ops)
    for (const w of writers) {
      assert.deepEqual(tokens(await w.reader.candidates(channel, path)), tokens(metas))
      assert.equal(w.ops.list, undefined, 'listed from the log, no Cassandra read')
    }
  })

  it('a copy committed by a writer that died before confirming it is listed by every reader', async () => {
    const writer = node('a')
    const readers = [node('a'), node('b')]
    const path = 'v/crash.m4s'
    // The log exists (another pipeline's copy), so readers have a log that lacks the new copy.
    const west = await putSegment(writer, path, 'west')
    for (const r of readers) assert.deepEqual(tokens(await r.reader.candidates(channel, path)), [west.token])
    const east = await putSegment(writer, path, 'east', false)
    const committedAt = performance.now()
    const listedAfter: number[] = []
    for (const r of readers) {
      for (;;) {
        const list = await r.reader.candidates(channel, path)
        if (list.some((m) => m.token === east.token)) break
        assert.ok(performance.now() - committedAt < PENDING_RESOLVE_MS + 4000, 'the copy never showed')
        await new Promise((res) => setTimeout(res, 20))
      }
      listedAfter.push(performance.now() - committedAt)
    }
    // Listed once the announcement was old enough to look for in storage, not before.
    assert.ok(listedAfter[0]! >= PENDING_RESOLVE_MS - 50, `listed ${listedAfter[0]} ms after the commit`)
    // The reader that found it in Cassandra put it in the log: a fresh node reads no Cassandra.
    const fresh = node('b')
    await new Promise((res) => setTimeout(res, 100))
    assert.deepEqual(tokens(await fresh.reader.candidates(channel, path)), tokens([west, east]))
    assert.equal(fresh.ops.list, undefined, 'the log was refilled')
  })

  it('a log lost from memcached is refilled by the first reader that reads Cassandra', async () => {
    const writer = node('a')
    const path = 'v/lost.m4s'
    const meta = await putSegment(writer, path, 'east')
    // Both zones lose the log (as after a restart or an eviction).
    const first = node('b')
    assert.ok(await first.cache.getLog!(candidatesKey(channel, path)), 'the write-through wrote the log')
    await dropLog(candidatesKey(channel, path))
    assert.equal(await first.cache.getLog!(candidatesKey(channel, path)), undefined, 'the log is gone')
    clear(first.ops)
    assert.deepEqual(tokens(await first.reader.candidates(channel, path)), [meta.token])
    assert.equal(first.ops.list, 1)
    const second = node('a')
    await new Promise((res) => setTimeout(res, 100))
    assert.deepEqual(tokens(await second.reader.candidates(channel, path)), [meta.token])
    assert.equal(second.ops.list, undefined, 'the first reader refilled memcached')
  })

  /**
   * Deletes a candidate log from every zone, as a restart or an eviction would. A log's item
   * key is the hashed form (`~h/`, SHA-256) of `~l/` + its key (src/cache/memcached.ts).
   */
  async function dropLog(key: string): Promise<void> {
    const memjs = (await import('memjs')).default
    const item = `${prefix}~h/${createHash('sha256').update(`~l/${key}`).digest('base64url')}`
    for (const z of zones ?? []) {
      for (const s of z.servers) {
        const c = memjs.Client.create(s, { retries: 0, timeout: 1, logger: { log() {} } })
        try {
          await c.delete(item)
        } finally {
          c.close()
        }
      }
    }
  }
})

describe('write-once segments through origin processes', skip, () => {
  const nodes: OriginNode[] = []
  const prefix = `lowp:${randomUUID().slice(0, 8)}:`
  const channel = `wp${randomUUID().slice(0, 8)}`
  /** D = 1 s, G = 500 ms, R = 10 s: held requests are polled as in production. */
  const LIVE = { segmentDurationMs: 1000, selectionGraceMs: 500, lateAllowanceMs: 10_000 }
  const ast = Date.now() - 60_000
  const due = (n: number) => ast + n * LIVE.segmentDurationMs
  const nextDue = (leadMs: number) => Math.ceil((Date.now() + leadMs - ast) / LIVE.segmentDurationMs)
  const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())))
  const put = (node: OriginNode, n: number, body: Uint8Array, pipeline: string) =>
    fetch(`${node.ingest}/${channel}/video/${n}.ts`, {
      method: 'PUT',
      body,
      headers: { 'Pipeline-Id': pipeline },
    })

  /** The pipelines whose copies of segment `n` a node lists (its channel status). */
  async function listedOn(node: OriginNode, n: number): Promise<string[]> {
    const res = await fetch(`${node.control}/api/v1/channels/${channel}/status`)
    assert.equal(res.status, 200)
    const status = (await res.json()) as {
      timeline: Array<{
        rendition: string
        segments: Array<{ number: number; copies: Array<{ pipeline: string }> }>
      }>
    }
    const segment = status.timeline.find((r) => r.rendition === 'video')?.segments.find((s) => s.number === n)
    return (segment?.copies ?? []).map((c) => c.pipeline).sort()
  }

  before(async () => {
    const started = await Promise.all(
      ['a', 'b', 'a', 'b'].map((zone, i) =>
        startOriginNode({ name: `node${i + 1}`, localZone: zone, keyPrefix: prefix }),
      ),
    )
    nodes.push(...started)
    for (const node of nodes)
      await putChannel(node, channel, {
        ...LIVE,
        availabilityStartTime: ast,
        media: '$RepresentationID$/$Number$.ts',
      })
  })
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()))
  })

  it('four pipelines commit one segment through four nodes, one killed right after its 2xx: every copy listed on the others within 1 s', async (t) => {
    const n = nextDue(0) - 1
    const pipelines = ['p1', 'p2', 'p3', 'p4']
    const victim = nodes[3]!
    const acked: number[] = []
    let killed: Promise<void> | undefined
    await Promise.all(
      pipelines.map(async (pipeline, i) => {
        const res = await put(nodes[i]!, n, randomBytes(100_000), pipeline)
        assert.equal(res.status, 201, `${pipeline}: ${await res.text()}`)
        // SIGKILL the moment its PUT is acknowledged: the node does nothing after its 2xx.
        if (nodes[i] === victim) killed = victim.kill()
        acked.push(performance.now())
      }),
    )
    await killed
    assert.ok(victim.exited())
    const lastAck = Math.max(...acked)
    // The three nodes asked at once, again and again; a listing counts from when it was asked.
    await Promise.all(
      nodes.slice(0, 3).map(async (node) => {
        for (;;) {
          const askedAfter = performance.now() - lastAck
          const listed = await listedOn(node, n)
          if (listed.join() === pipelines.join()) {
            t.diagnostic(
              `${node.name} listed every copy when asked ${askedAfter.toFixed(0)} ms after the last 2xx`,
            )
            assert.ok(askedAfter < 1000, `${node.name}: ${askedAfter.toFixed(0)} ms`)
            return
          }
          assert.ok(
            askedAfter < 1000,
            `${node.name} lists ${listed.join(', ')} when asked ${askedAfter.toFixed(0)} ms after the last 2xx`,
          )
          await new Promise((r) => setTimeout(r, 20))
        }
      }),
    )
    nodes.splice(3, 1)
  })

  it('one segment while 200 requests are held on each of three nodes: storage and memcached operations independent of the holds, within the model', async (t) => {
    const live = nodes.slice(0, 3)
    assert.equal(live.length, 3)
    const OPS = {
      storage: ['list', 'getChunk', 'commit', 'putChunk'],
      memcached: ['getLog', 'getLogLocal', 'get', 'appendLog', 'extendLog', 'set'],
    }
    async function counters(node: OriginNode): Promise<Counts> {
      const text = await node.metrics()
      const out: Counts = {}
      for (const op of OPS.storage)
        out[op] = metricValue(text, 'liveorigin_storage_operations_total', { driver: 'cassandra', op })
      for (const op of OPS.memcached)
        out[`mc.${op}`] = metricValue(text, 'liveorigin_cache_operations_total', { tier: 'memcached', op })
      return out
    }
    /** Operations of every node for one segment held `perNode` times on each, PUT on node 1 at A(N). */
    async function segment(
      perNode: number,
    ): Promise<{ ops: Counts[]; releasedBy: number; holdFrom: number }> {
      const n = nextDue(1500)
      await sleepUntil(due(n) - 1000)
      const before = await Promise.all(live.map(counters))
      await sleepUntil(due(n) - 300)
      const holdFrom = Date.now() - due(n)
      const held = live.flatMap((node) =>
        Array.from({ length: perNode }, () =>
          fetch(`${node.delivery}/${channel}/video/${n}.ts`).then(async (res) => ({
            status: res.status,
            bytes: Buffer.from(await res.arrayBuffer()),
          })),
        ),
      )
      await sleepUntil(due(n))
      const body = randomBytes(200_000)
      const res = await put(live[0]!, n, body, 'east')
      assert.equal(res.status, 201, await res.text())
      for (const h of await Promise.all(held)) {
        assert.equal(h.status, 200)
        assert.ok(h.bytes.equals(body))
      }
      const releasedBy = Date.now() - due(n)
      // Background work of the PUT (the new log's seal) lands within a few ms; allow for load.
      await new Promise((r) => setTimeout(r, 500))
      const after = await Promise.all(live.map(counters))
      const ops = after.map((a, i) => {
        const d: Counts = {}
        for (const [k, v] of Object.entries(a)) if (v - before[i]![k]! !== 0) d[k] = v - before[i]![k]!
        return d
      })
      return { ops, releasedBy, holdFrom }
    }

    const few = await segment(1)
    const many = await segment(200)
    for (const [label, run] of [
      ['1 held request per node', few],
      ['200 held requests per node', many],
    ] as const) {
      const line = `${label}: released ${run.releasedBy} ms after A(N); ${run.ops.map((o, i) => `node${i + 1} ${JSON.stringify(o)}`).join('; ')}`
      t.diagnostic(line)
      console.log(line)
      const plan = pollCost(
        run.holdFrom,
        { dueAt: 0, graceUntil: LIVE.selectionGraceMs },
        run.releasedBy,
        Number.POSITIVE_INFINITY,
        DEFAULT_POLL_SCHEDULE,
      )
      const put = putCosts(200_000, 1024 * 1024)
      run.ops.forEach((o, i) => {
        const writer = i === 0
        // Storage: the PUT's chunk and commit on the writer, no read but the new log's listing
        // (once per segment, NEW_OBJECT_COSTS) and the schedule's storage polls.
        assert.equal(o.putChunk ?? 0, writer ? put.driver.putChunk : 0, line)
        assert.equal(o.commit ?? 0, writer ? put.driver.commit : 0, line)
        assert.ok((o.list ?? 0) <= plan.storagePolls + NEW_OBJECT_COSTS.list, line)
        assert.equal(o.getChunk ?? 0, 0, `${line}: bodies from memcached or memory`)
        // memcached: the schedule's polls of the local zone (+1 running as the commit landed),
        // the log once found (and at the storage poll), the body once.
        assert.ok((o['mc.getLogLocal'] ?? 0) <= plan.polls * READ_COSTS.poll.getLogLocal + 1, line)
        assert.ok((o['mc.getLog'] ?? 0) <= plan.storagePolls + READ_COSTS.foundList.getLog + 1, line)
        assert.ok((o['mc.get'] ?? 0) <= (writer ? 0 : 1), line)
        assert.ok((o['mc.appendLog'] ?? 0) <= (writer ? put.shared.appendLog : 0) + plan.storagePolls, line)
        assert.ok((o['mc.set'] ?? 0) === (writer ? put.shared.set : 0), line)
        assert.ok((o['mc.extendLog'] ?? 0) <= NEW_OBJECT_COSTS.extendLog + plan.storagePolls, line)
      })
    }
    // Independent of the number of held requests: the bounds above are the schedule's, which
    // knows nothing of how many requests wait; and no operation is counted anywhere near once
    // per held request (a held object is polled, not each request).
    for (let i = 0; i < 3; i++) {
      for (const [op, count] of Object.entries(many.ops[i]!)) {
        assert.ok(count < 20, `node${i + 1}: ${op} ${count} times with 200 requests held`)
      }
    }
  })
})
