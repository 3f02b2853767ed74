/**
 * Hot-path metrics counted in plain numbers (`tallyOf`, `observeTally`) read exactly as
 * prom-client's own `inc` and `observe` of the same values would, every time they are read.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { childrenOf, createMetrics, levelOf, observeTally, tallyOf } from '../../src/observability/metrics.js'

/** The lines of `names` from a registry, sorted (series order carries no meaning). */
async function text(metrics: ReturnType<typeof createMetrics>, names: string[]): Promise<string> {
  const all = await metrics.registry.metrics()
  return all
    .split('\n')
    .filter((line) => names.some((n) => line.startsWith(n)))
    .sort()
    .join('\n')
}

describe('tallies read as prom-client counts', () => {
  it('counter increments by label set, read between increments and after', async () => {
    const fast = createMetrics({ defaultMetrics: false })
    const plain = createMetrics({ defaultMetrics: false })
    const tally = tallyOf(fast.requests)
    const sets = [
      ['delivery', 'live', '404'],
      ['delivery', 'dvr', '200'],
      ['ingest', 'ingest', '201'],
    ]
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 50; i++) {
        const set = sets[(i * 7 + round) % sets.length]!
        tally(...set).inc()
        plain.requests.labels(...set).inc()
      }
      // A counter incremented the ordinary way too keeps both kinds of counts.
      fast.requests.labels('delivery', 'live', '404').inc()
      plain.requests.labels('delivery', 'live', '404').inc()
      assert.equal(
        await text(fast, ['liveorigin_requests_total']),
        await text(plain, ['liveorigin_requests_total']),
      )
    }
    const json = await fast.requests.get()
    assert.equal(
      json.values.reduce((a, v) => a + v.value, 0),
      3 * 51,
    )
  })

  it('histogram observations, buckets, sum and count, with values on and beyond the bucket bounds', async () => {
    const fast = createMetrics({ defaultMetrics: false })
    const plain = createMetrics({ defaultMetrics: false })
    const tally = observeTally(fast.requestDuration, 'delivery')
    const names = ['liveorigin_request_duration_seconds']
    // No observation yet: no series, as with prom-client.
    assert.equal(await text(fast, names), await text(plain, names))
    const values = [0, 0.0005, 0.0004, 0.001, 0.0011, 0.02, 0.3, 10, 11, 250, 0.00001]
    for (let round = 0; round < 2; round++) {
      for (const v of values) {
        tally.observe(v)
        plain.requestDuration.labels('delivery').observe(v)
      }
      plain.requestDuration.labels('ingest').observe(0.5)
      fast.requestDuration.labels('ingest').observe(0.5)
      assert.equal(await text(fast, names), await text(plain, names))
    }
    assert.match(await text(fast, names), /liveorigin_request_duration_seconds_count\{role="delivery"\} 22/)
  })

  it('children are made once per label set', () => {
    const made: string[] = []
    const child = childrenOf((...values: string[]) => {
      made.push(values.join('|'))
      return { values }
    })
    const a = child('x', 'y')
    assert.equal(child('x', 'y'), a)
    assert.notEqual(child('x', 'z'), a)
    assert.notEqual(child('xy', ''), a)
    assert.deepEqual(child('x', 'z').values, ['x', 'z'])
    assert.deepEqual(made, ['x|y', 'x|z', 'xy|'])
  })
})

describe('levels read as prom-client gauges', () => {
  it('a gauge going up and down reads its level at every read, and shows a series once used', async () => {
    const fast = createMetrics({ defaultMetrics: false })
    const plain = createMetrics({ defaultMetrics: false })
    const level = levelOf(fast.inFlight)
    const names = ['liveorigin_in_flight_requests']
    const steps: [string, 1 | -1][] = [
      ['live', 1],
      ['live', 1],
      ['dvr', 1],
      ['live', -1],
      ['dvr', -1],
      ['live', -1],
    ]
    for (const [klass, d] of steps) {
      if (d === 1) level(klass).inc()
      else level(klass).dec()
      plain.inFlight.labels(klass).inc(d)
      assert.equal(await text(fast, names), await text(plain, names))
    }
    assert.match(await text(fast, names), /liveorigin_in_flight_requests\{class="dvr"\} 0/)
  })
})
