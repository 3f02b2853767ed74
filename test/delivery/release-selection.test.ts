/**
 * Requests released together by one commit share one selection (docs/protocol.md#holds): the
 * first decides which copy answers and with what headers, the others answer with it, each
 * with its own range, method and hold time. Counted at the reader: one candidate list for
 * the whole release, where each waiter used to read its own.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, it } from 'node:test'
import { createChannel, FakeClock, get, metric, put, waitForHeld } from '../helpers/http.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
const D = 2000
const A = (n: number) => AST + n * D
// Segment 10 is due in half a segment: inside the hold window.
const clock = new FakeClock(A(10) - D / 2)
let origin: TestOrigin

before(async () => {
  origin = await startOrigin({}, { now: clock.now })
  await createChannel(origin, 'ch', {
    media: '$RepresentationID$/$Number$.ts',
    segmentDurationMs: D,
    availabilityStartTime: AST,
  })
})
after(() => origin.close())

it('one release selects once, and every waiter gets its own answer of that copy', async () => {
  const reader = origin.running.context!.reader
  const candidates = reader.candidates.bind(reader)
  let lists = 0
  reader.candidates = (...args: Parameters<typeof candidates>) => {
    lists++
    return candidates(...args)
  }
  const selectedBefore = await metric(origin, 'liveorigin_selections_total', {
    pipeline: 'east',
    outcome: 'valid',
  })
  const plain = Array.from({ length: 30 }, () => get(origin, '/ch/v/10.ts'))
  const ranged = get(origin, '/ch/v/10.ts', { headers: { range: 'bytes=100-199' } })
  const head = get(origin, '/ch/v/10.ts', { method: 'HEAD' })
  await waitForHeld(origin, 32)
  const listsBefore = lists
  const body = randomBytes(5000)
  assert.equal((await put(origin, '/ch/v/10.ts', body)).status, 201)

  for (const a of await Promise.all(plain)) {
    assert.equal(a.status, 200)
    assert.ok(a.body.equals(body))
    assert.equal(a.headers['segment-pipeline'], 'east')
    assert.match(String(a.headers['cmsd-dynamic']), /ht=\d+/)
    assert.equal(a.headers['cmsd-static'], `at=${A(10)}`)
  }
  const r = await ranged
  assert.equal(r.status, 206)
  assert.ok(r.body.equals(body.subarray(100, 200)))
  assert.equal(r.headers['content-range'], `bytes 100-199/${body.length}`)
  const h = await head
  assert.equal(h.status, 200)
  assert.equal(h.body.length, 0)
  assert.equal(h.headers['content-length'], String(body.length))

  assert.equal(lists - listsBefore, 1, 'one candidate list for the 32 requests of the release')
  // Every answer still counts as a selection of the copy it served.
  const selected = await metric(origin, 'liveorigin_selections_total', { pipeline: 'east', outcome: 'valid' })
  assert.equal(selected - selectedBefore, 32)
})
