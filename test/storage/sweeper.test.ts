/**
 * Expiry (docs/storage.md: "Expiry follows the DVR window"): the embedded store has no TTLs of its
 * own, so the process that owns writes sweeps it (`src/storage/sweeper.ts`, wired to the
 * ingest role with `storage.sweepIntervalMs`). Checked on the sweeper itself with a real
 * embedded store, then end to end: a channel with a short DVR window publishes many
 * segments on an injected clock, and the store's disk use stays flat.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createEmbeddedDriver } from '../../src/storage/embedded.js'
import { ObjectStore } from '../../src/storage/object-store.js'
import { type SweepOutcome, startSweeper } from '../../src/storage/sweeper.js'
import type { StorageDriver } from '../../src/storage/types.js'
import { FakeClock, get, metrics, originWithChannel, put, waitFor } from '../helpers/http.js'
import { metricValue, type TestOrigin } from '../helpers/origin.js'

/** Bytes the files of `dir` occupy on disk (allocated blocks, as `du` counts them). */
function diskUse(dir: string): number {
  let total = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    total += e.isDirectory() ? diskUse(p) : statSync(p).blocks * 512
  }
  return total
}

async function* once(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes
}

describe('startSweeper on the embedded store', () => {
  let dir: string
  let driver: StorageDriver
  let store: ObjectStore
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'liveorigin-sweep-'))
    driver = createEmbeddedDriver({ dataDir: dir })
    store = new ObjectStore(driver, { chunkSize: 4096 })
  })
  after(async () => {
    await driver.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const write = (path: string, expiresAt: number) =>
    store.write({ channel: 'ch', path, pipeline: 'east' }, once(randomBytes(10_000)), {
      contentType: 'video/mp2t',
      expiresAt,
    })

  it('removes objects and their chunks once expiresAt ≤ now(), keeps the rest, stops on request', async () => {
    const clock = new FakeClock(1500)
    const first = (await write('a.ts', 1000)).meta
    await write('b.ts', 2000)
    await write('forever.m3u8', 0)
    // The first sweep fails; the sweeper reports it and carries on.
    let failures = 1
    const flaky = new Proxy(driver, {
      get(target, prop, receiver) {
        if (prop === 'sweep' && failures > 0) {
          failures--
          return async () => {
            throw new Error('storage hiccup')
          }
        }
        const v = Reflect.get(target, prop, receiver)
        return typeof v === 'function' ? v.bind(target) : v
      },
    })
    const outcomes: SweepOutcome[] = []
    const stop = startSweeper(flaky, 10, clock.now, (o) => outcomes.push(o))

    await waitFor('a sweep that removed something', () =>
      outcomes.some((o) => 'removed' in o && o.removed > 0),
    )
    assert.equal((await driver.list('ch', 'a.ts')).length, 0)
    assert.equal(await driver.getChunk(first.token, 0), undefined, 'its chunks went with it')
    assert.equal((await driver.list('ch', 'b.ts')).length, 1, 'b.ts is not due yet')
    assert.ok('error' in outcomes[0]!, 'the failed sweep was reported')
    const removed = outcomes.reduce((sum, o) => sum + ('removed' in o ? o.removed : 0), 0)
    assert.equal(removed, 4, 'one commit record and three chunks')

    clock.set(2000)
    await waitFor('b.ts to expire', async () => (await driver.list('ch', 'b.ts')).length === 0)
    assert.equal((await driver.list('ch', 'forever.m3u8')).length, 1, 'expiresAt 0 never expires')

    await stop()
    await write('c.ts', 2500)
    clock.set(10_000)
    await sleep(60)
    assert.equal((await driver.list('ch', 'c.ts')).length, 1, 'no sweep after stop')
  })

  it('refuses an interval that is not a positive integer', () => {
    assert.throws(() => startSweeper(driver, 0, Date.now), /intervalMs/)
    assert.throws(() => startSweeper(driver, 1.5, Date.now), /intervalMs/)
  })
})

describe('a channel with a short DVR window: disk use stays flat', () => {
  const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
  const D = 1000
  const DVR = 5000
  /** Segments kept: DVR window plus the 60 s margin (`EXPIRY_MARGIN_MS`), in segments. */
  const KEPT = (DVR + 60_000) / D
  const SEGMENTS = 400
  const SIZE = 64 * 1024
  const A = (n: number) => AST + n * D
  const path = (n: number) => `v/${n}.ts`
  const clock = new FakeClock(AST)
  let origin: TestOrigin

  before(async () => {
    origin = await originWithChannel(
      clock,
      { segmentDurationMs: D, availabilityStartTime: AST, dvrWindowMs: DVR },
      { 'storage.sweepIntervalMs': 20 },
    )
  })
  after(() => origin.close())

  it(`${SEGMENTS} segments of 64 KiB, ${KEPT} kept at a time: the store stops growing`, async () => {
    const driver = origin.running.context!.driver
    const sizes: Array<{ n: number; bytes: number }> = []
    for (let n = 1; n <= SEGMENTS; n++) {
      clock.set(A(n))
      assert.equal((await put(origin, `/ch/${path(n)}`, randomBytes(SIZE))).status, 201)
      if (n % 50 === 0 && n > KEPT + 1) {
        // Everything due by now has been swept: segment n − KEPT − 1 expired at A(n) − D.
        const due = n - KEPT - 1
        await waitFor(
          `segment ${due} to be swept`,
          async () => (await driver.list('ch', path(due))).length === 0,
        )
        sizes.push({ n, bytes: diskUse(origin.dataDir) })
      }
    }
    const mib = (b: number) => (b / 2 ** 20).toFixed(1)
    console.log(
      `store size after n segments (MiB): ${sizes.map((s) => `${s.n}: ${mib(s.bytes)}`).join(', ')}; ` +
        `written ${mib(SEGMENTS * SIZE)} MiB, live data ${mib(KEPT * SIZE)} MiB`,
    )
    const first = sizes[0]!.bytes
    for (const s of sizes) {
      assert.ok(
        s.bytes <= first * 1.25 + 2 ** 20,
        `size at ${s.n} (${mib(s.bytes)} MiB) ≈ size at ${sizes[0]!.n}`,
      )
    }
    assert.ok(sizes.at(-1)!.bytes < (SEGMENTS * SIZE) / 2, 'far less than everything written')

    // The newest KEPT segments are still stored; older ones are gone from storage, and a
    // GET of one answers 410 from timing alone.
    assert.equal((await driver.list('ch', path(SEGMENTS - KEPT + 1))).length, 1)
    assert.equal((await driver.list('ch', path(SEGMENTS - KEPT - 1))).length, 0)
    assert.equal((await driver.list('ch', path(1))).length, 0)
    assert.equal((await get(origin, `/ch/${path(1)}`)).status, 410)
    assert.equal((await get(origin, `/ch/${path(SEGMENTS)}`)).status, 200)
    const swept = metricValue(await metrics(origin), 'liveorigin_storage_operations_total', { op: 'sweep' })
    assert.ok(swept > 0, 'sweeps show on /metrics')
  })
})
