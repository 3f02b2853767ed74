/** SingleFlight: concurrent callers of one key share one call; different keys do not. */

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { SingleFlight } from '../../src/cache/single-flight.js'

describe('SingleFlight', () => {
  it('runs one call for concurrent callers of a key and gives them all its result', async () => {
    const flight = new SingleFlight<string, Buffer>()
    let reads = 0
    const read = async () => {
      reads++
      await sleep(10)
      return Buffer.from('segment bytes')
    }
    const results = await Promise.all(Array.from({ length: 5000 }, () => flight.do('ch/v/1.m4s', read)))
    assert.equal(reads, 1)
    assert.equal(new Set(results).size, 1)
    assert.deepEqual(results[0], Buffer.from('segment bytes'))
    assert.equal(flight.inFlight(), 0)
  })

  it('runs separate calls for separate keys', async () => {
    const flight = new SingleFlight<string, string>()
    const [a, b] = await Promise.all([flight.do('a', async () => 'A'), flight.do('b', async () => 'B')])
    assert.equal(a, 'A')
    assert.equal(b, 'B')
  })

  it('shares a failure with every waiter, then starts afresh', async () => {
    const flight = new SingleFlight<string, number>()
    let calls = 0
    const failing = async () => {
      calls++
      await sleep(5)
      throw new Error('storage unavailable')
    }
    const outcomes = await Promise.allSettled([flight.do('k', failing), flight.do('k', failing)])
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['rejected', 'rejected'],
    )
    assert.equal(calls, 1)
    assert.equal(await flight.do('k', async () => 7), 7)
  })

  it('turns a synchronous throw into a rejection', async () => {
    const flight = new SingleFlight<string, number>()
    const p = flight.do('k', () => {
      throw new Error('sync')
    })
    await assert.rejects(p, /sync/)
    assert.equal(flight.inFlight(), 0)
  })

  it('counts calls in flight and lets later callers start fresh after forget', async () => {
    const flight = new SingleFlight<string, string>()
    let release!: () => void
    const stale = flight.do('k', () => new Promise<string>((r) => (release = () => r('stale'))))
    assert.equal(flight.inFlight(), 1)
    flight.forget('k')
    assert.equal(flight.inFlight(), 0)
    const fresh = flight.do('k', async () => 'fresh')
    assert.equal(await fresh, 'fresh')
    release()
    assert.equal(await stale, 'stale')
    // The stale call settling does not evict a newer one.
    let releaseNewer!: () => void
    const newer = flight.do('k', () => new Promise<string>((r) => (releaseNewer = () => r('newer'))))
    assert.equal(flight.inFlight(), 1)
    releaseNewer()
    assert.equal(await newer, 'newer')
  })
})
