/**
 * The capacity model (src/capacity/model.ts) against the code it models: one PUT through the
 * real object store and reader costs the driver calls and cache writes `putCosts` says, a
 * poll of a held object costs what `READ_COSTS` says, and the event of docs/capacity.md
 * comes out as documented. Also `liveorigin capacity` on the command line.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createMemoryCache } from '../../src/cache/memory.js'
import type { CacheStore } from '../../src/cache/types.js'
import {
  CASSANDRA_STATEMENTS,
  capacity,
  type EventShape,
  NEW_OBJECT_COSTS,
  putCosts,
  READ_COSTS,
} from '../../src/capacity/model.js'
import { parseCapacityArgs } from '../../src/cli/capacity.js'
import { ObjectReader } from '../../src/objects/reader.js'
import { createMetrics } from '../../src/observability/metrics.js'
import { createEmbeddedDriver } from '../../src/storage/embedded.js'
import { wrapDriver } from '../../src/storage/instrumented.js'
import { ObjectStore } from '../../src/storage/object-store.js'
import type { StorageDriver } from '../../src/storage/types.js'
import { waitFor } from '../helpers/http.js'

const EVENT: EventShape = {
  channels: 200,
  renditions: 8,
  segmentDurationMs: 2000,
  segmentBytes: 2_000_000,
  pipelines: 2,
  dvrWindowMs: 4 * 3_600_000,
  zones: 3,
  nodes: 20,
  pops: 50,
}

/** A shared tier (over the memory tier) that counts its calls; `getLocal` and local `getLog` like memcached's. */
function countingTier(calls: Record<string, number>): CacheStore {
  const inner = createMemoryCache({ maxBytes: 64 * 1024 * 1024 })
  const counted =
    <A extends unknown[], R>(op: string, f: (...a: A) => R) =>
    (...a: A): R => {
      calls[op] = (calls[op] ?? 0) + 1
      return f(...a)
    }
  return {
    name: 'counted',
    get: counted('get', (k: string) => inner.get(k)),
    getLocal: counted('getLocal', (k: string) => inner.get(k)),
    set: counted('set', (k: string, v: Uint8Array, t: number) => inner.set(k, v, t)),
    appendLog: counted('appendLog', (k: string, r: Uint8Array, t: number, o?: Uint8Array) =>
      inner.appendLog!(k, r, t, o),
    ),
    extendLog: counted('extendLog', (k: string, r: Uint8Array) => inner.extendLog!(k, r)),
    getLog: (k: string, localOnly?: boolean) =>
      counted(localOnly ? 'getLogLocal' : 'getLog', (key: string) => inner.getLog!(key))(k),
    delete: counted('delete', (k: string) => inner.delete(k)),
    close: () => inner.close(),
  }
}

async function* once(bytes: Buffer): AsyncIterable<Uint8Array> {
  yield bytes
}

describe('the model costs what the code does', () => {
  let dir: string
  let driver: StorageDriver
  const ops: Record<string, number> = {}
  const tier: Record<string, number> = {}
  let store: ObjectStore
  let reader: ObjectReader

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'liveorigin-capacity-'))
    driver = wrapDriver(createEmbeddedDriver({ dataDir: dir }), (op, call) => {
      ops[op] = (ops[op] ?? 0) + 1
      return call()
    })
    store = new ObjectStore(driver, { chunkSize: 1024 * 1024 })
    reader = new ObjectReader(
      store,
      createMemoryCache({ maxBytes: 64 * 1024 * 1024 }),
      countingTier(tier),
      createMetrics({ defaultMetrics: false }),
      { maxCachedObjectBytes: 16 * 1024 * 1024 },
    )
  })
  after(async () => {
    await driver.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const clear = () => {
    for (const k of Object.keys(ops)) delete ops[k]
    for (const k of Object.keys(tier)) delete tier[k]
  }

  it('PUTs of a 2.5 MB segment: the driver calls and shared-tier writes of putCosts, and NEW_OBJECT_COSTS once', async () => {
    clear()
    const bytes = Buffer.alloc(2_500_000, 7)
    const { meta } = await store.write({ channel: 'ch', path: 'v/1.m4s', pipeline: 'east' }, once(bytes), {
      contentType: 'video/mp4',
      expiresAt: Date.now() + 60_000,
      writeOnce: true,
      beforeCommit: (m) => reader.committing(m),
    })
    await reader.written(meta, bytes)
    const want = putCosts(bytes.length, 1024 * 1024)
    // The first writer lists storage and seals the new log in the background.
    await waitFor('the seal', () => tier.extendLog === NEW_OBJECT_COSTS.extendLog)
    assert.deepEqual(ops, { ...want.driver, list: NEW_OBJECT_COSTS.list })
    assert.deepEqual(tier, { ...want.shared, extendLog: NEW_OBJECT_COSTS.extendLog })
    // The second pipeline's copy: exactly putCosts, nothing else.
    clear()
    const west = await store.write({ channel: 'ch', path: 'v/1.m4s', pipeline: 'west' }, once(bytes), {
      contentType: 'video/mp4',
      expiresAt: Date.now() + 60_000,
      writeOnce: true,
      beforeCommit: (m) => reader.committing(m),
    })
    await reader.written(west.meta, bytes)
    await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(ops, want.driver)
    assert.deepEqual(tier, want.shared)
    const listed = await reader.candidates('ch', 'v/1.m4s')
    assert.deepEqual(listed.map((m) => m.pipeline).sort(), ['east', 'west'], 'the log lists both copies')
    assert.equal(ops.list, undefined, 'and is not checked against storage')
    // Every driver call the model turns into Cassandra statements is one it knows.
    for (const op of Object.keys(ops)) assert.ok(op in CASSANDRA_STATEMENTS, op)
  })

  it('polls of an object that does not exist, then of one that does: READ_COSTS', async () => {
    clear()
    const costs = () => ({
      getLogLocal: tier.getLogLocal ?? 0,
      getLog: tier.getLog ?? 0,
      list: ops.list ?? 0,
      appendLog: tier.appendLog ?? 0,
      extendLog: tier.extendLog ?? 0,
    })
    assert.equal(await reader.appeared('ch', 'v/2.m4s', false), false)
    assert.deepEqual(costs(), READ_COSTS.poll)
    clear()
    assert.equal(await reader.appeared('ch', 'v/2.m4s', true), false)
    await waitFor('the seal', () => tier.extendLog === 1)
    assert.deepEqual(costs(), READ_COSTS.missingList)
    // The log is sealed (and empty): the next storage poll, on any node, reads no storage.
    clear()
    assert.equal(await reader.appeared('ch', 'v/2.m4s', true), false)
    assert.deepEqual(costs(), READ_COSTS.foundList)
    const bytes = Buffer.alloc(1000, 1)
    const { meta } = await store.write({ channel: 'ch', path: 'v/2.m4s', pipeline: 'east' }, once(bytes), {
      contentType: 'video/mp4',
      expiresAt: Date.now() + 60_000,
    })
    await reader.written(meta, bytes)
    await new Promise((r) => setTimeout(r, 50))
    clear()
    assert.equal(await reader.appeared('ch', 'v/2.m4s', false), true)
    assert.deepEqual(tier, {
      getLogLocal: READ_COSTS.poll.getLogLocal,
      getLog: READ_COSTS.foundList.getLog,
    })
    assert.equal(ops.list, undefined, 'a list found in the tier is not read from storage')
  })
})

