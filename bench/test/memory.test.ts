import assert from 'node:assert/strict'
import { test } from 'node:test'
import { msPerMib, touchMemory } from '../lib/memory.js'
import { minorFaults } from '../lib/rss.js'

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

test('minorFaults counts the page faults a process takes, and is undefined for one that is gone', () => {
  const before = minorFaults(process.pid)
  assert.ok(before !== undefined && before > 0)
  // 16 MiB of memory this process never had, written once: faulted in (by 4 KiB pages, or by
  // huge pages where the kernel gives those).
  const fresh = Buffer.allocUnsafeSlow(16 * 2 ** 20)
  fresh.fill(1)
  const after = minorFaults(process.pid)!
  assert.ok(after > before, `${after - before} faults for 16 MiB of fresh memory`)
  assert.equal(minorFaults(2 ** 22 + 1), undefined)
})
