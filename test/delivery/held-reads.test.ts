/**
 * Requests for segments that are not due read nothing where held objects are polled (an
 * origin whose roles are listed one by one polls, as a split fleet does): a too-early
 * request is answered from the template, a request held before A(N) reads nothing until
 * A(N), and a commit heard on the bus releases it at once. Reads are counted at the driver.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, it } from 'node:test'
import { countingDriver } from '../helpers/counting-driver.js'
import { createChannel, FakeClock, get, put, waitForHeld } from '../helpers/http.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
const D = 2000
const A = (n: number) => AST + n * D
const clock = new FakeClock(A(10) - 1000)
const reads = { list: 0, getChunk: 0 }
let origin: TestOrigin

before(async () => {
  origin = await startOrigin(
    { roles: ['ingest', 'delivery', 'control'] },
    { now: clock.now, wrapDriver: (d) => countingDriver(d, reads) },
  )
  await createChannel(origin, 'ch', {
    media: '$RepresentationID$/$Number$.ts',
    segmentDurationMs: D,
    availabilityStartTime: AST,
  })
})
after(() => origin.close())

it('too-early requests and requests held before A(N) read nothing; a commit on the bus releases at once', async () => {
  assert.ok(origin.running.context!.holds.polls, 'this origin polls held objects')
  const before = { ...reads }
  // Segment 12 is due at A(10) + 2 D: 404 from the template (t < A(N) − H).
  for (let i = 0; i < 20; i++) assert.equal((await get(origin, '/ch/v/12.ts')).status, 404)
  // Segment 10 is due in 1 s (fake time, frozen): held, 50 requests, one entry.
  const held = Array.from({ length: 50 }, () => get(origin, '/ch/v/10.ts'))
  await waitForHeld(origin, 50)
  // Real time passes; the fake clock stays before A(10): no poll runs, nothing is read.
  await new Promise((r) => setTimeout(r, 300))
  assert.deepEqual(reads, before, 'no storage read for segments that are not due')
  const body = randomBytes(1000)
  assert.equal((await put(origin, '/ch/v/10.ts', body)).status, 201)
  for (const a of await Promise.all(held)) {
    assert.equal(a.status, 200)
    assert.ok(a.body.equals(body))
  }
  // The release read the list and the body once for all 50 (single flight).
  assert.equal(reads.list - before.list, 1)
  assert.equal(reads.getChunk - before.getChunk, 1)
})
