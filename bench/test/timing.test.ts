import assert from 'node:assert/strict'
import { test } from 'node:test'
import { availableAt, edgePathAt, edgePathLua, edgeSegments, liveEdge, startedAgo } from '../lib/timing.js'

test('A(N) and the live edge follow the channel timing rules', () => {
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

test('edge paths follow the live edge and name only stored segments', () => {
  const now = 10_000_000
  const edge = { template: startedAgo(now, 2000, 500), prefix: '/ch/v/', suffix: '.m4s' }
  assert.equal(edgePathAt(edge, now), '/ch/v/1.m4s')
  assert.equal(edgePathAt(edge, now + 1499), '/ch/v/1.m4s')
  assert.equal(edgePathAt(edge, now + 1500), '/ch/v/2.m4s')
  assert.equal(edgePathAt(edge, now - 60_000), '/ch/v/1.m4s', 'never below S')
  assert.deepEqual(edgeSegments(edge, now, 5000), [1, 2, 3])
  const lua = edgePathLua(edge)
  assert.match(lua, /local ast, d, s = 9997500, 2000, 1/)
  assert.match(lua, /local prefix, suffix = "\/ch\/v\/", ".m4s"/)
})
