import assert from 'node:assert/strict'
import { test } from 'node:test'
import { combineLoads, type LoadResult } from '../lib/load.js'
import { alternate, ROUND_SPREAD_LIMIT, ratioDoubt, roundSpreadNote } from '../scenarios/types.js'

function run(requests: number, bytes: number, durationSec: number, p99: number): LoadResult {
  return {
    tool: 'wrk',
    connections: 64,
    durationSec,
    requests,
    bytes,
    reqPerSec: requests / durationSec,
    expectedPerSec: (requests - 1) / durationSec,
    bytesPerSec: bytes / durationSec,
    statusCounts: { '2xx/3xx': requests - 1, other: 1 },
    avgAnswerBytes: bytes / requests,
    unexpected: 1,
    short: 0,
    errors: 0,
    latencyMs: { mean: p99 / 2, p50: p99 / 4, p90: p99 / 2, p99, max: p99 * 2 },
  }
}

test('combined loads are rates over the whole time, with the worst round latency', () => {
  const c = combineLoads([run(100, 1000, 5, 10), run(300, 3000, 5, 30)])
  assert.equal(c.requests, 400)
  assert.equal(c.durationSec, 10)
  assert.equal(c.reqPerSec, 40)
  assert.equal(c.expectedPerSec, 39.8)
  assert.equal(c.bytesPerSec, 400)
  assert.deepEqual(c.statusCounts, { '2xx/3xx': 398, other: 2 })
  assert.equal(c.unexpected, 2)
  assert.equal(c.latencyMs.p99, 30)
  assert.equal(c.latencyMs.mean, (100 * 5 + 300 * 15) / 400)
  assert.throws(() => combineLoads([]), RangeError)
})

test('alternate swaps who goes first each round (two contenders) and drops a contender that fails', async () => {
  const order: string[] = []
  const notes: string[] = []
  const out = await alternate(
    3,
    [
      {
        name: 'nginx',
        measure: async (r) => {
          order.push(`nginx${r}`)
          return r
        },
      },
      {
        name: 'liveorigin',
        measure: async (r) => {
          order.push(`origin${r}`)
          if (r === 1) throw new Error('boom\nstack')
          return r
        },
      },
    ],
    notes,
  )
  assert.deepEqual(order, ['nginx0', 'origin0', 'origin1', 'nginx1', 'nginx2'])
  assert.deepEqual(out, { nginx: [0, 1, 2] })
  assert.deepEqual(notes, ['liveorigin failed: boom'])
})

test('alternate rotates three contenders so that each takes every place', async () => {
  const order: string[] = []
  const measure = (name: string) => async (r: number) => {
    order.push(`${name}${r}`)
    return r * 10
  }
  const out = await alternate(
    3,
    [
      { name: 'nginx', measure: measure('n') },
      { name: 'liveorigin', measure: measure('o') },
      { name: 'bare', measure: measure('b') },
    ],
    [],
  )
  assert.deepEqual(order, ['n0', 'o0', 'b0', 'o1', 'b1', 'n1', 'b2', 'n2', 'o2'])
  assert.deepEqual(out, { nginx: [0, 10, 20], liveorigin: [0, 10, 20], bare: [0, 10, 20] })
  for (const name of ['n', 'o', 'b']) {
    const places = [0, 1, 2].map((r) => order.slice(3 * r, 3 * r + 3).indexOf(`${name}${r}`))
    assert.deepEqual([...places].sort(), [0, 1, 2], `${name} took places ${places}`)
  }
})

test('roundSpreadNote names a server whose rounds differ by more than the limit, and only then', () => {
  assert.equal(roundSpreadNote('nginx', 'PUT p50', [1.63, 1.63 * ROUND_SPREAD_LIMIT], 'ms'), undefined)
  assert.equal(roundSpreadNote('nginx', 'PUT p50', [16.5], 'ms'), undefined, 'one round has no spread')
  assert.equal(roundSpreadNote('nginx', 'PUT p50', [0, 16.5], 'ms'), undefined, 'no rate of nothing')
  const note = roundSpreadNote('nginx', 'PUT p50', [1.63, 16.48], 'ms')
  assert.ok(note)
  assert.match(note, /^nginx: PUT p50 10\.1 × apart between rounds \(1\.63, 16\.5 ms\)/)
  assert.match(
    roundSpreadNote('bare node', 'answers/s', [68_556, 20_100], 'req/s') ?? '',
    /68,556, 20,100 req\/s/,
  )
})

test('alternate runs beforeEach before every round of every contender still measured', async () => {
  const order: string[] = []
  await alternate(
    2,
    [
      {
        name: 'nginx',
        measure: async (r) => {
          order.push(`n${r}`)
          return r
        },
      },
      {
        name: 'bare',
        measure: async (r) => {
          order.push(`b${r}`)
          throw new Error('down')
        },
      },
    ],
    [],
    async () => {
      order.push('touch')
    },
  )
  assert.deepEqual(order, ['touch', 'n0', 'touch', 'b0', 'touch', 'n1'])
})

test('ratioDoubt names only the unsteady servers that a ratio target compares', () => {
  const ratio = { on: 'ratio', op: '<=', value: 2 } as const
  const ratioBare = { on: 'ratioBare', op: '>=', value: 0.8 } as const
  assert.equal(ratioDoubt(ratio, new Set()), undefined)
  assert.equal(ratioDoubt(ratio, new Set(['bare', 'bare-file'])), undefined)
  assert.equal(ratioDoubt(ratio, new Set(['nginx'])), 'the rounds of nginx disagree')
  assert.equal(ratioDoubt(ratioBare, new Set(['nginx'])), undefined)
  assert.equal(
    ratioDoubt(ratioBare, new Set(['bare', 'liveorigin'])),
    'the rounds of liveorigin and bare node disagree',
  )
  assert.equal(ratioDoubt({ on: 'origin', op: '<=', value: 10 }, new Set(['liveorigin'])), undefined)
  assert.equal(ratioDoubt(undefined, new Set(['liveorigin'])), undefined)
})
