/**
 * The cassandra driver on a real 3-node ring (RF 3, LOCAL_QUORUM): the shared conformance
 * suite, then what is special to it: options checked up front, lazy connection, the table
 * layout that keeps partitions bounded, replacement order that does not trust clocks,
 * expiry to the millisecond, and the latency of a 2 MB segment write through ObjectStore.
 */

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import cassandra from 'cassandra-driver'
import { isLiveOriginError } from '../../src/errors.js'
import { type CassandraDriverOptions, createCassandraDriver } from '../../src/storage/cassandra.js'
import { ObjectStore } from '../../src/storage/object-store.js'
import type { ObjectMeta, StorageDriver } from '../../src/storage/types.js'
import { bodyOf, driverConformance, metaFor, patternBytes } from '../storage/driver-conformance.js'
import { cassandraContactPoints, cassandraDataCenter, ensureSchema, NO_RING, percentiles } from './env.js'

const contactPoints = cassandraContactPoints()
const ringSkip = contactPoints ? {} : { skip: NO_RING }
const KEYSPACE = 'liveorigin_test'
const HOUR = 3_600_000

function ringDriver(over: Partial<CassandraDriverOptions> = {}): StorageDriver {
  return createCassandraDriver({
    contactPoints: contactPoints ?? [],
    localDataCenter: cassandraDataCenter(),
    keyspace: KEYSPACE,
    ...over,
  })
}

function meta(over: Partial<ObjectMeta> & Pick<ObjectMeta, 'channel' | 'path' | 'pipeline'>): ObjectMeta {
  return metaFor(over, { token: randomUUID(), ...over })
}

describe('cassandra (ring)', ringSkip, () => {
  driverConformance('cassandra', async () => {
    await ensureSchema(KEYSPACE)
    return ringDriver()
  })
})

describe('cassandra driver options', () => {
  const base: CassandraDriverOptions = { contactPoints: ['127.0.0.1'], localDataCenter: 'dc1' }
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['no contact points', { contactPoints: [] }, /^contactPoints:/],
    ['a contact point with a space', { contactPoints: ['a b'] }, /^contactPoints:/],
    ['no datacenter', { localDataCenter: '' }, /^localDataCenter:/],
    ['a keyspace that is not an identifier', { keyspace: 'live-origin' }, /^keyspace:/],
    [
      'replication without datacenters',
      { replication: { class: 'NetworkTopologyStrategy', dataCenters: {} } },
      /^replication\.dataCenters:/,
    ],
    [
      'a replication factor of 0',
      { replication: { class: 'SimpleStrategy', replicationFactor: 0 } },
      /^replication\.replicationFactor:/,
    ],
    ['an unknown replication class', { replication: { class: 'LocalStrategy' } }, /^replication\.class:/],
    ['a port out of range', { port: 70000 }, /^port:/],
    [
      'a negative hedge delay',
      { profiles: { chunkRead: { hedgeAfterMs: -1 } } },
      /^profiles\.chunkRead\.hedgeAfterMs:/,
    ],
    [
      'a profile that does not exist',
      { profiles: { chunks: { timeoutMs: 100 } } },
      /^profiles\.chunks: unknown option/,
    ],
    ['no connection per host', { connectionsPerHost: 0 }, /^connectionsPerHost:/],
    ['a chunk read consistency of ONE', { chunkReadConsistency: 'one' }, /^chunkReadConsistency:/],
    ['a fractional timeout', { requestTimeoutMs: 1.5 }, /^requestTimeoutMs:/],
    [
      'an unknown option (a typo in the config file)',
      { contactPoint: ['x'] },
      /^contactPoint: unknown option/,
    ],
  ]
  for (const [label, over, message] of cases) {
    it(`rejects ${label} with a TypeError naming the option`, () => {
      assert.throws(
        () => createCassandraDriver({ ...base, ...over } as CassandraDriverOptions),
        (e) => e instanceof TypeError && message.test(e.message),
      )
    })
  }

  it('connects lazily: creating a driver for an unreachable cluster succeeds, using it answers 503', async () => {
    const driver = createCassandraDriver({
      contactPoints: ['127.0.0.1'],
      port: 1,
      localDataCenter: 'dc1',
      connectTimeoutMs: 1000,
    })
    await assert.rejects(
      driver.ping(),
      (e) => isLiveOriginError(e) && e.status === 503 && /cassandra ping/.test(e.message),
    )
    await assert.rejects(driver.list('c', 'p'), (e) => isLiveOriginError(e) && e.status === 503)
    await driver.close()
    await assert.rejects(driver.list('c', 'p'), (e) => isLiveOriginError(e) && /closed/.test(e.message))
  })
})

