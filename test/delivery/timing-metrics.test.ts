/**
 * The timing metrics on `/metrics` (docs/protocol.md#observability), driven through HTTP on an injected clock:
 * the held gauge, the hold-duration histogram by outcome, 404/410 answers by reason
 * (`liveorigin_timing_answers_total`) and late segments per pipeline.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { FakeClock, get, metrics, originWithChannel, put, waitForHeld } from '../helpers/http.js'
import { metricValue, type TestOrigin } from '../helpers/origin.js'

const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
const D = 2000
const R = 2 * D
const DVR = 120_000
const S = 5
const A = (n: number) => AST + (n - S + 1) * D
const seg = (n: number) => `/ch/v/${n}.ts`
const clock = new FakeClock(A(20))
let origin: TestOrigin

before(async () => {
  origin = await originWithChannel(clock, {
    segmentDurationMs: D,
    availabilityStartTime: AST,
    startNumber: S,
    dvrWindowMs: DVR,
  })
})
after(() => origin.close())

/** Runs `action` and returns how much each named sample grew meanwhile. */
async function delta(
  samples: Record<string, [name: string, labels: Record<string, string>]>,
  action: () => Promise<void>,
): Promise<Record<string, number>> {
  const read = async () => {
    const text = await metrics(origin)
    return Object.fromEntries(
      Object.entries(samples).map(([k, [name, labels]]) => [k, metricValue(text, name, labels)]),
    )
  }
  const before = await read()
  await action()
  const afterward = await read()
  return Object.fromEntries(Object.keys(samples).map((k) => [k, afterward[k]! - before[k]!]))
}

const answers = (status: string, reason: string): [string, Record<string, string>] => [
  'liveorigin_timing_answers_total',
  { status, reason },
]

describe('timing metrics', () => {
  it('404 and 410 answers are counted by reason', async () => {
    const d = await delta(
      {
        tooEarly: answers('404', 'too-early'),
        beforeStart: answers('404', 'before-start'),
        invalid: answers('404', 'invalid-number'),
        missing: answers('410', 'missing'),
        expired: answers('410', 'expired'),
        missingSelections: ['liveorigin_selections_total', { pipeline: 'none', outcome: 'missing' }],
      },
      async () => {
        clock.set(A(20))
        assert.equal((await get(origin, seg(30))).status, 404) // too early
        assert.equal((await get(origin, seg(31))).status, 404)
        assert.equal((await get(origin, seg(4))).status, 404) // N < S
        assert.equal((await get(origin, '/ch/v/020.ts')).status, 404) // a leading zero $Number$ never writes
        assert.equal((await get(origin, seg(15))).status, 410) // A(15) + R has passed, nothing stored
        assert.equal((await put(origin, seg(10), randomBytes(100))).status, 201)
        clock.set(A(10) + DVR + 1)
        assert.equal((await get(origin, seg(10))).status, 410) // stored, but out of the DVR window
      },
    )
    assert.deepEqual(d, {
      tooEarly: 2,
      beforeStart: 1,
      invalid: 1,
      missing: 1,
      expired: 1,
      missingSelections: 1,
    })
  })

  it('the held gauge follows held requests; hold durations are counted by outcome', async () => {
    const outcome = (o: string): [string, Record<string, string>] => [
      'liveorigin_hold_duration_seconds_count',
      { outcome: o },
    ]
    const d = await delta(
      { released: outcome('released'), timeout: outcome('timeout'), disconnected: outcome('disconnected') },
      async () => {
        clock.set(A(100)) // segment 100 is due, 101 inside its hold window
        // Released by a commit.
        const first = get(origin, seg(100))
        await waitForHeld(origin, 1)
        await put(origin, seg(100), randomBytes(10))
        assert.equal((await first).status, 200)
        await waitForHeld(origin, 0)
        // Gone away.
        const abort = new AbortController()
        const second = get(origin, seg(101), { signal: abort.signal }).catch(() => 'aborted')
        await waitForHeld(origin, 1)
        abort.abort()
        assert.equal(await second, 'aborted')
        await waitForHeld(origin, 0)
        // Timed out at A(N) + R.
        clock.set(A(102) + R - 10)
        const third = get(origin, seg(102))
        await waitForHeld(origin, 1)
        clock.set(A(102) + R)
        assert.equal((await third).status, 410)
        await waitForHeld(origin, 0)
      },
    )
    assert.deepEqual(d, { released: 1, timeout: 1, disconnected: 1 })
  })

  it('segments committed after A(N) count as late, per pipeline; early ones do not', async () => {
    const late = (p: string): [string, Record<string, string>] => [
      'liveorigin_late_segments_total',
      { pipeline: p },
    ]
    const d = await delta({ east: late('east'), west: late('west') }, async () => {
      clock.set(A(200) - 300)
      assert.equal((await put(origin, seg(200), randomBytes(10), 'east')).status, 201)
      clock.set(A(200))
      assert.equal((await put(origin, seg(200), randomBytes(10), 'west')).status, 201)
      clock.set(A(201) + 1)
      assert.equal((await put(origin, seg(201), randomBytes(10), 'east')).status, 201)
      clock.set(A(202) + R - 1)
      assert.equal((await put(origin, seg(202), randomBytes(10), 'west')).status, 201)
    })
    assert.deepEqual(d, { east: 1, west: 1 })
  })
})