describe('the event of docs/capacity.md', () => {
  it('writes: 1,600 PUTs/s, 80 per node, 3 Cassandra writes per PUT, one read per new segment, 11 memcached items per zone', () => {
    const c = capacity(EVENT)
    assert.equal(c.putsPerSecond, 1600)
    assert.equal(c.putsPerSecondPerNode, 80)
    assert.equal(c.storageWritesPerNode, 240)
    // 800 new segments a second (two pipelines each), one listing each, over 20 nodes.
    assert.equal(c.storageReadsPerNode - c.storageReadsForHoldsPerNode, 40)
    assert.equal(c.replicaWritesPerSecond, 1600 * 3 * 3)
    // Two log appends and the body (8 chunk items of 256 KiB and its header) in each zone.
    assert.equal(c.memcachedWritesPerNode, 80 * 3 * 11 + 40 * 3)
    assert.equal(c.bytesPerDay, 1600 * 2_000_000 * 86_400)
  })

  it('holds: fixed polling reads Cassandra and every zone, the schedule neither while commits are punctual', () => {
    const fixed = capacity(EVENT, 'fixed')
    const backoff = capacity(EVENT, 'backoff')
    assert.ok(Math.abs(fixed.heldObjectsPerNode - 1600 * (1 - 0.95 ** 50)) < 1e-9)
    // Commit 100 ms after A(N): 10 polls of 3 zones, the first request's read, the release
    // (the log read in every zone).
    assert.deepEqual(fixed.perHeldObject, { localItems: 12, otherItems: 22, lists: 2, heldMs: 100 })
    // Polls at A(N), +10, +30, +70, +110 (the local zone), then the list once more (every zone).
    assert.deepEqual(backoff.perHeldObject, { localItems: 6, otherItems: 2, lists: 0, heldMs: 110 })
    assert.equal(backoff.storageReadsForHoldsPerNode, 0)
    assert.ok(fixed.memcachedReadsForHoldsPerNode > 4 * backoff.memcachedReadsForHoldsPerNode)
    const early = capacity({ ...EVENT, arrival: 'hold-window' }, 'fixed')
    assert.equal(early.perHeldObject.lists, 1 + 21)
    assert.ok(early.storageReadsForHoldsPerNode > 16_000)
    const never = capacity({ ...EVENT, commitAfterMs: 10_000 }, 'backoff')
    assert.deepEqual(never.perHeldObject, { localItems: 33, otherItems: 4, lists: 2, heldMs: 4000 })
  })

  it('rejects a shape it cannot model, naming the field', () => {
    assert.throws(() => capacity({ ...EVENT, nodes: 0 }), /^TypeError: nodes must be a positive integer/)
  })
})

describe('liveorigin capacity', () => {
  it('parses its options; a bad one is an error naming it', () => {
    const shape = parseCapacityArgs(['--channels', '10', '--arrival', 'hold-window'])
    assert.notEqual(shape, 'help')
    assert.equal((shape as EventShape).channels, 10)
    assert.equal((shape as EventShape).renditions, 8)
    assert.throws(() => parseCapacityArgs(['--nodes', '1.5']), /--nodes must be a whole number/)
    assert.throws(() => parseCapacityArgs(['--arrival', 'soon']), /--arrival must be/)
    assert.throws(() => parseCapacityArgs(['--bogus', '1']), /capacity: /)
  })

  it('prints the table, and exits 2 on a bad option', () => {
    const cli = (args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'capacity', ...args], {
        encoding: 'utf8',
      })
    const ok = cli(['--nodes', '10'])
    assert.equal(ok.status, 0, ok.stderr)
    assert.match(ok.stdout, /10 origin nodes/)
    assert.match(ok.stdout, /^PUTs\/s per node +160 +160$/m)
    // Every PUT made on a node goes to the 9 others.
    assert.match(ok.stdout, /^peer notices sent\/s per node \(= received\) +1440 +1440$/m)
    const bad = cli(['--pops', '-1'])
    assert.equal(bad.status, 2)
    assert.match(bad.stderr, /--pops/)
  })
})
