/**
 * A commit announced while a request's storage read is still running: the read may have
 * started before the commit and find nothing, and the announcement found nobody waiting to
 * release. The request must not then wait for a commit that already happened (until its
 * deadline, A(N) + late allowance): it reads again and gets the segment.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, it } from 'node:test'
import type { StorageDriver } from '../../src/storage/types.js'
import { createChannel, FakeClock, get, metric, put, waitFor } from '../helpers/http.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
const D = 2000
const A = (n: number) => AST + n * D
// Segment 10 is due: a request for it is held until its commit or A(10) + one minute.
const clock = new FakeClock(A(10) + 100)
let origin: TestOrigin

/**
 * The next listing of `path` after `arm` reads storage at once, then waits for the test to
 * let it return: what it returns is storage as it was before anything the test does meanwhile.
 */
const gate = {
  path: '',
  started: false,
  open: () => {},
  wait: Promise.resolve(),
  arm(path: string) {
    this.path = path
    this.started = false
    this.wait = new Promise<void>((resolve) => {
      this.open = resolve
    })
  },
}
function gatedListings(driver: StorageDriver): StorageDriver {
  return new Proxy(driver, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver)
      if (prop === 'list') {
        return async (channel: string, path: string) => {
          const list = await target.list(channel, path)
          if (path === gate.path && !gate.started) {
            gate.started = true
            await gate.wait
          }
          return list
        }
      }
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
}

before(async () => {
  origin = await startOrigin({}, { now: clock.now, wrapDriver: gatedListings })
  await createChannel(origin, 'ch', {
    media: '$RepresentationID$/$Number$.ts',
    segmentDurationMs: D,
    availabilityStartTime: AST,
    lateAllowanceMs: 60_000,
  })
})
after(async () => {
  gate.open()
  await origin.close()
})

it('a request whose read missed a commit announced meanwhile reads again instead of waiting', async () => {
  const holds = origin.running.context!.holds
  const timeoutsBefore = await metric(origin, 'liveorigin_hold_duration_seconds_count', {
    outcome: 'timeout',
  })
  gate.arm('v/10.ts')
  let answered = false
  const pending = get(origin, '/ch/v/10.ts').then((a) => {
    answered = true
    return a
  })
  await waitFor('the GET to read storage', () => gate.started)

  // The segment commits while that read is running; the read then returns what it saw before.
  const body = randomBytes(1000)
  assert.equal((await put(origin, '/ch/v/10.ts', body)).status, 201)
  gate.open()

  // Before this was handled the request waited here for its deadline, a minute away.
  await waitFor('the GET to be answered or held', () => answered || holds.size > 0)
  assert.equal(holds.size, 0, 'the request was held for a commit that had already happened')
  const a = await pending
  assert.equal(a.status, 200)
  assert.ok(a.body.equals(body))
  assert.equal(
    await metric(origin, 'liveorigin_hold_duration_seconds_count', { outcome: 'timeout' }),
    timeoutsBefore,
  )
})
