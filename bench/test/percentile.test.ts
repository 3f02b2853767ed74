import assert from 'node:assert/strict'
import { test } from 'node:test'
import { percentile, summarize } from '../lib/percentile.js'

test('nearest-rank percentiles return observed values', () => {
  const values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6]
  assert.equal(percentile(values, 50), 5)
  assert.equal(percentile(values, 90), 9)
  assert.equal(percentile(values, 99), 10)
  assert.equal(percentile(values, 100), 10)
  assert.equal(percentile(values, 1), 1)
})

test('p99 of 200 samples is the 198th smallest', () => {
  const values = Array.from({ length: 200 }, (_, i) => 200 - i)
  assert.equal(percentile(values, 99), 198)
})

test('percentile refuses empty samples and bad ranks', () => {
  assert.throws(() => percentile([], 50), RangeError)
  assert.throws(() => percentile([1], 0), RangeError)
  assert.throws(() => percentile([1], 101), RangeError)
})

test('summarize reports count, extremes, mean and percentiles', () => {
  const s = summarize([3, 1, 2, 4])
  assert.deepEqual(s, { count: 4, min: 1, mean: 2.5, p50: 2, p90: 4, p99: 4, max: 4 })
})
