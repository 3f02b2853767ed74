import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { HedgeDelay, ProfileHedgingPolicy, p99 } from '../../src/storage/cassandra-hedging.js'

/** A hedge delay fed `samples` (floor 75 ms, timeout 800 ms: at most 400 ms). */
function fed(samples: number[]): HedgeDelay {
  const d = new HedgeDelay(75, 800)
  for (const ms of samples) d.record(ms)
  return d
}
const times = (n: number, ms: number) => Array.from({ length: n }, () => ms)

describe('cassandra hedging', () => {
  it('p99 is the nearest rank, and says nothing below 20 samples', () => {
    assert.equal(p99(times(19, 50)), 0)
    assert.equal(p99([...times(99, 10), 500]), 10)
    assert.equal(p99([...times(98, 10), 400, 500]), 400)
  })

  it('hedges after the floor while the ring answers fast, and while a stalled node slows a few statements', () => {
    assert.equal(fed([]).get(), 75)
    assert.equal(fed(times(200, 5)).get(), 75)
    // A node stopped for 2 s: the few statements it coordinated took the hedge delay and more.
    assert.equal(fed([...times(500, 5), ...times(4, 300)]).get(), 75)
  })

  it('hedges later when the whole ring is slow, so that an overloaded ring is not sent everything twice', () => {
    assert.equal(fed(times(100, 180)).get(), 180)
    assert.equal(fed(times(100, 3000)).get(), 400, 'never later than half the timeout')
  })

  it('keeps the last 512 latencies: a slow spell is forgotten', () => {
    const d = new HedgeDelay(75, 800)
    for (const ms of [...times(512, 250), ...times(512, 5)]) d.record(ms)
    assert.equal(d.get(), 75)
  })

  it('hedges only statements that have a profile, at most maxHedges times', () => {
    const delays = {
      metadata: fed([]),
      chunkRead: new HedgeDelay(150, 1500),
      chunkWrite: new HedgeDelay(300, 1500),
    }
    const profiles = new Map([
      ['SELECT a', 'metadata' as const],
      ['INSERT b', 'chunkWrite' as const],
    ])
    const plan = new ProfileHedgingPolicy(profiles, delays, 2)
    const next = (query: string | object[]) => {
      const p = plan.newPlan('ks', query)
      return [p.nextExecution(), p.nextExecution(), p.nextExecution()]
    }
    assert.deepEqual(next('SELECT a'), [75, 75, -1])
    assert.deepEqual(next('INSERT b'), [300, 300, -1])
    assert.deepEqual(next('SELECT other'), [-1, -1, -1])
    assert.deepEqual(next([{ query: 'SELECT a' }]), [-1, -1, -1], 'batches')
    const off = new ProfileHedgingPolicy(profiles, delays, 0)
    assert.equal(off.newPlan('ks', 'SELECT a').nextExecution(), -1)
  })
})
