/**
 * The conformance suite every `StorageDriver` passes: what ingest, delivery and control rely
 * on, through the driver directly and through `ObjectStore`. A driver's own test file calls
 * `driverConformance` and then adds what is special to it. Keys are namespaced by a random
 * prefix per run and everything written expires (or is deleted), so the suite can run against
 * a shared real server; it never flushes anything.
 */

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { errors, isLiveOriginError } from '../../src/errors.js'
import { wrapDriver } from '../../src/storage/instrumented.js'
import { ObjectStore } from '../../src/storage/object-store.js'
import type { ObjectKey, ObjectMeta, StorageDriver } from '../../src/storage/types.js'
import { xxh64Etag } from '../helpers/xxh64.js'

export interface DriverConformanceOptions {
  /** Tests to skip, by exact title, each with the reason. */
  readonly skip?: Readonly<Record<string, string>>
  /** Chunk size for the ObjectStore tests. Default 1024. */
  readonly chunkSize?: number
}

const HOUR = 3_600_000

/** Deterministic pseudo-random bytes (so a failure is reproducible). */
export function patternBytes(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** A body that yields `data` in pieces of `pieceSize` bytes. */
export async function* bodyOf(data: Uint8Array, pieceSize = 700): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.byteLength; i += pieceSize) {
    yield data.subarray(i, Math.min(data.byteLength, i + pieceSize))
    await Promise.resolve()
  }
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const p of it) parts.push(Buffer.from(p))
  return Buffer.concat(parts)
}

/** A commit record for `key` with defaults (no chunks, an hour to live); `over` replaces fields. */
export function metaFor(key: ObjectKey, over: Partial<ObjectMeta> = {}): ObjectMeta {
  return {
    ...key,
    token: `${key.channel}-${randomUUID()}`,
    size: 0,
    chunkSize: 1024,
    chunks: 0,
    etag: '"e"',
    contentType: 'video/mp4',
    committedAt: Date.now(),
    expiresAt: Date.now() + HOUR,
    defects: '',
    ...over,
  }
}

function byPipeline(list: ObjectMeta[]): string[] {
  return list.map((m) => m.pipeline).sort()
}

