import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import cassandra from 'cassandra-driver'
import { onlySlowOrDownHosts } from '../../src/storage/cassandra.js'
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

  it('sends a statement once more with the long timeout only when coordinators were slow, not when Cassandra said no', () => {
    const { NoHostAvailableError, OperationTimedOutError, ResponseError } = cassandra.errors
    const timeout = (host: string) =>
      new OperationTimedOutError(`The host ${host} did not reply before timeout 800 ms`, host)
    // What the driver throws when a connection closes under a statement.
    const closed = Object.assign(new Error('Socket was closed'), { isSocketError: true })
    const noHost = (inner: Record<string, unknown>) =>
      new NoHostAvailableError(inner as Record<string, Error>)
    assert.equal(onlySlowOrDownHosts(timeout('127.0.0.1:9042')), true)
    assert.equal(onlySlowOrDownHosts(noHost({ a: timeout('a'), b: timeout('b') })), true)
    // A node just killed: the driver skips it as down, or its socket closes mid-statement.
    assert.equal(
      onlySlowOrDownHosts(noHost({ a: timeout('a'), b: timeout('b'), c: 'Host considered as DOWN' })),
      true,
    )
    assert.equal(onlySlowOrDownHosts(noHost({ a: timeout('a'), c: closed })), true)
    // Nothing slow: every host is down, which a longer timeout does not help.
    assert.equal(onlySlowOrDownHosts(noHost({ a: 'Host considered as DOWN', c: closed })), false)
    assert.equal(onlySlowOrDownHosts(noHost({})), false)
    // An answer from Cassandra is final.
    const unavailable = new ResponseError(0x1000, 'Cannot achieve consistency level LOCAL_QUORUM')
    assert.equal(onlySlowOrDownHosts(noHost({ a: timeout('a'), b: unavailable })), false)
    assert.equal(onlySlowOrDownHosts(unavailable), false)
    assert.equal(onlySlowOrDownHosts(new Error('other')), false)
  })
})
