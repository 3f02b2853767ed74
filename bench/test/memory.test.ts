import assert from 'node:assert/strict'
import { test } from 'node:test'
import { msPerMib, touchMemory } from '../lib/memory.js'

test('touchMemory touches the MiB asked for in a child process and times the touching', async () => {
  const before = process.memoryUsage().rss
  const t = await touchMemory(32)
  assert.equal(t.mib, 32)
  assert.ok(t.ms > 0 && Number.isFinite(t.ms))
  assert.ok(process.memoryUsage().rss - before < 32 * 2 ** 20, 'the memory was not touched in this process')
  assert.equal(msPerMib({ mib: 4, ms: 10 }), 2.5)
  assert.equal(msPerMib({ mib: 3, ms: 10 }), 3.33)
  assert.throws(() => touchMemory(0), /positive integer/)
})
