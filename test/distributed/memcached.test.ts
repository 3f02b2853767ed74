/**
 * The memcached cache on two real zones of two servers each: the shared conformance suite
 * (with a 2 MB value, several items), then what is special to it: values split over items are
 * read whole or not at all, a dead zone turns into fallback reads and reported (not thrown)
 * write failures, a hung server costs at most the timeout, a refilled local zone, options.
 */

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import memjs from 'memjs'
import {
  createMemcachedCache,
  type MemcachedCacheOptions,
  type MemcachedErrorEvent,
} from '../../src/cache/memcached.js'
import type { CacheStore } from '../../src/cache/types.js'
import { cacheConformance } from '../cache/cache-conformance.js'
import { patternBytes } from '../storage/driver-conformance.js'
import {
  killMemcachedZone,
  memcachedZonePids,
  memcachedZones,
  NO_MEMCACHED,
  startMemcachedZone,
} from './env.js'

const zones = memcachedZones()
const zoneSkip = zones ? {} : { skip: NO_MEMCACHED }
const MINUTE = 60_000
const TWO_MB = 2_000_000
/** Generous: the machine running these tests may be busy with other work. */
const TIMEOUT_MS = 1000

function zoneCache(over: Partial<MemcachedCacheOptions> = {}): CacheStore {
  return createMemcachedCache({
    zones: zones ?? [],
    localZone: 'a',
    timeoutMs: 500,
    keyPrefix: `lotest:${randomUUID().slice(0, 8)}:`,
    ...over,
  })
}

describe('memcached (two zones)', zoneSkip, () => {
  cacheConformance('memcached', async () => zoneCache(), { largeValueBytes: TWO_MB })
})

describe('memcached getLocal', zoneSkip, () => {
  it('misses when the local zone lacks a value the other zone holds; reads past a local zone that fails', async () => {
    const prefix = `lotest:${randomUUID().slice(0, 8)}:`
    const b = zoneCache({
      keyPrefix: prefix,
      zones: (zones ?? []).filter((z) => z.name === 'b'),
      localZone: 'b',
    })
    const ab = zoneCache({ keyPrefix: prefix })
    // Zone a's servers replaced by a port nobody listens on: every read of zone a fails.
    const deadA = zoneCache({
      keyPrefix: prefix,
      zones: (zones ?? []).map((z) => (z.name === 'a' ? { name: 'a', servers: ['127.0.0.1:9'] } : z)),
    })
    try {
      const value = Buffer.from('only in zone b')
      await b.set('k', value, MINUTE)
      assert.equal(await ab.getLocal!('k'), undefined, 'absent from zone a: a miss, zone b not asked')
      assert.deepEqual(await deadA.getLocal!('k'), value, 'zone a failing: zone b answers')
      assert.deepEqual(await ab.get('k'), value, 'get still falls back to zone b')
    } finally {
      await Promise.all([b.close(), ab.close(), deadA.close()])
    }
  })
})

describe('memcached logs across zones', zoneSkip, () => {
  it('a record one writer could not append to a zone (nor drop its log there) is read by that zone’s readers', async () => {
    const prefix = `lotest:${randomUUID().slice(0, 8)}:`
    const reader = zoneCache({ keyPrefix: prefix })
    // A writer that sees zone a down (a port nobody listens on) while the reader does not.
    const writer = zoneCache({
      keyPrefix: prefix,
      localZone: 'b',
      zones: (zones ?? []).map((z) => (z.name === 'a' ? { name: 'a', servers: ['127.0.0.1:9'] } : z)),
    })
    try {
      await reader.appendLog!('log', Buffer.from('{"g":"1"}\n{"s":"1"}\n'), MINUTE)
      await writer.appendLog!('log', Buffer.from('{"c":"west"}\n'), MINUTE)
      await reader.appendLog!('log', Buffer.from('{"c":"east"}\n'), MINUTE)
      const merged = (await reader.getLog!('log'))?.toString().split('\n').filter(Boolean)
      // Zone a's records first (the reader's local zone), then what only zone b holds.
      assert.deepEqual(merged, ['{"g":"1"}', '{"s":"1"}', '{"c":"east"}', '{"c":"west"}'])
      // A poll of the local zone alone reads zone a's log, as it is.
      assert.equal((await reader.getLog!('log', true))?.toString(), '{"g":"1"}\n{"s":"1"}\n{"c":"east"}\n')
      // The writer reads past the zone it cannot reach.
      assert.equal((await writer.getLog!('log', true))?.toString().includes('{"c":"west"}'), true)
    } finally {
      await Promise.all([reader.close(), writer.close()])
    }
  })
})

