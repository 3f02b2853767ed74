import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, it } from 'node:test'
import type { StorageDriver } from '../../src/storage/types.js'
import { countingDriver } from '../helpers/counting-driver.js'
import { metricValue, startOrigin, type TestOrigin } from '../helpers/origin.js'

let writer: TestOrigin
let reader: TestOrigin
const counts = { list: 0, getChunk: 0 }
// Four 64 KiB chunks (the last one short), so one read of the object is several chunk reads.
const body = randomBytes(3 * 65536 + 5)

/**
 * Candidate listings wait for `gate`: the test opens it once all 200 GETs are in progress, so
 * that they are concurrent however slowly a busy machine lets them arrive.
 */
let gate: Promise<void> = Promise.resolve()
function holdListings(driver: StorageDriver): StorageDriver {
  return new Proxy(driver, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver)
      if (prop === 'list') {
        return async (...args: unknown[]) => {
          await gate
          return (v as (...a: unknown[]) => unknown).apply(target, args)
        }
      }
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
}

before(async () => {
  writer = await startOrigin({ 'storage.chunkSize': 65536 }, { keepData: true })
  const r = await fetch(`${writer.ingest}/ch/v/1.m4s`, {
    method: 'PUT',
    body,
    headers: { 'Pipeline-Id': 'east' },
  })
  assert.equal(r.status, 201)
  // A second origin on the same data directory: its memory cache is cold.
  reader = await startOrigin(
    { 'storage.chunkSize': 65536 },
    { dataDir: writer.dataDir, wrapDriver: (d) => countingDriver(holdListings(d), counts) },
  )
})
after(async () => {
  await reader.close()
  await writer.close()
})

it('200 concurrent GETs of one uncached object cost one storage read', { timeout: 180_000 }, async () => {
  counts.list = 0
  counts.getChunk = 0
  let open!: () => void
  gate = new Promise((resolve) => {
    open = resolve
  })
  const pending = Promise.all(
    Array.from({ length: 200 }, async () => {
      const r = await fetch(`${reader.delivery}/ch/v/1.m4s`)
      return { status: r.status, bytes: Buffer.from(await r.arrayBuffer()) }
    }),
  )
  // Without the gate, GETs that reach the origin more than 1 s (the delivery's list reuse) after the first
  // listing settled would list again: sequential, not concurrent, reads. So the gate opens
  // only once every GET is in progress (the test's timeout bounds the wait).
  for (;;) {
    const m = await (await fetch(`${reader.control}/metrics`)).text()
    if (metricValue(m, 'liveorigin_in_flight_requests') >= 200) break
    await new Promise((res) => setTimeout(res, 20))
  }
  open()
  const answers = await pending
  for (const a of answers) {
    assert.equal(a.status, 200)
    assert.ok(a.bytes.equals(body))
  }
  assert.equal(counts.list, 1, 'one candidate listing')
  assert.equal(counts.getChunk, 4, 'one read of the object (its four chunks)')
  const m = await (await fetch(`${reader.control}/metrics`)).text()
  assert.match(m, /^liveorigin_object_reads_total 1$/m)
})