/** Register the suite. `make` opens a driver (once for the suite); the suite closes it. */
export function driverConformance(
  name: string,
  make: () => Promise<StorageDriver>,
  options: DriverConformanceOptions = {},
): void {
  const chunkSize = options.chunkSize ?? 1024
  describe(`${name}: storage driver conformance`, () => {
    let driver: StorageDriver
    const prefix = `conf${randomUUID().slice(0, 8)}`
    const ch = (n: string) => `${prefix}${n}`
    const store = (over: ConstructorParameters<typeof ObjectStore>[1] = {}) =>
      new ObjectStore(driver, { chunkSize, retryDelayMs: 1, ...over })
    const namespaces: string[] = []

    before(async () => {
      driver = await make()
    })
    after(async () => {
      if (!driver) return
      for (const ns of namespaces) {
        for (const { id } of await driver.listRecords(ns)) await driver.deleteRecord(ns, id)
      }
      await driver.close()
    })

    const test = (title: string, fn: (t: TestContext) => Promise<void>) => {
      const reason = options.skip?.[title]
      it(title, reason === undefined ? {} : { skip: reason }, fn)
    }

    test('declares its name and capabilities', async () => {
      assert.equal(typeof driver.name, 'string')
      assert.ok(driver.name.length > 0)
      assert.equal(typeof driver.capabilities.nativeTtl, 'boolean')
      assert.equal(typeof driver.capabilities.multiProcess, 'boolean')
      await driver.ping()
    })

    test('a chunk reads back as written, and writing it again is harmless', async () => {
      const token = `${prefix}-tok-${randomUUID()}`
      const a = patternBytes(3000, 7)
      const b = patternBytes(1, 8)
      await driver.putChunk(token, 0, a, Date.now() + HOUR)
      await driver.putChunk(token, 1, b, Date.now() + HOUR)
      await driver.putChunk(token, 0, a, Date.now() + HOUR)
      assert.deepEqual(await driver.getChunk(token, 0), a)
      assert.deepEqual(await driver.getChunk(token, 1), b)
      assert.equal(await driver.getChunk(token, 2), undefined)
      assert.equal(await driver.getChunk(`${token}x`, 0), undefined)
      const empty = `${prefix}-tok-${randomUUID()}`
      await driver.putChunk(empty, 0, new Uint8Array(0), Date.now() + HOUR)
      assert.equal((await driver.getChunk(empty, 0))?.byteLength, 0)
    })

    test('deleteChunks deletes [0, count) and ignores missing chunks', async () => {
      const token = `${prefix}-tok-${randomUUID()}`
      for (let i = 0; i < 3; i++) await driver.putChunk(token, i, patternBytes(10, i + 1), Date.now() + HOUR)
      await driver.deleteChunks(token, 2)
      assert.equal(await driver.getChunk(token, 0), undefined)
      assert.equal(await driver.getChunk(token, 1), undefined)
      assert.deepEqual(await driver.getChunk(token, 2), patternBytes(10, 3))
      await driver.deleteChunks(token, 10)
      assert.equal(await driver.getChunk(token, 2), undefined)
      await driver.deleteChunks(`${prefix}-never-written`, 4)
    })

    test('an object is invisible until its commit record is written', async () => {
      const key = { channel: ch('vis'), path: 'v/1.m4s', pipeline: 'a' }
      const meta = metaFor(key, { size: 5, chunks: 1 })
      await driver.putChunk(meta.token, 0, patternBytes(5), meta.expiresAt)
      assert.deepEqual(await driver.list(key.channel, key.path), [])
      assert.equal(await driver.commit(meta), undefined)
      const listed = await driver.list(key.channel, key.path)
      assert.equal(listed.length, 1)
      assert.deepEqual(listed[0], meta)
    })

    test('commit replaces the record of the same key and returns the one it replaced', async () => {
      const key = { channel: ch('rep'), path: 'v/2.m4s', pipeline: 'a' }
      const first = metaFor(key, { defects: 'short' })
      const second = metaFor(key, { size: 9 })
      assert.equal(await driver.commit(first), undefined)
      assert.deepEqual(await driver.commit(second), first)
      assert.deepEqual(await driver.list(key.channel, key.path), [second])
    })

    test('a write-once commit is visible at once; a second one of the key replaces it', async () => {
      const c = ch('once')
      const first = metaFor({ channel: c, path: 'v/3.m4s', pipeline: 'a' })
      const other = metaFor({ channel: c, path: 'v/3.m4s', pipeline: 'b' })
      const replaced = await driver.commit(first, { writeOnce: true })
      assert.equal(replaced, undefined)
      await driver.commit(other, { writeOnce: true })
      assert.deepEqual(byPipeline(await driver.list(c, 'v/3.m4s')), ['a', 'b'])
      // A retried or repeated PUT: the record it replaced may go unreported, but the later wins.
      const second = metaFor(first, { size: 9, committedAt: first.committedAt + 1 })
      const reported = await driver.commit(second, { writeOnce: true })
      assert.ok(
        reported === undefined || reported.token === first.token,
        'reports the replaced record or nothing',
      )
      const listed = await driver.list(c, 'v/3.m4s')
      assert.deepEqual(
        listed.find((m) => m.pipeline === 'a'),
        second,
      )
      assert.equal(listed.length, 2)
    })

    test("list returns every pipeline's copy and nothing of other paths or channels", async () => {
      const c = ch('lst')
      const wanted = ['a', 'b', 'west-2']
      for (const p of wanted) await driver.commit(metaFor({ channel: c, path: 'a/1.m4s', pipeline: p }))
      // Neighbours that share a prefix with the wanted key in one way or another.
      await driver.commit(metaFor({ channel: c, path: 'a/1.m4s2', pipeline: 'a' }))
      await driver.commit(metaFor({ channel: c, path: 'a/1.m4', pipeline: 'a' }))
      await driver.commit(metaFor({ channel: c, path: 'a/1.m4s/x', pipeline: 'a' }))
      await driver.commit(metaFor({ channel: c, path: 'a/10.m4s', pipeline: 'b' }))
      await driver.commit(metaFor({ channel: `${c}2`, path: 'a/1.m4s', pipeline: 'c' }))
      await driver.commit(metaFor({ channel: c.slice(0, -1), path: 'a/1.m4s', pipeline: 'd' }))
      const listed = await driver.list(c, 'a/1.m4s')
      assert.deepEqual(byPipeline(listed), wanted)
      for (const m of listed) {
        assert.equal(m.channel, c)
        assert.equal(m.path, 'a/1.m4s')
      }
      assert.deepEqual(byPipeline(await driver.list(c, 'a/1.m4s2')), ['a'])
      assert.deepEqual(byPipeline(await driver.list(`${c}2`, 'a/1.m4s')), ['c'])
      assert.deepEqual(await driver.list(c, 'a/1'), [])
      assert.deepEqual(await driver.list(c, 'a'), [])
    })

    test("remove deletes one pipeline's copy and leaves the others", async () => {
      const c = ch('rm')
      const a = metaFor({ channel: c, path: 'x.m4s', pipeline: 'a' })
      const b = metaFor({ channel: c, path: 'x.m4s', pipeline: 'b' })
      await driver.commit(a)
      await driver.commit(b)
      assert.deepEqual(await driver.remove({ channel: c, path: 'x.m4s', pipeline: 'a' }), a)
      assert.deepEqual(await driver.list(c, 'x.m4s'), [b])
      assert.equal(await driver.remove({ channel: c, path: 'x.m4s', pipeline: 'a' }), undefined)
      assert.equal(await driver.remove({ channel: c, path: 'nothing', pipeline: 'a' }), undefined)
    })

    test('concurrent commits of different pipelines are all listed', async () => {
      const c = ch('conc')
      const pipelines = Array.from({ length: 8 }, (_, i) => `p${i}`)
      await Promise.all(
        pipelines.map((p) => driver.commit(metaFor({ channel: c, path: 's/7.m4s', pipeline: p }))),
      )
      assert.deepEqual(byPipeline(await driver.list(c, 's/7.m4s')), pipelines.sort())
    })

    test('records: put, get, overwrite, list by namespace, delete', async () => {
      const ns = ch('rec')
      namespaces.push(ns, `${ns}2`, ns.slice(0, -1))
      const doc = {
        template: '$Number$.m4s',
        pipelines: ['a', 'b'],
        n: 1.5,
        nested: { ok: true, none: null },
      }
      assert.equal(await driver.getRecord(ns, 'one'), undefined)
      await driver.putRecord(ns, 'one', doc)
      await driver.putRecord(ns, 'two', 'a string')
      await driver.putRecord(ns, 'one/with/slashes', 42)
      await driver.putRecord(`${ns}2`, 'other', 1)
      await driver.putRecord(ns.slice(0, -1), 'short', 2)
      assert.deepEqual(await driver.getRecord(ns, 'one'), doc)
      await driver.putRecord(ns, 'two', { replaced: true })
      assert.deepEqual(await driver.getRecord(ns, 'two'), { replaced: true })
      const listed = await driver.listRecords(ns)
      assert.deepEqual(
        listed.sort((x, y) => x.id.localeCompare(y.id)),
        [
          { id: 'one', value: doc },
          { id: 'one/with/slashes', value: 42 },
          { id: 'two', value: { replaced: true } },
        ],
      )
      await driver.deleteRecord(ns, 'one')
      await driver.deleteRecord(ns, 'missing')
      assert.equal(await driver.getRecord(ns, 'one'), undefined)
      assert.deepEqual((await driver.listRecords(ns)).map((r) => r.id).sort(), ['one/with/slashes', 'two'])
      assert.deepEqual(await driver.listRecords(`${ns}-empty`), [])
    })

    test('control-plane records with an expiry vanish once it passes; a later put without one keeps its record', async () => {
      const ns = ch('recx')
      namespaces.push(ns)
      const at = Date.now() + 1500
      await driver.putRecord(ns, 'ends', { ended: true }, at)
      await driver.putRecord(ns, 'revived', { ended: true }, at)
      await driver.putRecord(ns, 'revived', { ended: false })
      await driver.putRecord(ns, 'stays', 1, Date.now() + HOUR)
      assert.deepEqual(await driver.getRecord(ns, 'ends'), { ended: true })
      assert.equal((await driver.listRecords(ns)).length, 3)
      const deadline = Date.now() + 8000
      for (;;) {
        await sleep(Math.max(250, at - Date.now() + 50))
        await driver.sweep(Date.now())
        const ids = (await driver.listRecords(ns)).map((r) => r.id).sort()
        if (ids.length === 2 && (await driver.getRecord(ns, 'ends')) === undefined) {
          assert.deepEqual(ids, ['revived', 'stays'])
          break
        }
        assert.ok(Date.now() < deadline, `still there after the expiry: ${ids.join(', ')}`)
      }
      assert.deepEqual(await driver.getRecord(ns, 'revived'), { ended: false })
      await driver.deleteRecord(ns, 'revived')
      await driver.deleteRecord(ns, 'stays')
    })

    test('sweep removes expired records and chunks, and only those', async (t) => {
      if (driver.capabilities.nativeTtl) {
        t.skip('the driver expires records by itself (see the native TTL test)')
        return
      }
      const base = Date.now()
      const c = ch('sw')
      const expired = metaFor(
        { channel: c, path: 'old.m4s', pipeline: 'a' },
        { chunks: 2, expiresAt: base + 1000 },
      )
      const kept = metaFor(
        { channel: c, path: 'old.m4s', pipeline: 'b' },
        { chunks: 1, expiresAt: base + 1e9 },
      )
      const forever = metaFor({ channel: c, path: 'forever.m4s', pipeline: 'a' }, { chunks: 1, expiresAt: 0 })
      // Replaced by a longer-lived record: the old record's expiry must not take the new one.
      const replacedKey = { channel: c, path: 'manifest.mpd', pipeline: 'a' }
      await driver.commit(metaFor(replacedKey, { expiresAt: base + 1000 }))
      const replacement = metaFor(replacedKey, { expiresAt: base + 1e9 })
      await driver.commit(replacement)
      for (const m of [expired, kept, forever]) {
        for (let i = 0; i < m.chunks; i++)
          await driver.putChunk(m.token, i, patternBytes(100, i + 1), m.expiresAt)
        await driver.commit(m)
      }
      const before = await driver.sweep(base + 500)
      assert.equal(
        byPipeline(await driver.list(c, 'old.m4s')).length,
        2,
        `sweep before expiry removed ${before}`,
      )
      const removed = await driver.sweep(base + 5000)
      assert.ok(removed >= 3, `sweep reported ${removed} removals, expected at least 3`)
      assert.deepEqual(await driver.list(c, 'old.m4s'), [kept])
      assert.equal(await driver.getChunk(expired.token, 0), undefined)
      assert.equal(await driver.getChunk(expired.token, 1), undefined)
      assert.ok(await driver.getChunk(kept.token, 0))
      assert.deepEqual(await driver.list(c, 'forever.m4s'), [forever])
      assert.ok(await driver.getChunk(forever.token, 0))
      assert.deepEqual(await driver.list(c, 'manifest.mpd'), [replacement])
      assert.equal(await driver.sweep(base + 5000), 0)
    })

    test('extend moves the expiry of the current copy and never undoes a later commit or remove', async () => {
      const base = Date.now()
      const c = ch('ext')
      const m = metaFor(
        { channel: c, path: 'init.mp4', pipeline: 'a' },
        { chunks: 2, size: 1100, expiresAt: base + HOUR },
      )
      await driver.putChunk(m.token, 0, patternBytes(1024, 3), m.expiresAt)
      await driver.putChunk(m.token, 1, patternBytes(76, 4), m.expiresAt)
      await driver.commit(m)
      const extended = { ...m, expiresAt: base + 3 * HOUR }
      assert.deepEqual(await driver.extend(m, extended.expiresAt), extended)
      assert.deepEqual(await driver.list(c, 'init.mp4'), [extended])
      // Never shortens a lifetime.
      assert.deepEqual(await driver.extend(extended, base + 2 * HOUR), extended)
      assert.deepEqual(await driver.list(c, 'init.mp4'), [extended])
      if (!driver.capabilities.nativeTtl) {
        // The old expiry no longer applies, to the record or to its chunks; the new one does.
        await driver.sweep(base + 2 * HOUR)
        assert.deepEqual(await driver.list(c, 'init.mp4'), [extended])
        assert.deepEqual(await driver.getChunk(m.token, 1), patternBytes(76, 4))
      }
      assert.deepEqual(await driver.getChunk(m.token, 0), patternBytes(1024, 3))

      // A copy committed after the one being extended wins, and so does a removal.
      const replacement = metaFor({ channel: c, path: 'init.mp4', pipeline: 'a' })
      await driver.commit(replacement)
      assert.equal(await driver.extend(extended, base + 4 * HOUR), undefined)
      assert.deepEqual(await driver.list(c, 'init.mp4'), [replacement])
      await driver.remove(replacement)
      assert.equal(await driver.extend(replacement, base + 4 * HOUR), undefined)
      assert.deepEqual(await driver.list(c, 'init.mp4'), [])

      if (!driver.capabilities.nativeTtl) {
        const other = metaFor(
          { channel: c, path: 'init2.mp4', pipeline: 'a' },
          { chunks: 1, expiresAt: base + HOUR },
        )
        await driver.putChunk(other.token, 0, patternBytes(10), other.expiresAt)
        await driver.commit(other)
        await driver.extend(other, base + 2 * HOUR)
        await driver.sweep(base + 2 * HOUR + 1)
        assert.deepEqual(await driver.list(c, 'init2.mp4'), [])
        assert.equal(await driver.getChunk(other.token, 0), undefined)
      }
    })

    test("records and chunks expire by the store's own TTL", async (t) => {
      if (!driver.capabilities.nativeTtl) {
        t.skip('the driver has no native TTL (expiry is covered by the sweep test)')
        return
      }
      const c = ch('ttl')
      const shortLived = metaFor(
        { channel: c, path: 'gone.m4s', pipeline: 'a' },
        { chunks: 1, expiresAt: Date.now() + 1500 },
      )
      const longLived = metaFor(
        { channel: c, path: 'gone.m4s', pipeline: 'b' },
        { chunks: 1, expiresAt: Date.now() + HOUR },
      )
      for (const m of [shortLived, longLived]) {
        await driver.putChunk(m.token, 0, patternBytes(64), m.expiresAt)
        await driver.commit(m)
      }
      assert.equal((await driver.list(c, 'gone.m4s')).length, 2)
      const deadline = Date.now() + 8000
      for (;;) {
        const listed = await driver.list(c, 'gone.m4s')
        const chunk = await driver.getChunk(shortLived.token, 0)
        if (listed.length === 1 && chunk === undefined) {
          assert.deepEqual(listed, [longLived])
          break
        }
        assert.ok(
          Date.now() < deadline,
          `still there after the TTL: ${listed.length} records, chunk ${!!chunk}`,
        )
        await sleep(250)
      }
      assert.ok(await driver.getChunk(longLived.token, 0))
    })

    describe('through ObjectStore', () => {
      const sizes = [
        ['0 B', 0],
        ['1 B', 1],
        ['exactly one chunk', chunkSize],
        ['one chunk and one byte', chunkSize + 1],
        ['2.5 chunks', Math.floor(chunkSize * 2.5)],
      ] as const
      for (const [label, size] of sizes) {
        test(`round trip of ${label}`, async () => {
          const objects = store()
          const key = { channel: ch('rt'), path: `v/${size}.m4s`, pipeline: 'a' }
          const data = patternBytes(size, size + 3)
          const { meta, replaced } = await objects.write(key, bodyOf(data), {
            contentType: 'video/iso.segment',
            expiresAt: Date.now() + HOUR,
            defects: size === 1 ? 'short' : '',
          })
          assert.equal(replaced, undefined)
          assert.equal(meta.size, size)
          assert.equal(meta.chunks, Math.ceil(size / chunkSize))
          assert.equal(meta.etag, xxh64Etag(data))
          const [listed] = await objects.list(key.channel, key.path)
          assert.deepEqual(listed, meta)
          assert.equal(listed?.defects, size === 1 ? 'short' : '')
          assert.deepEqual(await objects.readAll(meta), data)
          assert.deepEqual(await collect(objects.read(meta)), data)
        })
      }

      test('range reads return exactly the requested bytes', async () => {
        const objects = store()
        const size = Math.floor(chunkSize * 2.5)
        const data = patternBytes(size, 99)
        const key = { channel: ch('rng'), path: 'v/r.m4s', pipeline: 'a' }
        const { meta } = await objects.write(key, bodyOf(data, 333), {
          contentType: 'video/mp4',
          expiresAt: Date.now() + HOUR,
        })
        const ranges: Array<[number, number]> = [
          [0, 0],
          [0, size - 1],
          [chunkSize - 1, chunkSize],
          [chunkSize, chunkSize],
          [chunkSize - 1, 2 * chunkSize],
          [10, chunkSize * 2 + 7],
          [2 * chunkSize, size - 1],
          [size - 1, size - 1],
        ]
        for (const [start, end] of ranges) {
          assert.deepEqual(
            await collect(objects.read(meta, { start, end })),
            data.subarray(start, end + 1),
            `${start}-${end}`,
          )
        }
        for (const bad of [
          { start: 0, end: size },
          { start: 5, end: 4 },
          { start: -1, end: 3 },
        ]) {
          await assert.rejects(collect(objects.read(meta, bad)), (e) => {
            assert.ok(isLiveOriginError(e))
            assert.equal(e.code, errors.rangeNotSatisfiable.code)
            return true
          })
        }
      })

      test('a body that fails midway commits nothing and deletes its chunks', async () => {
        const tokens = new Set<string>()
        const recording = wrapDriver(driver, async (_op, call) => call())
        const watched: StorageDriver = {
          ...recording,
          putChunk: (token, index, data, expiresAt) => {
            tokens.add(token)
            return recording.putChunk(token, index, data, expiresAt)
          },
        }
        const objects = new ObjectStore(watched, { chunkSize, retryDelayMs: 1 })
        const key = { channel: ch('abort'), path: 'v/a.m4s', pipeline: 'a' }
        async function* failing() {
          yield* bodyOf(patternBytes(chunkSize * 3, 5), 500)
          throw new Error('connection reset by peer')
        }
        await assert.rejects(
          objects.write(key, failing(), { contentType: 'video/mp4', expiresAt: Date.now() + HOUR }),
          /connection reset by peer/,
        )
        assert.deepEqual(await driver.list(key.channel, key.path), [])
        assert.equal(tokens.size, 1)
        const [token] = tokens
        for (let i = 0; i < 3; i++)
          assert.equal(await driver.getChunk(token!, i), undefined, `chunk ${i} left behind`)
      })

      test('a failed replacement leaves the previous object in place', async () => {
        const objects = store()
        const key = { channel: ch('keep'), path: 'v/k.m4s', pipeline: 'a' }
        const original = patternBytes(chunkSize * 2, 11)
        const { meta } = await objects.write(key, bodyOf(original), {
          contentType: 'video/mp4',
          expiresAt: Date.now() + HOUR,
        })
        async function* failing() {
          yield patternBytes(chunkSize + 10, 12)
          throw new Error('client went away')
        }
        await assert.rejects(
          objects.write(key, failing(), { contentType: 'video/mp4', expiresAt: Date.now() + HOUR }),
        )
        assert.deepEqual(await objects.list(key.channel, key.path), [meta])
        assert.deepEqual(await objects.readAll(meta), original)
      })

      test('a body above maxBytes is refused with TOO_LARGE and commits nothing', async () => {
        const objects = store()
        const key = { channel: ch('big'), path: 'v/b.m4s', pipeline: 'a' }
        await assert.rejects(
          objects.write(key, bodyOf(patternBytes(chunkSize * 3)), {
            contentType: 'video/mp4',
            expiresAt: Date.now() + HOUR,
            maxBytes: chunkSize * 2,
          }),
          (e) => {
            assert.ok(isLiveOriginError(e))
            assert.equal(e.code, errors.tooLarge.code)
            assert.equal(e.status, 413)
            return true
          },
        )
        assert.deepEqual(await driver.list(key.channel, key.path), [])
        const exact = await objects.write(key, bodyOf(patternBytes(chunkSize * 2)), {
          contentType: 'video/mp4',
          expiresAt: Date.now() + HOUR,
          maxBytes: chunkSize * 2,
        })
        assert.equal(exact.meta.size, chunkSize * 2)
      })

      test('aborting the signal abandons a stalled body and commits nothing', async () => {
        const objects = store()
        const key = { channel: ch('stall'), path: 'v/s.m4s', pipeline: 'a' }
        const controller = new AbortController()
        async function* stalling() {
          yield patternBytes(chunkSize + 1)
          await new Promise(() => {})
        }
        setTimeout(() => controller.abort(new Error('upload stalled')), 50)
        const started = Date.now()
        await assert.rejects(
          objects.write(key, stalling(), {
            contentType: 'video/mp4',
            expiresAt: Date.now() + HOUR,
            signal: controller.signal,
          }),
          /upload stalled/,
        )
        assert.ok(Date.now() - started < 2000, 'the write waited for the stalled body')
        assert.deepEqual(await driver.list(key.channel, key.path), [])
      })

      test('onData sees every byte in order, and throwing from it aborts the write', async () => {
        const objects = store()
        const key = { channel: ch('ondata'), path: 'v/o.m4s', pipeline: 'a' }
        const data = patternBytes(chunkSize * 2 + 17, 21)
        const seen: Buffer[] = []
        await objects.write(key, bodyOf(data, 100), {
          contentType: 'video/mp4',
          expiresAt: Date.now() + HOUR,
          onData: (p) => seen.push(Buffer.from(p)),
        })
        assert.deepEqual(Buffer.concat(seen), data)
        const other = { ...key, pipeline: 'b' }
        await assert.rejects(
          objects.write(other, bodyOf(data, 100), {
            contentType: 'video/mp4',
            expiresAt: Date.now() + HOUR,
            onData: () => {
              throw new Error('not an MP4 box')
            },
          }),
          /not an MP4 box/,
        )
        assert.deepEqual(byPipeline(await objects.list(key.channel, key.path)), ['a'])
      })

      test('replacing keeps the old bytes readable until the grace period ends', async () => {
        const objects = store({ replacedGraceMs: 60_000 })
        const key = { channel: ch('grace'), path: 'manifest.mpd', pipeline: 'a' }
        const v1 = patternBytes(chunkSize * 2, 31)
        const v2 = patternBytes(chunkSize + 5, 32)
        const first = await objects.write(key, bodyOf(v1), {
          contentType: 'application/dash+xml',
          expiresAt: 0,
        })
        const second = await objects.write(key, bodyOf(v2), {
          contentType: 'application/dash+xml',
          expiresAt: 0,
        })
        assert.deepEqual(second.replaced, first.meta)
        assert.notEqual(second.meta.token, first.meta.token)
        assert.deepEqual(await objects.list(key.channel, key.path), [second.meta])
        assert.deepEqual(await objects.readAll(first.meta), v1)
        assert.equal(objects.pendingDeletions(), 1)
        await objects.flushDeletions()
        assert.equal(objects.pendingDeletions(), 0)
        await assert.rejects(objects.readAll(first.meta), (e) => isLiveOriginError(e) && e.status === 503)
        assert.deepEqual(await objects.readAll(second.meta), v2)
        assert.equal(await driver.getChunk(first.meta.token, 0), undefined)
        await objects.remove(key)
        await objects.flushDeletions()
      })

      test('a retried upload of the same bytes has the same ETag and replaces the first', async () => {
        const objects = store()
        const key = { channel: ch('retry'), path: 'v/9.m4s', pipeline: 'a' }
        const data = patternBytes(chunkSize + 100, 41)
        const a = await objects.write(key, bodyOf(data), {
          contentType: 'video/mp4',
          expiresAt: Date.now() + HOUR,
        })
        const b = await objects.write(key, bodyOf(data, 64), {
          contentType: 'video/mp4',
          expiresAt: Date.now() + HOUR,
        })
        assert.equal(a.meta.etag, b.meta.etag)
        assert.equal(b.replaced?.token, a.meta.token)
        assert.deepEqual(await objects.readAll(b.meta), data)
        await objects.flushDeletions()
      })

      test('remove through ObjectStore deletes the copy and, after the grace period, its chunks', async () => {
        const objects = store({ replacedGraceMs: 60_000 })
        const key = { channel: ch('orm'), path: 'v/3.m4s', pipeline: 'a' }
        const { meta } = await objects.write(key, bodyOf(patternBytes(chunkSize * 2)), {
          contentType: 'video/mp4',
          expiresAt: Date.now() + HOUR,
        })
        assert.deepEqual(await objects.remove(key), meta)
        assert.deepEqual(await objects.list(key.channel, key.path), [])
        assert.ok(await driver.getChunk(meta.token, 0), 'a reader may still be streaming it')
        await objects.flushDeletions()
        assert.equal(await driver.getChunk(meta.token, 0), undefined)
        assert.equal(await driver.getChunk(meta.token, 1), undefined)
      })

      test('chunk writes that fail once are retried and the object is whole', async () => {
        const failedOnce = new Set<number>()
        const flaky = wrapDriver(driver, async (_op, call) => call())
        const objects = new ObjectStore(
          {
            ...flaky,
            putChunk: async (token, index, data, expiresAt) => {
              if (!failedOnce.has(index)) {
                failedOnce.add(index)
                throw new Error('timeout')
              }
              return flaky.putChunk(token, index, data, expiresAt)
            },
          },
          { chunkSize, retryDelayMs: 1, retries: 1 },
        )
        const key = { channel: ch('flaky'), path: 'v/f.m4s', pipeline: 'a' }
        const data = patternBytes(Math.floor(chunkSize * 3.5), 51)
        const { meta } = await objects.write(key, bodyOf(data), {
          contentType: 'video/mp4',
          expiresAt: Date.now() + HOUR,
        })
        assert.equal(failedOnce.size, 4)
        assert.deepEqual(await objects.readAll(meta), data)
      })

      test('chunk writes that keep failing fail the write and commit nothing', async () => {
        const broken = wrapDriver(driver, async (op, call) => {
          if (op === 'putChunk') throw new Error('storage down')
          return call()
        })
        const objects = new ObjectStore(broken, { chunkSize, retryDelayMs: 1, retries: 2 })
        const key = { channel: ch('down'), path: 'v/d.m4s', pipeline: 'a' }
        await assert.rejects(
          objects.write(key, bodyOf(patternBytes(chunkSize * 2)), {
            contentType: 'video/mp4',
            expiresAt: Date.now() + HOUR,
          }),
          /storage down/,
        )
        assert.deepEqual(await driver.list(key.channel, key.path), [])
      })
    })
  })
}