describe('memcached cache options', () => {
  const base: MemcachedCacheOptions = {
    zones: [{ name: 'a', servers: ['127.0.0.1:11211'] }],
    localZone: 'a',
    timeoutMs: 100,
  }
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['no zones', { zones: [] }, /^zones:/],
    ['a zone without servers', { zones: [{ name: 'a', servers: [] }] }, /^zones:/],
    ['a server without a port', { zones: [{ name: 'a', servers: ['127.0.0.1'] }] }, /^zones:/],
    ['the same zone twice', { zones: [base.zones[0], base.zones[0]] }, /^zones:/],
    ['a local zone that is not listed', { localZone: 'b' }, /^localZone:/],
    ['a zero timeout', { timeoutMs: 0 }, /^timeoutMs:/],
    ['an item limit below 16 KiB', { itemMaxBytes: 1000 }, /^itemMaxBytes:/],
    ['a key prefix with a space', { keyPrefix: 'a b' }, /^keyPrefix:/],
    ['an unknown option (a typo in the config file)', { timeout: 5 }, /^timeout: unknown option/],
  ]
  for (const [label, over, message] of cases) {
    it(`rejects ${label} with a TypeError naming the option`, () => {
      assert.throws(
        () => createMemcachedCache({ ...base, ...over } as MemcachedCacheOptions),
        (e) => e instanceof TypeError && message.test(e.message),
      )
    })
  }

  it('a cache whose servers refuse connections misses and never throws', async () => {
    const errors: MemcachedErrorEvent[] = []
    const cache = createMemcachedCache({
      zones: [
        { name: 'a', servers: ['127.0.0.1:1'] },
        { name: 'b', servers: ['127.0.0.1:2'] },
      ],
      localZone: 'a',
      timeoutMs: 200,
      onError: (e) => errors.push(e),
    })
    await cache.set('k', Buffer.from('v'), MINUTE)
    assert.equal(await cache.get('k'), undefined)
    await cache.delete('k')
    assert.ok(errors.some((e) => e.op === 'set' && e.zone === 'a'))
    assert.ok(errors.some((e) => e.op === 'set' && e.zone === 'b'))
    await cache.close()
  })
})

