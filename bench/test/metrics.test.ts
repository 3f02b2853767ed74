import assert from 'node:assert/strict'
import { test } from 'node:test'
import { diffCounts, histogramMeans, parseMetrics, sumBy, sumMetric } from '../lib/metrics.js'
import { phaseNote, uploadPhases } from '../scenarios/put.js'
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

test('histogram means by label between two scrapes, in ms', () => {
  const scrape = (receive: [number, number], commit: [number, number]) =>
    parseMetrics(`liveorigin_upload_phase_seconds_bucket{phase="receive",le="0.001"} 0
liveorigin_upload_phase_seconds_sum{phase="receive"} ${receive[0]}
liveorigin_upload_phase_seconds_count{phase="receive"} ${receive[1]}
liveorigin_upload_phase_seconds_sum{phase="commit"} ${commit[0]}
liveorigin_upload_phase_seconds_count{phase="commit"} ${commit[1]}
`)
  const means = histogramMeans(
    scrape([1, 10], [0.5, 10]),
    scrape([1.03, 20], [0.5, 10]),
    'liveorigin_upload_phase_seconds',
    'phase',
  )
  assert.deepEqual(Object.keys(means), ['receive'], 'a phase with nothing new is left out')
  assert.equal(means.receive!.count, 10)
  assert.ok(Math.abs(means.receive!.meanMs - 3) < 1e-9)
})

test('PUT phases pooled over rounds, and the note naming what is left of the mean', () => {
  const scrape = (receive: [number, number], store: [number, number]) =>
    parseMetrics(`liveorigin_upload_phase_seconds_sum{phase="receive"} ${receive[0]}
liveorigin_upload_phase_seconds_count{phase="receive"} ${receive[1]}
liveorigin_upload_phase_seconds_sum{phase="store"} ${store[0]}
liveorigin_upload_phase_seconds_count{phase="store"} ${store[1]}
`)
  // Round 1: 10 PUTs, receive 2 ms each; round 2: 30 PUTs, receive 1 ms each. Store 0.5 ms.
  const phases = uploadPhases([
    { before: scrape([0, 0], [0, 0]), after: scrape([0.02, 10], [0.005, 10]) },
    { before: scrape([0.02, 10], [0.005, 10]), after: scrape([0.05, 40], [0.02, 40]) },
  ])
  assert.deepEqual(Object.keys(phases), ['receive', 'store'])
  assert.ok(Math.abs(phases.receive! - 1.25) < 1e-9)
  assert.ok(Math.abs(phases.store! - 0.5) < 1e-9)
  const note = phaseNote(phases, [2, 3, 4])
  assert.match(note ?? '', /mean PUT 3\.00 ms .*receive 1\.25 ms, store 0\.50 ms; the other 1\.25 ms/)
  assert.equal(phaseNote({}, [1]), undefined, 'no note from an origin that reports no phases')
})
