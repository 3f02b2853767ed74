import assert from 'node:assert/strict'
import { test } from 'node:test'
import { diffCounts, parseMetrics, sumBy, sumMetric } from '../lib/metrics.js'
import { heldNow, isReadOp } from '../scenarios/single-flight.js'

const text = `# HELP liveorigin_storage_operations_total Storage operations.
# TYPE liveorigin_storage_operations_total counter
liveorigin_storage_operations_total{driver="embedded",op="list",result="ok"} 3
liveorigin_storage_operations_total{driver="embedded",op="getChunk",result="ok"} 6
liveorigin_storage_operations_total{driver="embedded",op="getChunk",result="error"} 1
liveorigin_storage_operations_total{driver="embedded",op="commit",result="ok"} 2
liveorigin_held_requests{role="delivery"} 42
liveorigin_hold_duration_seconds_count 7
weird_label{path="a\\"b"} 1.5e3
`

test('parses samples with labels, escapes and exponents', () => {
  const s = parseMetrics(text)
  assert.equal(s.length, 7)
  assert.deepEqual(s[0], {
    name: 'liveorigin_storage_operations_total',
    labels: { driver: 'embedded', op: 'list', result: 'ok' },
    value: 3,
  })
  assert.equal(s[6]!.labels.path, 'a"b')
  assert.equal(s[6]!.value, 1500)
})

test('sums by label and diffs counters', () => {
  const s = parseMetrics(text)
  assert.equal(sumMetric(s, 'liveorigin_storage_operations_total', { op: 'getChunk' }), 7)
  const byOp = sumBy(s, 'liveorigin_storage_operations_total', 'op')
  assert.deepEqual(byOp, { list: 3, getChunk: 7, commit: 2 })
  assert.deepEqual(diffCounts({ list: 1, commit: 2 }, byOp), { list: 2, getChunk: 7 })
})

test('read operations and held gauges are recognised', () => {
  assert.ok(isReadOp('list'))
  assert.ok(isReadOp('getChunk'))
  assert.ok(isReadOp('get'))
  assert.ok(!isReadOp('putChunk'))
  assert.ok(!isReadOp('commit'))
  assert.ok(!isReadOp('deleteChunks'))
  assert.equal(heldNow(parseMetrics(text)), 42)
  assert.equal(heldNow(parseMetrics('liveorigin_requests_total 3')), undefined)
})