describe('memcached zones: failures', zoneSkip, () => {
  const allZones = zones ?? []
  const prefix = `lotest:${randomUUID().slice(0, 8)}:`
  const errors: MemcachedErrorEvent[] = []
  let cache: CacheStore
  /** One raw client per server, to look at and damage what the cache stored. */
  const raw = new Map<string, memjs.Client>()

  before(() => {
    cache = zoneCache({ keyPrefix: prefix, timeoutMs: TIMEOUT_MS, downMs: 0, onError: (e) => errors.push(e) })
    for (const z of allZones) {
      for (const s of z.servers)
        raw.set(s, memjs.Client.create(s, { retries: 0, timeout: 1, logger: { log() {} } }))
    }
  })
  after(async () => {
    await cache?.close()
    for (const c of raw.values()) c.close()
    // Whatever a test did to a zone, leave both running for the next file.
    for (const z of allZones) await startMemcachedZone(z.name)
  })

  const serversOf = (zone: string) => allZones.find((z) => z.name === zone)?.servers ?? []

  async function deleteEverywhereInZone(zone: string, itemKey: string): Promise<void> {
    for (const s of serversOf(zone)) await raw.get(s)?.delete(itemKey)
  }

  async function headerIn(zone: string, key: string): Promise<Buffer | undefined> {
    for (const s of serversOf(zone)) {
      const r = await raw.get(s)?.get(prefix + key)
      if (r?.value) return r.value
    }
    return undefined
  }

  it('a value split over items is read whole or not at all', async () => {
    const key = 'ch/v/seg-00001.m4s'
    const data = patternBytes(TWO_MB, 3)
    await cache.set(key, data, MINUTE)
    assert.deepEqual(await cache.get(key), data)
    // Lose one chunk item in the local zone: the local copy is incomplete, so the read
    // falls back to the other zone and still returns the whole value.
    const header = await headerIn('a', key)
    assert.ok(
      header,
      `the header item is in zone a (errors: ${errors.map((e) => e.error.message).join('; ')})`,
    )
    const generation = header.toString('hex', 32, 40)
    await deleteEverywhereInZone('a', `${prefix}${key}~${generation}/3`)
    assert.deepEqual(await cache.get(key), data)
    // That read refills zone a in the background, under a new generation: wait for it.
    const deadline = Date.now() + 5000
    for (;;) {
      const h = await headerIn('a', key)
      if (h && h.toString('hex', 32, 40) !== generation) break
      assert.ok(Date.now() < deadline, 'zone a was not refilled')
      await new Promise((r) => setTimeout(r, 20))
    }
    // Now lose zone a's header and a chunk in zone b (each zone has its own generation):
    // no zone has the value whole, and that is a miss.
    await deleteEverywhereInZone('a', `${prefix}${key}`)
    const headerB = await headerIn('b', key)
    assert.ok(headerB, 'the header item is in zone b')
    await deleteEverywhereInZone('b', `${prefix}${key}~${headerB.toString('hex', 32, 40)}/3`)
    assert.equal(await cache.get(key), undefined)
  })

  it('a chunk item overwritten by other bytes is a miss, not a wrong value', async () => {
    const key = 'ch/v/seg-00002.m4s'
    const data = patternBytes(TWO_MB, 4)
    await cache.set(key, data, MINUTE)
    for (const zone of ['a', 'b']) {
      const header = await headerIn(zone, key)
      assert.ok(header)
      const chunkKey = `${prefix}${key}~${header.toString('hex', 32, 40)}/0`
      for (const s of serversOf(zone)) {
        const c = raw.get(s)
        const got = await c?.get(chunkKey)
        if (got?.value) {
          const flipped = Buffer.from(got.value)
          flipped[100] = (flipped[100] ?? 0) ^ 0xff
          await c?.set(chunkKey, flipped, { expires: 60 })
        }
      }
    }
    assert.equal(await cache.get(key), undefined)
  })

  it('a hung server (SIGSTOP) costs at most the timeout, and the read falls back', async () => {
    const key = 'ch/v/seg-00003.m4s'
    const data = patternBytes(300_000, 5)
    await cache.set(key, data, MINUTE)
    const pids = memcachedZonePids('a')
    errors.length = 0
    for (const pid of pids) process.kill(pid, 'SIGSTOP')
    try {
      // The signal is delivered asynchronously: wait until the kernel reports both stopped.
      const stopped = (pid: number) => /^\d+ \(.*\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
      const until = Date.now() + 2000
      while (!pids.every(stopped)) {
        assert.ok(Date.now() < until, 'memcached did not stop on SIGSTOP')
        await new Promise((r) => setTimeout(r, 5))
      }
      const started = performance.now()
      assert.deepEqual(await cache.get(key), data)
      const took = performance.now() - started
      assert.ok(took < TIMEOUT_MS + 500, `read took ${took.toFixed(0)} ms with a ${TIMEOUT_MS} ms timeout`)
      assert.ok(
        took >= TIMEOUT_MS - 50,
        `read took ${took.toFixed(0)} ms: it did not wait for zone a (pids ${pids}, errors: ${errors.map((e) => `${e.server} ${e.error.message}`).join('; ')})`,
      )
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT')
    }
  })

  it('a dead zone: reads fall back, writes are reported and not thrown; the zone refills after a restart', async () => {
    const key = 'ch/v/seg-00004.m4s'
    const before = patternBytes(TWO_MB, 6)
    await cache.set(key, before, MINUTE)
    await killMemcachedZone('a')
    errors.length = 0
    assert.deepEqual(await cache.get(key), before)
    assert.equal(await cache.get('ch/never-set'), undefined)
    const written = patternBytes(TWO_MB, 7)
    await cache.set('ch/v/seg-00005.m4s', written, MINUTE)
    assert.ok(
      errors.some((e) => e.op === 'set' && e.zone === 'a'),
      'the failed write to zone a was reported',
    )
    assert.ok(!errors.some((e) => e.zone === 'b'), 'zone b did not fail')
    assert.deepEqual(await cache.get('ch/v/seg-00005.m4s'), written)
    await cache.delete(key)
    assert.equal(await cache.get(key), undefined, 'delete reached the zone that is up')

    // Zone a comes back empty: a read finds the value in b and refills a in the background.
    await startMemcachedZone('a')
    assert.deepEqual(await cache.get('ch/v/seg-00005.m4s'), written)
    const deadline = Date.now() + 5000
    while (!(await headerIn('a', 'ch/v/seg-00005.m4s'))) {
      assert.ok(Date.now() < deadline, 'zone a was not refilled')
      await new Promise((r) => setTimeout(r, 50))
    }
    await killMemcachedZone('b')
    assert.deepEqual(await cache.get('ch/v/seg-00005.m4s'), written, 'read from the refilled zone a alone')
    await startMemcachedZone('b')
  })

  it('never touches keys outside its prefix', async () => {
    const foreign = 'someone-else:key'
    const client = raw.get(serversOf('a')[0] ?? '')
    assert.ok(client)
    await client.set(foreign, Buffer.from('theirs'), { expires: 60 })
    await cache.set('someone-else:key', Buffer.from('ours'), MINUTE)
    await cache.delete('someone-else:key')
    assert.deepEqual((await client.get(foreign)).value, Buffer.from('theirs'))
    await client.delete(foreign)
  })
})
