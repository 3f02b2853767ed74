/**
 * The conformance suite every `CacheStore` tier passes (memory, memcached). Keys carry a
 * random prefix per run and every value expires, so the suite can run against a shared real
 * server; it never flushes anything.
 */

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { CacheStore } from '../../src/cache/types.js'

export interface CacheConformanceOptions {
  /** Tests to skip, by exact title, each with the reason. */
  readonly skip?: Readonly<Record<string, string>>
  /** Size of the "large value" test. Default 512 KiB (below memcached's default 1 MiB item limit). */
  readonly largeValueBytes?: number
}

const MINUTE = 60_000

/** Register the suite. `make` opens the cache (once for the suite); the suite closes it. */
export function cacheConformance(
  name: string,
  make: () => Promise<CacheStore>,
  options: CacheConformanceOptions = {},
): void {
  describe(`${name}: cache conformance`, () => {
    let cache: CacheStore
    const prefix = `conf${randomUUID().slice(0, 8)}`
    const k = (n: string) => `${prefix}:${n}`

    before(async () => {
      cache = await make()
    })
    after(async () => {
      await cache?.close()
    })

    const test = (title: string, fn: () => Promise<void>) => {
      const reason = options.skip?.[title]
      it(title, reason === undefined ? {} : { skip: reason }, fn)
    }

    test('declares a name', async () => {
      assert.equal(typeof cache.name, 'string')
      assert.ok(cache.name.length > 0)
    })

    test('get of a missing key is undefined', async () => {
      assert.equal(await cache.get(k('missing')), undefined)
    })

    test('a value reads back byte for byte', async () => {
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
      await cache.set(k('bytes'), all, MINUTE)
      assert.deepEqual(await cache.get(k('bytes')), all)
      await cache.set(k('empty'), new Uint8Array(0), MINUTE)
      const empty = await cache.get(k('empty'))
      assert.ok(empty !== undefined, 'an empty value is a hit, not a miss')
      assert.equal(empty.byteLength, 0)
      const view = new Uint8Array(all.buffer, all.byteOffset + 10, 20)
      await cache.set(k('view'), view, MINUTE)
      assert.deepEqual(await cache.get(k('view')), all.subarray(10, 30))
    })

    test('a large value reads back whole', async () => {
      const size = options.largeValueBytes ?? 512 * 1024
      const big = Buffer.alloc(size)
      for (let i = 0; i < size; i++) big[i] = (i * 31 + 7) & 0xff
      await cache.set(k('large'), big, MINUTE)
      assert.deepEqual(await cache.get(k('large')), big)
    })

    test('set replaces the previous value', async () => {
      await cache.set(k('replace'), Buffer.from('first'), MINUTE)
      await cache.set(k('replace'), Buffer.from('second, longer'), MINUTE)
      assert.deepEqual(await cache.get(k('replace')), Buffer.from('second, longer'))
    })

    test('delete removes a value, and deleting a missing key is fine', async () => {
      await cache.set(k('del'), Buffer.from('x'), MINUTE)
      await cache.delete(k('del'))
      assert.equal(await cache.get(k('del')), undefined)
      await cache.delete(k('never-set'))
    })

    test('keys that share a prefix are independent', async () => {
      await cache.set(k('seg/1.m4s'), Buffer.from('one'), MINUTE)
      await cache.set(k('seg/1.m4s2'), Buffer.from('two'), MINUTE)
      await cache.set(k('seg/1'), Buffer.from('three'), MINUTE)
      await cache.delete(k('seg/1'))
      assert.deepEqual(await cache.get(k('seg/1.m4s')), Buffer.from('one'))
      assert.deepEqual(await cache.get(k('seg/1.m4s2')), Buffer.from('two'))
      assert.equal(await cache.get(k('seg/1')), undefined)
    })

    test('a value expires after its ttl and a longer-lived one stays', async () => {
      await cache.set(k('short'), Buffer.from('short-lived'), 1000)
      await cache.set(k('long'), Buffer.from('long-lived'), MINUTE)
      assert.deepEqual(await cache.get(k('short')), Buffer.from('short-lived'))
      // Some tiers count lifetimes in whole seconds: allow for rounding up.
      const deadline = Date.now() + 4000
      while ((await cache.get(k('short'))) !== undefined) {
        assert.ok(Date.now() < deadline, 'the value outlived its ttl by more than 3 s')
        await sleep(200)
      }
      assert.deepEqual(await cache.get(k('long')), Buffer.from('long-lived'))
    })
    const logs = () => {
      assert.ok(cache.appendLog && cache.getLog, `${name} keeps logs (appendLog, getLog)`)
      return { appendLog: cache.appendLog.bind(cache), getLog: cache.getLog.bind(cache) }
    }

    test('a log is created by its first append, and every append is kept', async () => {
      const { appendLog, getLog } = logs()
      assert.equal(await getLog(k('log')), undefined)
      await appendLog(k('log'), Buffer.from('one\n'), MINUTE)
      await appendLog(k('log'), Buffer.from('two\n'), MINUTE)
      assert.equal((await getLog(k('log')))?.toString(), 'one\ntwo\n')
      assert.equal(await cache.get(k('log')), undefined, 'a log is not a value of the same key')
    })

    test('concurrent appends to one log all land, whoever creates it', async () => {
      const { appendLog, getLog } = logs()
      const writers = Array.from({ length: 16 }, (_, i) => `w${i}`)
      await Promise.all(writers.map((w) => appendLog(k('race'), Buffer.from(`${w}\n`), MINUTE)))
      const lines = (await getLog(k('race')))?.toString().split('\n').filter(Boolean) ?? []
      assert.deepEqual(lines.sort(), [...writers].sort())
    })

    test('a log expires with the lifetime of its first append', async () => {
      const { appendLog, getLog } = logs()
      await appendLog(k('log-short'), Buffer.from('a\n'), 1000)
      await appendLog(k('log-short'), Buffer.from('b\n'), MINUTE)
      const deadline = Date.now() + 4000
      while ((await getLog(k('log-short'))) !== undefined) {
        assert.ok(Date.now() < deadline, 'the log outlived its first lifetime by more than 3 s')
        await sleep(200)
      }
    })
  })
}
