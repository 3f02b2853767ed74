/**
 * Pressure injection (docs/overload.md `storage.inject`): measurable added latency and a concurrency
 * limit that queues the rest, on the embedded driver.
 */

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createEmbeddedDriver } from '../../src/storage/embedded.js'
import { withInjectedPressure } from '../../src/storage/inject.js'
import { wrapDriver } from '../../src/storage/instrumented.js'
import { ObjectStore } from '../../src/storage/object-store.js'
import type { StorageDriver } from '../../src/storage/types.js'
import { bodyOf, patternBytes } from './driver-conformance.js'

let dir: string
let driver: StorageDriver

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'liveorigin-inject-'))
  driver = createEmbeddedDriver({ dataDir: dir })
})
after(async () => {
  await driver.close()
  rmSync(dir, { recursive: true, force: true })
})

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function timeOps(d: StorageDriver, n: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const start = performance.now()
    await d.list('inj', `v/${i}.m4s`)
    out.push(performance.now() - start)
  }
  return out
}

describe('withInjectedPressure', () => {
  it('adds the configured latency to every operation', async (t) => {
    const bare = median(await timeOps(driver, 10))
    const slow = withInjectedPressure(driver, { latencyMs: 25 })
    const times = await timeOps(slow, 10)
    // Timers count from the loop's cached clock, which may lag a little behind performance.now().
    for (const t of times) assert.ok(t >= 20, `an operation took ${t.toFixed(1)} ms with 25 ms injected`)
    assert.ok(
      median(times) - bare >= 20,
      `median ${median(times).toFixed(1)} ms vs ${bare.toFixed(1)} ms bare`,
    )
    // No upper bound: on a busy machine timers fire late by any amount.
    t.diagnostic(`median ${median(times).toFixed(1)} ms with 25 ms injected, ${bare.toFixed(1)} ms bare`)
  })

  it('runs at most maxConcurrent operations at once and queues the rest in order', async () => {
    let running = 0
    let maxRunning = 0
    const probe = wrapDriver(driver, async (_op, call) => {
      running++
      maxRunning = Math.max(maxRunning, running)
      try {
        return await call()
      } finally {
        running--
      }
    })
    const limited = withInjectedPressure(probe, { latencyMs: 30, maxConcurrent: 2 })
    const order: number[] = []
    const start = performance.now()
    const ops = Array.from({ length: 6 }, (_, i) => limited.list('inj', `q/${i}`).then(() => order.push(i)))
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(limited.stats(), { inFlight: 2, queued: 4 })
    await Promise.all(ops)
    const elapsed = performance.now() - start
    assert.ok(maxRunning <= 2, `${maxRunning} operations reached the driver at once`)
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5])
    assert.ok(elapsed >= 80, `6 operations, 2 at a time, 30 ms each, took only ${elapsed.toFixed(0)} ms`)
    assert.deepEqual(limited.stats(), { inFlight: 0, queued: 0 })
  })

  it('keeps the driver fully working (objects through it round-trip)', async () => {
    const pressured = withInjectedPressure(driver, { latencyMs: 2, maxConcurrent: 3 })
    assert.equal(pressured.name, driver.name)
    assert.deepEqual(pressured.capabilities, driver.capabilities)
    const objects = new ObjectStore(pressured, { chunkSize: 10_000 })
    const data = patternBytes(95_000, 4)
    const { meta } = await objects.write({ channel: 'inj', path: 'obj', pipeline: 'a' }, bodyOf(data, 4096), {
      contentType: 'video/mp4',
      expiresAt: 0,
    })
    assert.deepEqual(await objects.readAll(meta), data)
    await assert.rejects(
      (async () => {
        const failing = withInjectedPressure(
          { ...pressured, list: async () => Promise.reject(new Error('x')) },
          {},
        )
        await failing.list('a', 'b')
      })(),
      /x/,
    )
  })

  it('releases its slot when an operation fails', async () => {
    const failingDriver = wrapDriver(driver, async (op, call) => {
      if (op === 'getRecord') throw new Error('boom')
      return call()
    })
    const limited = withInjectedPressure(failingDriver, { maxConcurrent: 1 })
    await assert.rejects(limited.getRecord('a', 'b'), /boom/)
    await assert.rejects(limited.getRecord('a', 'b'), /boom/)
    assert.deepEqual(await limited.list('inj', 'none'), [])
    assert.deepEqual(limited.stats(), { inFlight: 0, queued: 0 })
  })

  it('rejects bad options with a TypeError naming the option', () => {
    assert.throws(() => withInjectedPressure(driver, { latencyMs: -1 }), {
      name: 'TypeError',
      message: /latencyMs/,
    })
    assert.throws(() => withInjectedPressure(driver, { maxConcurrent: 0 }), {
      name: 'TypeError',
      message: /maxConcurrent/,
    })
    assert.throws(() => withInjectedPressure(driver, { latency: 5 } as never), {
      name: 'TypeError',
      message: /latency/,
    })
  })
})
