/**
 * A client that goes away while its request is held leaves nothing behind: the held gauge
 * (`liveorigin_held_requests`) and the hold table drop it at once, the hold is counted as
 * `disconnected`, and the requests still held for the same segment are released as usual.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Agent } from 'node:http'
import { after, before, it } from 'node:test'
import { FakeClock, get, metric, originWithChannel, put, waitFor, waitForHeld } from '../helpers/http.js'
import type { TestOrigin } from '../helpers/origin.js'

const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
const D = 2000
const A = (n: number) => AST + n * D
// Segment 10 is due (held until A(10) + R), segment 11 is inside its hold window.
const clock = new FakeClock(A(10) + 100)
let origin: TestOrigin
// One socket per request, so that aborting a request closes its connection.
const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY })

before(async () => {
  origin = await originWithChannel(clock, { segmentDurationMs: D, availabilityStartTime: AST })
})
after(async () => {
  agent.destroy()
  await origin.close()
})

it('aborted held requests leave no waiter; the others are still released by the commit', async (t) => {
  const holds = origin.running.context!.holds
  const disconnectedBefore = await metric(origin, 'liveorigin_hold_duration_seconds_count', {
    outcome: 'disconnected',
  })
  // 100 requests on segment 10 (60 of them will go away) and 50 on segment 11 (all go away).
  const aborts: AbortController[] = []
  const kept: Promise<unknown>[] = []
  const gone: Promise<unknown>[] = []
  for (let i = 0; i < 150; i++) {
    const path = i < 100 ? '/ch/v/10.ts' : '/ch/v/11.ts'
    const abort = i < 40 ? undefined : new AbortController()
    const p = get(origin, path, { agent, ...(abort ? { signal: abort.signal } : {}) })
    if (abort) {
      aborts.push(abort)
      gone.push(
        p.then(
          (a) => assert.fail(`an aborted request was answered: ${a.status} ${a.body}`),
          () => 'aborted',
        ),
      )
    } else kept.push(p)
  }
  await waitForHeld(origin, 150)
  assert.equal(holds.size, 150)
  assert.equal(holds.keys, 2)

  const t0 = performance.now()
  for (const a of aborts) a.abort()
  await Promise.all(gone)
  await waitFor('the hold table to drop to 40', () => holds.size === 40)
  const dropMs = performance.now() - t0
  t.diagnostic(`hold table back to the requests still waiting ${dropMs.toFixed(1)} ms after 110 aborts`)
  // The clock is frozen, so no hold can time out: only the disconnects remove these waiters
  // (counted below as outcome "disconnected"), on the socket's close, not at a deadline.
  assert.equal(await metric(origin, 'liveorigin_held_requests'), 40)
  assert.equal(holds.keys, 1, 'the entry of a segment nobody waits for any more is gone')
  const disconnected =
    (await metric(origin, 'liveorigin_hold_duration_seconds_count', { outcome: 'disconnected' })) -
    disconnectedBefore
  assert.equal(disconnected, 110)

  const body = randomBytes(5000)
  assert.equal((await put(origin, '/ch/v/10.ts', body)).status, 201)
  for (const a of (await Promise.all(kept)) as Array<{ status: number; body: Buffer }>) {
    assert.equal(a.status, 200)
    assert.ok(a.body.equals(body))
  }
  await waitForHeld(origin, 0)
  assert.equal(holds.size, 0)
  assert.equal(holds.keys, 0)
})

it('a request aborted while it is the only waiter leaves an empty table; a new one is held again', async () => {
  const holds = origin.running.context!.holds
  const abort = new AbortController()
  const p = get(origin, '/ch/v/11.ts', { agent, signal: abort.signal }).catch(() => 'aborted')
  await waitForHeld(origin, 1)
  abort.abort()
  assert.equal(await p, 'aborted')
  await waitForHeld(origin, 0)
  assert.equal(holds.keys, 0)

  const again = get(origin, '/ch/v/11.ts', { agent })
  await waitForHeld(origin, 1)
  const body = randomBytes(300)
  await put(origin, '/ch/v/11.ts', body)
  const r = await again
  assert.equal(r.status, 200)
  assert.ok(r.body.equals(body))
})
