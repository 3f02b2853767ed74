import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, it } from 'node:test'
import type { StorageDriver } from '../../src/storage/types.js'
import { metricValue, startOrigin, type TestOrigin } from '../helpers/origin.js'
import { createLiveChannel, D, edge } from './live-channel.js'

// DVR requests in progress per process are capped (`overload.maxDvrInFlight`): one more is
// refused at once instead of queueing for storage, and live-edge segments, init segments and
// manifests are answered while the admitted DVR reads are still waiting for storage. The
// storage under the origin is real (the embedded store); listings of old segments wait until
// the test lets them go, so that "still waiting" is a fact, not a matter of timing.
const CAP = 4
/** Listings of segments numbered below 100 (DVR) wait here until `release`. */
const held: Array<() => void> = []
let open = false
const release = () => {
  open = true
  for (const go of held.splice(0)) go()
}
function holdingOldListings(driver: StorageDriver): StorageDriver {
  return new Proxy(driver, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver)
      if (prop === 'list') {
        return async (channel: string, path: string) => {
          const m = /^v\/(\d+)\.ts$/.exec(path)
          if (m && Number(m[1]) < 100 && !open) await new Promise<void>((go) => held.push(go))
          return target.list(channel, path)
        }
      }
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
}

let origin: TestOrigin
/** The live-edge segment stored before the test (a live-class read while it is young). */
let liveN = 0
before(async () => {
  origin = await startOrigin(
    // The stored live-edge segment stays live class however slowly the test runs.
    { 'overload.maxDvrInFlight': CAP, 'delivery.liveEdgeSegments': 60 },
    { wrapDriver: holdingOldListings },
  )
  // The live-edge segment is stored seconds after it is due on a busy machine: a copy
  // committed after A(N) + R is a late copy and never served, so R is generous.
  liveN = edge() - 1
  await createLiveChannel(origin, ['v'], 60 * D, [[`v/${liveN}.ts`, randomBytes(20_000)]])
})
after(async () => {
  release()
  await origin.close()
})

/** Waits for `what`; gives up (and fails) once the test is cancelled, e.g. by its timeout. */
const until = async (what: () => boolean, signal: AbortSignal) => {
  while (!what()) {
    if (signal.aborted) throw new Error('cancelled while waiting')
    await new Promise((res) => setTimeout(res, 5))
  }
}

it(`refuses DVR requests beyond ${CAP} in progress at once, and answers manifest, init and live edge while those wait for storage`, {
  timeout: 60_000,
}, async (t) => {
  const answers: Array<{ n: number; status: number; headers: Headers }> = []
  const aborts = new Map<number, AbortController>()
  const ask = (n: number) => {
    const abort = new AbortController()
    aborts.set(n, abort)
    return fetch(`${origin.delivery}/live/v/${n}.ts`, { signal: abort.signal })
      .then(async (r) => {
        await r.arrayBuffer()
        answers.push({ n, status: r.status, headers: r.headers })
      })
      .catch(() => {})
  }
  // CAP + 6 DVR requests at once: CAP are admitted and wait for storage, 6 are refused.
  const first = Array.from({ length: CAP + 6 }, (_, i) => ask(10 + i))
  await until(() => held.length === CAP && answers.length === 6, t.signal)
  assert.deepEqual(
    answers.map((a) => a.status),
    [503, 503, 503, 503, 503, 503],
  )
  for (const { headers } of answers) {
    assert.equal(headers.get('cache-control'), 'no-store')
    assert.equal(headers.get('cdn-cache-control'), 'max-age=5')
    assert.equal(headers.get('retry-after'), '5')
  }
  const admitted = [...aborts.keys()].filter((n) => !answers.some((a) => a.n === n))
  assert.equal(admitted.length, CAP)

  // The admitted DVR reads still wait; a player starting now gets what it needs.
  for (const path of ['manifest.mpd', 'v/init.mp4', `v/${liveN}.ts`]) {
    const r = await fetch(`${origin.delivery}/live/${path}`)
    await r.arrayBuffer()
    assert.equal(r.status, 200, path)
  }
  assert.equal(held.length, CAP, 'the admitted DVR reads are still waiting')
  assert.equal(answers.length, 6)

  // Still full: the next DVR request is refused too.
  const r = await fetch(`${origin.delivery}/live/v/50.ts`)
  await r.arrayBuffer()
  assert.equal(r.status, 503)

  // A client that goes away frees its place: one more DVR request is admitted (and waits).
  aborts.get(admitted[0]!)!.abort()
  const admission = origin.running.context!.admission
  await until(() => admission.dvrInFlight < CAP, t.signal)
  const late = ask(60)
  await until(() => held.length === CAP + 1, t.signal)

  release()
  await Promise.all([...first, late])
  const finished = answers.filter((a) => a.n === 60 || admitted.slice(1).includes(a.n))
  assert.deepEqual(
    finished.map((a) => a.status),
    Array(CAP).fill(410),
    'admitted DVR requests are answered once storage answers (no copy: 410)',
  )
  await until(() => admission.dvrInFlight === 0, t.signal)
  const again = await fetch(`${origin.delivery}/live/v/70.ts`)
  await again.arrayBuffer()
  assert.equal(again.status, 410, 'answered DVR requests free their places')
  const m = await (await fetch(`${origin.control}/metrics`)).text()
  assert.equal(metricValue(m, 'liveorigin_shed_requests_total', { class: 'dvr' }), 7)
  assert.equal(metricValue(m, 'liveorigin_shed_requests_total', { class: 'live' }), 0)
})
