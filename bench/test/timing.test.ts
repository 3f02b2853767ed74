import assert from 'node:assert/strict'
import { test } from 'node:test'
import { availableAt, liveEdge, startedAgo } from '../lib/timing.js'

test('A(N) and the live edge follow SPEC §4', () => {
  const t = { ast: 1_000_000, durationMs: 2000, startNumber: 1 }
  assert.equal(availableAt(t, 1), 1_002_000)
  assert.equal(liveEdge(t, 1_001_999), 0)
  assert.equal(liveEdge(t, 1_002_000), 1)
  assert.equal(liveEdge(t, 1_005_999), 2)
  const s = { ...t, startNumber: 10 }
  assert.equal(availableAt(s, 10), 1_002_000)
  assert.equal(liveEdge(s, 1_002_000), 10)
})

test('startedAgo puts segment S at the live edge', () => {
  const now = 5_000_000
  const t = startedAgo(now, 2000, 500)
  assert.equal(availableAt(t, 1), now - 500)
  assert.equal(liveEdge(t, now), 1)
})