describe('cassandra driver on the ring', ringSkip, () => {
  let driver: StorageDriver
  let raw: cassandra.Client
  const prefix = `cs${randomUUID().slice(0, 8)}`

  before(async () => {
    await ensureSchema(KEYSPACE)
    driver = ringDriver()
    await driver.ping()
    raw = new cassandra.Client({ contactPoints: contactPoints ?? [], localDataCenter: cassandraDataCenter() })
    await raw.connect()
  })
  after(async () => {
    await driver?.close()
    await raw?.shutdown()
  })

  it('keeps partitions bounded: candidates of one object in one partition, one chunk per partition', async () => {
    const rs = await raw.execute(
      'SELECT table_name, column_name, kind, position FROM system_schema.columns WHERE keyspace_name = ?',
      [KEYSPACE],
      { prepare: true },
    )
    const keyOf = (table: string, kind: string) =>
      rs.rows
        .filter((r) => r.get('table_name') === table && r.get('kind') === kind)
        .sort((a, b) => (a.get('position') as number) - (b.get('position') as number))
        .map((r) => r.get('column_name') as string)
    assert.deepEqual(keyOf('objects', 'partition_key'), ['channel', 'path'])
    assert.deepEqual(keyOf('objects', 'clustering'), ['pipeline'])
    assert.deepEqual(keyOf('chunks', 'partition_key'), ['upload_token', 'idx'])
    assert.deepEqual(keyOf('chunks', 'clustering'), [])
    assert.deepEqual(keyOf('records', 'partition_key'), ['namespace'])
    const ks = await raw.execute(
      'SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?',
      [KEYSPACE],
      {
        prepare: true,
      },
    )
    const replication = ks.first()?.get('replication') as Record<string, string>
    assert.match(replication.class ?? '', /NetworkTopologyStrategy/)
    assert.equal(replication[cassandraDataCenter()], '3')
  })

  it('writes at LOCAL_QUORUM: a write is readable at once from every coordinator', async () => {
    const m = meta({ channel: `${prefix}q`, path: 'v/1.m4s', pipeline: 'a' })
    await driver.commit(m)
    for (const host of contactPoints ?? []) {
      const one = createCassandraDriver({
        contactPoints: [host],
        localDataCenter: cassandraDataCenter(),
        keyspace: KEYSPACE,
        createSchema: false,
      })
      try {
        assert.deepEqual(await one.list(m.channel, m.path), [m], `coordinator ${host}`)
      } finally {
        await one.close()
      }
    }
  })

  it('a replacement wins even when the node that wrote the old record had a clock ahead', async () => {
    const ahead = ringDriver({ now: () => Date.now() + 60_000 })
    try {
      const key = { channel: `${prefix}skew`, path: 'manifest.mpd', pipeline: 'a' }
      const first = meta({ ...key, etag: '"first"' })
      const second = meta({ ...key, etag: '"second"' })
      await ahead.commit(first)
      assert.deepEqual(await driver.commit(second), first)
      assert.deepEqual(await driver.list(key.channel, key.path), [second])
      assert.deepEqual(await driver.remove(key), second)
      assert.deepEqual(await driver.list(key.channel, key.path), [])
    } finally {
      await ahead.close()
    }
  })

  it('hides an expired record at once, though Cassandra TTLs count whole seconds', async () => {
    let clock = Date.now()
    const fake = ringDriver({ now: () => clock })
    try {
      const m = meta({
        channel: `${prefix}exp`,
        path: 'v/9.m4s',
        pipeline: 'a',
        expiresAt: clock + 5_000,
        chunks: 1,
      })
      await fake.putChunk(m.token, 0, patternBytes(10), m.expiresAt)
      await fake.commit(m)
      clock += 4_999
      assert.deepEqual(await fake.list(m.channel, m.path), [m])
      assert.ok(await fake.getChunk(m.token, 0))
      clock += 1
      assert.deepEqual(await fake.list(m.channel, m.path), [])
      assert.equal(await fake.getChunk(m.token, 0), undefined)
    } finally {
      await fake.close()
    }
  })

  it('hedged reads and writes answer like plain ones', async () => {
    const now = { timeoutMs: 2000, hedgeAfterMs: 0 }
    const hedged = ringDriver({ profiles: { metadata: now, chunkRead: now, chunkWrite: now }, maxHedges: 2 })
    try {
      const m = meta({ channel: `${prefix}hedge`, path: 'v/h.m4s', pipeline: 'a', chunks: 1, size: 4096 })
      await hedged.putChunk(m.token, 0, patternBytes(4096, 5), m.expiresAt)
      await hedged.commit(m)
      for (let i = 0; i < 20; i++) {
        assert.deepEqual(await hedged.list(m.channel, m.path), [m])
        assert.deepEqual(await hedged.getChunk(m.token, 0), patternBytes(4096, 5))
      }
    } finally {
      await hedged.close()
    }
  })

  it('a 2 MB segment through ObjectStore (1 MiB chunks): round trip and latency', async (t) => {
    const store = new ObjectStore(driver, { chunkSize: 1024 * 1024 })
    const data = patternBytes(2_000_000, 77)
    const samples: number[] = []
    const n = Number(process.env.LIVEORIGIN_TEST_WRITES ?? 100)
    let last: ObjectMeta | undefined
    for (let i = 0; i < n + 5; i++) {
      const started = performance.now()
      const { meta: m } = await store.write(
        { channel: `${prefix}lat`, path: `v/seg-${i}.m4s`, pipeline: 'a' },
        bodyOf(data, 64 * 1024),
        { contentType: 'video/iso.segment', expiresAt: Date.now() + HOUR },
      )
      // The first few writes warm up connections and the JIT of both sides.
      if (i >= 5) samples.push(performance.now() - started)
      last = m
    }
    assert.ok(last)
    assert.deepEqual(await store.readAll(last), data)
    const p = percentiles(samples)
    const line = `2 MB write via ObjectStore on the ring, ${n} writes: p50 ${p.p50.toFixed(1)} ms, p90 ${p.p90.toFixed(1)} ms, p99 ${p.p99.toFixed(1)} ms, max ${p.max.toFixed(1)} ms`
    t.diagnostic(line)
    console.log(line)
    await store.flushDeletions()
  })
})
