/**
 * Node failures on the real ring. With RF 3 and LOCAL_QUORUM, one node killed with `kill -9`
 * must not fail a write or a read, and nothing acknowledged may be lost: not while the node
 * is down, not after it comes back (missing writes and all), and not when another node then
 * dies. Every object is compared byte for byte.
 *
 * This file kills and restarts ring nodes: it leaves all of them running when it ends.
 */

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { createCassandraDriver } from '../../src/storage/cassandra.js'
import { ObjectStore } from '../../src/storage/object-store.js'
import type { ObjectMeta, StorageDriver } from '../../src/storage/types.js'
import { bodyOf, patternBytes } from '../storage/driver-conformance.js'
import {
  cassandraContactPoints,
  cassandraDataCenter,
  ensureSchema,
  killCassandraNode,
  NO_RING,
  startCassandraNode,
} from './env.js'

const contactPoints = cassandraContactPoints()
const HOUR = 3_600_000
const CHUNK = 256 * 1024

describe('cassandra ring: a node killed with kill -9', contactPoints ? {} : { skip: NO_RING }, () => {
  let driver: StorageDriver
  let store: ObjectStore
  const channel = `fault${randomUUID().slice(0, 8)}`
  /** Every acknowledged write: what must still be there, byte for byte. */
  const acknowledged: Array<{ meta: ObjectMeta; seed: number; size: number }> = []
  const down = new Set<number>()
  let seq = 0

  before(async () => {
    await ensureSchema('liveorigin_test')
    driver = createCassandraDriver({
      contactPoints: contactPoints ?? [],
      localDataCenter: cassandraDataCenter(),
      keyspace: 'liveorigin_test',
      requestTimeoutMs: 10_000,
    })
    store = new ObjectStore(driver, { chunkSize: CHUNK })
    await driver.ping()
  })
  after(async () => {
    for (const n of down) await startCassandraNode(n)
    await driver?.close()
  })

  /** Writes `count` objects of 1 to 3 chunks; every one must be acknowledged. */
  async function writeSome(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const n = seq++
      const size = CHUNK * (1 + (n % 3)) - 1000 * (n % 7)
      const seed = n + 1
      const { meta } = await store.write(
        { channel, path: `v/seg-${n}.m4s`, pipeline: n % 2 === 0 ? 'east' : 'west' },
        bodyOf(patternBytes(size, seed), 32 * 1024),
        { contentType: 'video/iso.segment', expiresAt: Date.now() + HOUR },
      )
      acknowledged.push({ meta, seed, size })
    }
  }

  /** Lists and reads back every acknowledged object and compares the bytes. */
  async function verifyAll(when: string): Promise<void> {
    for (const { meta, seed, size } of acknowledged) {
      const listed = await store.list(channel, meta.path)
      assert.deepEqual(listed, [meta], `${when}: commit record of ${meta.path}`)
      const bytes = await store.readAll(meta)
      assert.equal(bytes.length, size, `${when}: size of ${meta.path}`)
      assert.ok(bytes.equals(patternBytes(size, seed)), `${when}: bytes of ${meta.path}`)
    }
  }

  it('writes and reads keep working while a node is down, and nothing acknowledged is lost', async () => {
    await writeSome(6)
    await verifyAll('all nodes up')

    // kill -9 while writes are in flight. The writes' outcome is taken at once, so that a
    // failed write fails this test rather than the run (an unhandled rejection); the node is
    // marked down before it is killed, so that `after` restarts it whatever happens here.
    const writing = writeSome(10).then(
      () => undefined,
      (err: unknown) => err,
    )
    await new Promise((r) => setTimeout(r, 50))
    down.add(2)
    await killCassandraNode(2)
    const failed = await writing
    if (failed !== undefined) throw failed
    await writeSome(10)
    await verifyAll('node 2 down')

    // Node 2 comes back without the writes it missed; then node 3 dies. Every quorum read now
    // needs nodes 1 and 2, and node 2 may not have the record yet: the read must still return
    // it (Cassandra resolves the replicas' disagreement and repairs node 2).
    await startCassandraNode(2)
    down.delete(2)
    await writeSome(4)
    down.add(3)
    await killCassandraNode(3)
    await verifyAll('node 2 back, node 3 down')
    await writeSome(6)
    await verifyAll('node 2 back, node 3 down, after more writes')

    await startCassandraNode(3)
    down.delete(3)
    await verifyAll('all nodes up again')
    assert.equal(acknowledged.length, 36)
  })
})
