/**
 * ObjectStore behaviour beyond the conformance suite: bounded memory while streaming, real
 * grace timers, read-ahead that is abandoned or finds a chunk gone, and option checks. Runs
 * on the embedded driver in a temp dir.
 */

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { isLiveOriginError } from '../../src/errors.js'
import { createEmbeddedDriver } from '../../src/storage/embedded.js'
import { wrapDriver } from '../../src/storage/instrumented.js'
import { ObjectStore } from '../../src/storage/object-store.js'
import type { StorageDriver } from '../../src/storage/types.js'
import { xxh64Etag } from '../helpers/xxh64.js'
import { bodyOf, patternBytes } from './driver-conformance.js'

const MiB = 1024 * 1024
let dir: string
let driver: StorageDriver

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'liveorigin-objects-'))
  driver = createEmbeddedDriver({ dataDir: dir })
})
after(async () => {
  await driver.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('ObjectStore streaming', () => {
  it('holds about chunkConcurrency chunks of a 64 MiB upload, never the whole body', async () => {
    const chunkSize = MiB
    const chunkConcurrency = 4
    const piece = 64 * 1024
    let produced = 0
    let stored = 0
    let maxHeld = 0
    let running = 0
    let maxRunning = 0
    // A storage that takes a little while per chunk, so that the body outruns it.
    const slow = wrapDriver(driver, async (op, call) => {
      if (op !== 'putChunk') return call()
      running++
      maxRunning = Math.max(maxRunning, running)
      try {
        await sleep(3)
        return await call()
      } finally {
        running--
      }
    })
    const watched: StorageDriver = {
      ...slow,
      putChunk: async (token, index, data, expiresAt) => {
        await slow.putChunk(token, index, data, expiresAt)
        stored += data.byteLength
      },
    }
    async function* body() {
      const block = patternBytes(piece, 3)
      for (let i = 0; i < (64 * MiB) / piece; i++) {
        produced += piece
        maxHeld = Math.max(maxHeld, produced - stored)
        yield block
      }
    }
    const objects = new ObjectStore(watched, { chunkSize, chunkConcurrency })
    const { meta } = await objects.write({ channel: 'big', path: 'v/64.m4s', pipeline: 'a' }, body(), {
      contentType: 'video/mp4',
      expiresAt: 0,
    })
    assert.equal(meta.size, 64 * MiB)
    assert.equal(meta.chunks, 64)
    assert.equal(maxRunning, chunkConcurrency, 'chunks are written in parallel, up to the limit')
    const bound = (chunkConcurrency + 1) * chunkSize + piece
    assert.ok(maxHeld <= bound, `held ${maxHeld} bytes not yet stored; bound ${bound}`)
    const read = await objects.readAll(meta)
    assert.equal(read.byteLength, 64 * MiB)
    assert.deepEqual(read.subarray(5 * MiB, 5 * MiB + piece), patternBytes(piece, 3))
  })

  it('deletes the chunks of a replaced object after the grace period, on a real timer', async () => {
    // A grace period long enough for the reads below on a busy machine.
    const objects = new ObjectStore(driver, { chunkSize: 4096, replacedGraceMs: 1000 })
    const key = { channel: 'grace', path: 'manifest.mpd', pipeline: 'a' }
    const first = await objects.write(key, bodyOf(patternBytes(10_000, 1)), {
      contentType: 'text/xml',
      expiresAt: 0,
    })
    const second = await objects.write(key, bodyOf(patternBytes(10_000, 2)), {
      contentType: 'text/xml',
      expiresAt: 0,
    })
    assert.deepEqual(
      await objects.readAll(first.meta),
      patternBytes(10_000, 1),
      'readable during the grace period',
    )
    assert.ok(objects.pendingDeletions() > 0, 'the deletion waits for the grace period')
    // Then it happens on its own (polled: on a busy machine the timer fires late, and the
    // deletion it starts takes its time).
    const gone = async () => {
      for (let i = 0; i < first.meta.chunks; i++) {
        if ((await driver.getChunk(first.meta.token, i)) !== undefined) return false
      }
      return true
    }
    const deadline = Date.now() + 30_000
    while ((objects.pendingDeletions() > 0 || !(await gone())) && Date.now() < deadline) await sleep(20)
    assert.equal(objects.pendingDeletions(), 0)
    for (let i = 0; i < first.meta.chunks; i++)
      assert.equal(await driver.getChunk(first.meta.token, i), undefined)
    assert.deepEqual(await objects.readAll(second.meta), patternBytes(10_000, 2))
  })

  it('reports a chunk that vanished mid-read as storage unavailable', async () => {
    const objects = new ObjectStore(driver, { chunkSize: 1000, chunkConcurrency: 1 })
    const { meta } = await objects.write(
      { channel: 'gone', path: 'x', pipeline: 'a' },
      bodyOf(patternBytes(5000)),
      {
        contentType: 'video/mp4',
        expiresAt: 0,
      },
    )
    const reader = objects.read(meta)
    const first = await reader.next()
    assert.equal(first.value?.byteLength, 1000)
    await driver.deleteChunks(meta.token, meta.chunks)
    await assert.rejects(
      (async () => {
        for await (const _ of reader) {
        }
      })(),
      (e) => isLiveOriginError(e) && e.status === 503 && /gone/.test(e.message),
    )
  })

  it('abandoning a read leaves no unhandled rejection from its read-ahead', async () => {
    const failing = wrapDriver(driver, async (op, call) => {
      if (op === 'getChunk') await sleep(5)
      const value = await call()
      return value
    })
    const broken: StorageDriver = {
      ...failing,
      getChunk: async (token, index) => {
        if (index >= 2) throw new Error('disk read error')
        return failing.getChunk(token, index)
      },
    }
    const writer = new ObjectStore(driver, { chunkSize: 1000 })
    const { meta } = await writer.write(
      { channel: 'ahead', path: 'x', pipeline: 'a' },
      bodyOf(patternBytes(6000)),
      {
        contentType: 'video/mp4',
        expiresAt: 0,
      },
    )
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      const objects = new ObjectStore(broken, { chunkSize: 1000, chunkConcurrency: 4, retries: 0 })
      for await (const part of objects.read(meta)) {
        assert.equal(part.byteLength, 1000)
        break
      }
      await sleep(50)
      assert.deepEqual(unhandled, [])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('a write whose signal is already aborted stores nothing', async () => {
    const objects = new ObjectStore(driver)
    const key = { channel: 'pre', path: 'x', pipeline: 'a' }
    await assert.rejects(
      objects.write(key, bodyOf(patternBytes(10)), {
        contentType: 'video/mp4',
        expiresAt: 0,
        signal: AbortSignal.abort(new Error('client gone')),
      }),
      /client gone/,
    )
    assert.deepEqual(await objects.list('pre', 'x'), [])
  })

  it('ETag is the XXH64 of the bytes however the body is cut', async () => {
    const objects = new ObjectStore(driver, { chunkSize: 4096 })
    const data = patternBytes(150_000, 77)
    for (const pieceSize of [7, 4095, 4096, 4097, 65_537, 150_000]) {
      const { meta } = await objects.write(
        { channel: 'etag', path: `p${pieceSize}`, pipeline: 'a' },
        bodyOf(data, pieceSize),
        {
          contentType: 'video/mp4',
          expiresAt: 0,
        },
      )
      assert.equal(meta.etag, xxh64Etag(data))
      assert.deepEqual(await objects.readAll(meta), data)
    }
  })

  it('cuts chunks into buffers reused once their writes are acknowledged, never while a driver may hold them', async () => {
    const chunkSize = 4096
    // The buffer under each chunk written, by write and index; the third write's first chunk fails.
    const seen: ArrayBufferLike[][] = [[], [], [], [], []]
    let current = 0
    let retried = false
    const watched: StorageDriver = {
      ...driver,
      putChunk: async (token, index, data, expiresAt) => {
        seen[current]![index] = data.buffer
        if (current === 2 && index === 0) throw new Error('chunk write refused')
        // The fourth write's first chunk is refused once, then taken on its retry.
        if (current === 3 && index === 0 && !retried) {
          retried = true
          throw new Error('chunk write refused once')
        }
        await driver.putChunk(token, index, data, expiresAt)
      },
    }
    const objects = new ObjectStore(watched, { chunkSize, chunkConcurrency: 1, retries: 1, retryDelayMs: 0 })
    const bodies = [0, 1, 2, 3, 4].map((i) => patternBytes(Math.floor(chunkSize * 2.75), 40 + i))
    const metas = []
    for (const [i, data] of bodies.entries()) {
      current = i
      const write = objects.write(
        { channel: 'reuse', path: `v/${i}.m4s`, pipeline: 'a' },
        bodyOf(data, 1000),
        {
          contentType: 'video/mp4',
          expiresAt: 0,
        },
      )
      if (i === 2) await assert.rejects(write, /chunk write refused$/)
      else metas.push((await write).meta)
    }
    // Every object reads back as written, the last chunk (¾ of one) included.
    for (const [k, meta] of metas.entries()) {
      assert.deepEqual(await objects.readAll(meta), bodies[[0, 1, 3, 4][k]!])
    }
    // Later chunks went into the buffers of earlier ones.
    assert.ok(
      seen[1]!.some((b) => seen[0]!.includes(b)),
      'buffers reused',
    )
    // The buffer of a refused chunk, or of one refused once and taken on its retry, is never
    // handed out again.
    const later = (w: number, i: number) => [...seen[w]!.slice(i + 1), ...seen.slice(w + 1).flat()]
    assert.ok(!later(2, 0).includes(seen[2]![0]!), 'a refused chunk kept its buffer')
    assert.ok(!later(3, 0).includes(seen[3]![0]!), 'a chunk retried kept its buffer')
  })

  it('rejects bad options with a TypeError naming the option', () => {
    assert.throws(() => new ObjectStore(driver, { chunkSize: 0 }), {
      name: 'TypeError',
      message: /chunkSize/,
    })
    assert.throws(() => new ObjectStore(driver, { chunkConcurrency: 1.5 }), {
      name: 'TypeError',
      message: /chunkConcurrency/,
    })
    assert.throws(() => new ObjectStore(driver, { retries: -1 }), { name: 'TypeError', message: /retries/ })
    assert.throws(() => new ObjectStore(driver, { replacedGraceMs: Number.NaN }), {
      name: 'TypeError',
      message: /replacedGraceMs/,
    })
    assert.throws(() => new ObjectStore({} as StorageDriver), { name: 'TypeError', message: /driver/ })
  })
})
