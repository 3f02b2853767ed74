/**
 * The memory cache tier: the shared cache conformance suite, then its byte bound, LRU order,
 * lifetimes on a fake clock, and the generic `ByteLru`.
 */

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ByteLru, createMemoryCache } from '../../src/cache/memory.js'
import { cacheConformance } from './cache-conformance.js'

cacheConformance('memory', async () => createMemoryCache({ maxBytes: 8 * 1024 * 1024 }))

const fakeClock = (start = 1_000_000) => {
  let t = start
  return { now: () => t, advance: (ms: number) => (t += ms) }
}

describe('memory cache', () => {
  it('never holds more than maxBytes (values plus keys), whatever is stored', async () => {
    const cache = createMemoryCache({ maxBytes: 100_000 })
    for (let i = 0; i < 500; i++) {
      await cache.set(`seg/${i}.m4s`, Buffer.alloc(100 + ((i * 7919) % 9000), i & 0xff), 60_000)
      assert.ok(cache.bytes() <= 100_000, `holds ${cache.bytes()} bytes after ${i + 1} sets`)
    }
    assert.ok(cache.bytes() > 80_000, 'it is filled, not emptied')
    // The most recent value is always there; the oldest are gone.
    assert.deepEqual(await cache.get('seg/499.m4s'), Buffer.alloc(100 + ((499 * 7919) % 9000), 499 & 0xff))
    assert.equal(await cache.get('seg/0.m4s'), undefined)
  })

  it('evicts the least recently used entry first; a hit makes an entry recent, peek does not', async () => {
    const cache = createMemoryCache({ maxBytes: 3 * 101 })
    const v = Buffer.alloc(100)
    cache.setSync('a', v, 60_000)
    cache.setSync('b', v, 60_000)
    cache.setSync('c', v, 60_000)
    assert.ok(cache.getSync('a'))
    assert.ok(cache.peek('b'))
    cache.setSync('d', v, 60_000)
    assert.equal(cache.peek('b'), undefined, 'b was the least recently used (peek does not count)')
    assert.ok(cache.peek('a'))
    assert.ok(cache.peek('c'))
    assert.ok(cache.peek('d'))
    await cache.get('c')
    cache.setSync('e', v, 60_000)
    assert.equal(cache.peek('a'), undefined)
    assert.ok(cache.peek('c'))
    assert.equal(cache.entries(), 3)
  })

  it('forgets a value when its ttl passes', async () => {
    const clock = fakeClock()
    const cache = createMemoryCache({ maxBytes: 1000, now: clock.now })
    cache.setSync('k', Buffer.from('v'), 2000)
    clock.advance(1999)
    assert.deepEqual(await cache.get('k'), Buffer.from('v'))
    clock.advance(1)
    assert.equal(await cache.get('k'), undefined)
    assert.equal(cache.bytes(), 0)
  })

  it('does not keep values larger than the cache, nor a zero ttl, and drops the older value', () => {
    const cache = createMemoryCache({ maxBytes: 1000 })
    cache.setSync('k', Buffer.from('small'), 60_000)
    assert.equal(cache.setSync('k', Buffer.alloc(2000), 60_000), false)
    assert.equal(cache.peek('k'), undefined)
    cache.setSync('k', Buffer.from('small'), 60_000)
    assert.equal(cache.setSync('k', Buffer.from('x'), 0), false)
    assert.equal(cache.peek('k'), undefined)
    const off = createMemoryCache({ maxBytes: 0 })
    assert.equal(off.setSync('k', Buffer.from('x'), 60_000), false)
    assert.equal(off.bytes(), 0)
  })

  it('copies a small view of a large buffer, so the byte bound is the memory held', async () => {
    const cache = createMemoryCache({ maxBytes: 1_000_000 })
    const big = Buffer.alloc(4 * 1024 * 1024, 9)
    await cache.set('view', big.subarray(100, 200), 60_000)
    const got = await cache.get('view')
    assert.equal(got?.byteLength, 100)
    assert.ok(got!.buffer.byteLength < 16 * 1024, `the cached value pins ${got!.buffer.byteLength} bytes`)
    const own = Buffer.alloc(50_000, 1)
    await cache.set('own', own, 60_000)
    assert.equal(await cache.get('own'), own, 'a buffer that is all its own is kept as is')
  })

  it('rejects bad options with a TypeError naming the option', () => {
    assert.throws(() => createMemoryCache({ maxBytes: -1 }), { name: 'TypeError', message: /maxBytes/ })
    assert.throws(() => createMemoryCache({ maxBytes: 10, ttl: 5 } as never), {
      name: 'TypeError',
      message: /ttl/,
    })
  })
})

describe('ByteLru', () => {
  it('charges entries by the size function and evicts to stay under the bound', () => {
    const lru = new ByteLru<string[]>({ maxBytes: 10, sizeOf: (v) => v.length })
    lru.set('x', ['a', 'b', 'c', 'd'])
    lru.set('y', ['a', 'b', 'c', 'd'])
    assert.equal(lru.bytes(), 8)
    lru.get('x')
    lru.set('z', ['a', 'b', 'c'])
    assert.deepEqual([...lru.keys()], ['x', 'z'])
    assert.equal(lru.bytes(), 7)
    assert.equal(lru.has('y'), false)
    lru.set('x', ['a'])
    assert.equal(lru.bytes(), 4)
    assert.equal(lru.delete('z'), true)
    assert.equal(lru.delete('z'), false)
    assert.equal(lru.size, 1)
  })

  it('expires entries on a fake clock and keeps ttl-less entries until evicted', () => {
    const clock = fakeClock()
    const lru = new ByteLru<number>({ maxBytes: 100, sizeOf: () => 1, now: clock.now })
    lru.set('short', 1, 50)
    lru.set('forever', 2)
    clock.advance(1_000_000)
    assert.equal(lru.get('short'), undefined)
    assert.equal(lru.get('forever'), 2)
  })

  it('keeps constant-time operations: 4× the work at 4× the size takes about 4× the time', () => {
    // CPU time of this process, not wall time: other processes on a busy machine do not count.
    const cpuMs = () => {
      const u = process.cpuUsage()
      return (u.user + u.system) / 1000
    }
    const run = (n: number) => {
      const lru = new ByteLru<number>({ maxBytes: n / 5, sizeOf: () => 1 })
      const start = cpuMs()
      for (let i = 0; i < n; i++) {
        lru.set(`k${i}`, i)
        lru.get(`k${i >> 1}`)
      }
      assert.equal(lru.size, n / 5)
      return cpuMs() - start
    }
    run(20_000)
    const small = Math.min(run(50_000), run(50_000), run(50_000))
    const large = Math.min(run(200_000), run(200_000), run(200_000))
    // Linear growth gives about 4; eviction that scans (quadratic) gives about 16.
    assert.ok(large / small < 10, `50k ops: ${small.toFixed(0)} ms, 200k ops: ${large.toFixed(0)} ms`)
  })
})
