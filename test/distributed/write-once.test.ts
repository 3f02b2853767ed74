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
import { parseLog } from '../../src/objects/candidate-log.js'
import { candidatesKey, ObjectReader, PENDING_RESOLVE_MS } from '../../src/objects/reader.js'
import { createMetrics } from '../../src/observability/metrics.js'
import { createCassandraDriver } from '../../src/storage/cassandra.js'
import { instrumentCache, instrumentDriver } from '../../src/storage/instrumented.js'
import { ObjectStore } from '../../src/storage/object-store.js'
import type { ObjectMeta, StorageDriver } from '../../src/storage/types.js'
import { waitFor } from '../helpers/http.js'
import {
  cassandraContactPoints,
  cassandraDataCenter,
  ensureSchema,
  memcachedZones,
  NO_MEMCACHED,
  NO_RING,
} from './env.js'

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
