/**
 * The poll schedule of held objects (src/delivery/poll-schedule.ts) as a pure function, and
 * the hold table running it on a fake clock: nothing before the object is due, the local zone
 * at doubling intervals, storage once at A(N) + G, no poll after a release or the deadline.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import { type HeldObject, HoldTable, type WakeReason } from '../../src/delivery/holds.js'
import {
  firstPoll,
  nextPoll,
  type PollTiming,
  pollCost,
  DEFAULT_POLL_SCHEDULE as S,
} from '../../src/delivery/poll-schedule.js'

/** Poll times (and whether each reads storage) from `start` until `end`, A(N) = 0 here. */
function polls(start: number, timing: PollTiming, end: number): Array<[number, boolean]> {
  const out: Array<[number, boolean]> = []
  for (let p = firstPoll(start, timing, S); p.at < end; p = nextPoll(p, S)) out.push([p.at, p.storage])
  return out
}

describe('poll schedule', () => {
  it('starts at A(N), doubles from 10 ms to 40 ms until A(N) + G, reads storage once there, then every 200 ms', () => {
    const got = polls(-1500, { dueAt: 0, graceUntil: 500 }, 1500)
    assert.deepEqual(
      got.map(([t]) => t),
      [0, 10, 30, 70, 110, 150, 190, 230, 270, 310, 350, 390, 430, 470, 510, 710, 910, 1110, 1310],
    )
    assert.deepEqual(
      got.filter(([, storage]) => storage).map(([t]) => t),
      [510],
      'storage on the first poll at or after A(N) + G, and on no other',
    )
  })

  it('a hold that begins after A(N) polls at once; one that begins after A(N) + G never reads storage and backs off to 200 ms', () => {
    const late = polls(100, { dueAt: 0, graceUntil: 500 }, 900)
    assert.deepEqual(
      late.map(([t]) => t),
      [100, 110, 130, 170, 210, 250, 290, 330, 370, 410, 450, 490, 530, 730],
    )
    assert.deepEqual(
      late.filter(([, s]) => s).map(([t]) => t),
      [530],
    )
    const afterGrace = polls(800, { dueAt: 0, graceUntil: 500 }, 2000)
    assert.equal(afterGrace.filter(([, s]) => s).length, 0)
    assert.deepEqual(
      afterGrace.slice(0, 4).map(([t]) => t),
      [800, 810, 830, 870],
    )
  })

  it('an object with no due time (an LL-HLS playlist) is polled at once, up to 40 ms apart, never in storage', () => {
    const got = polls(0, {}, 400)
    assert.deepEqual(
      got.map(([t]) => t),
      [0, 10, 30, 70, 110, 150, 190, 230, 270, 310, 350, 390],
    )
    assert.equal(got.filter(([, s]) => s).length, 0)
  })

  it('intervals never shrink, whatever the caps', () => {
    for (const timing of [{ dueAt: 0, graceUntil: 500 }, { dueAt: 0 }, {}]) {
      const times = polls(0, timing, 10_000).map(([t]) => t)
      for (let i = 2; i < times.length; i++) {
        assert.ok(times[i]! - times[i - 1]! >= times[i - 1]! - times[i - 2]!, `${timing} at ${times[i]}`)
      }
    }
  })

  it('pollCost counts the schedule: a commit 50 ms after A(N) costs 4 polls; none, 32 polls and one storage read by A(N) + 4 s', () => {
    const timing = { dueAt: 0, graceUntil: 500 }
    assert.deepEqual(pollCost(-2000, timing, 50, 4000, S), { polls: 4, storagePolls: 0, lastAt: 70 })
    assert.deepEqual(pollCost(-2000, timing, 100, 4000, S), { polls: 5, storagePolls: 0, lastAt: 110 })
    const never = pollCost(-2000, timing, Number.POSITIVE_INFINITY, 4000, S)
    assert.equal(never.polls, 32)
    assert.equal(never.storagePolls, 1)
  })
})

describe('hold table on a fake clock', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 }))
  afterEach(() => mock.timers.reset())

  /** Advances the fake clock 1 ms at a time, letting poll promises settle in between. */
  async function run(until: number): Promise<void> {
    while (Date.now() < until) {
      mock.timers.tick(1)
      for (let i = 0; i < 3; i++) await Promise.resolve()
    }
  }

  const object: HeldObject = { channel: 'ch', path: 'v/10.m4s' }

  it('polls nothing before A(N), then on the schedule until the deadline', async () => {
    const seen: Array<[number, boolean]> = []
    const table = new HoldTable({
      poll: async (_o, p) => {
        seen.push([Date.now(), p.storage])
        return false
      },
    })
    const woken: Array<[WakeReason, number]> = []
    // Held from A(N) − 1000 (A(N) = 1000 on this clock), deadline A(N) + 4000.
    table.add(object, 5000, (r) => woken.push([r, Date.now()]), { dueAt: 1000, graceUntil: 1500 })
    await run(999)
    assert.deepEqual(seen, [], 'no poll before A(N)')
    await run(5100)
    const expected = polls(-1000, { dueAt: 0, graceUntil: 500 }, 4000).map(([t, s]) => [t + 1000, s])
    assert.deepEqual(seen, expected)
    assert.equal(seen.length, 32)
    assert.deepEqual(woken, [['deadline', 5000]])
    assert.equal(table.size, 0)
  })

  it('a poll that finds a commit releases every waiter and stops polling; a release on the bus stops it too', async () => {
    let polled = 0
    const table = new HoldTable({
      poll: async () => {
        polled++
        return Date.now() >= 1060
      },
    })
    const woken: Array<[WakeReason, number]> = []
    for (let i = 0; i < 3; i++)
      table.add(object, 5000, (r) => woken.push([r, Date.now()]), { dueAt: 1000, graceUntil: 1500 })
    await run(2000)
    assert.deepEqual(woken, [
      ['commit', 1070],
      ['commit', 1070],
      ['commit', 1070],
    ])
    assert.equal(polled, 4, 'polls at A(N), +10, +30, +70')

    polled = 0
    const other: HeldObject = { channel: 'ch', path: 'v/11.m4s' }
    table.add(other, 9000, () => {}, { dueAt: 2500 })
    await run(2400)
    assert.equal(table.release(other), 1)
    await run(4000)
    assert.equal(polled, 0, 'released on the bus before A(N): never polled')
  })

  it('a poll that fails is followed by the next one on the schedule', async () => {
    const seen: number[] = []
    const table = new HoldTable({
      poll: async () => {
        seen.push(Date.now())
        throw new Error('cache down')
      },
    })
    table.add(object, 1100, () => {}, { dueAt: 1000, graceUntil: 1500 })
    await run(1200)
    assert.deepEqual(seen, [1000, 1010, 1030, 1070])
  })
})
