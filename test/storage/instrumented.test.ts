/** Instrumentation wrappers: every operation reported with driver, op, result and duration. */

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createMemoryCache } from '../../src/cache/memory.js'
import { createEmbeddedDriver } from '../../src/storage/embedded.js'
import { withInjectedPressure } from '../../src/storage/inject.js'
import { instrumentCache, instrumentDriver, type OperationEvent } from '../../src/storage/instrumented.js'
import type { StorageDriver } from '../../src/storage/types.js'

let dir: string
let driver: StorageDriver

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'liveorigin-instr-'))
  driver = createEmbeddedDriver({ dataDir: dir })
})
after(async () => {
  await driver.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('instrumentDriver', () => {
  it('reports ok, miss and error results with the time each took', async () => {
    const events: OperationEvent[] = []
    const d = instrumentDriver(withInjectedPressure(driver, { latencyMs: 15 }), (e) => events.push(e))
    await d.putRecord('ns', 'a', { x: 1 })
    assert.deepEqual(await d.getRecord('ns', 'a'), { x: 1 })
    assert.equal(await d.getRecord('ns', 'missing'), undefined)
    assert.deepEqual(await d.list('ch', 'nothing'), [])
    await assert.rejects(d.commit({} as never))
    assert.deepEqual(
      events.map((e) => [e.driver, e.op, e.result]),
      [
        ['embedded', 'putRecord', 'ok'],
        ['embedded', 'getRecord', 'ok'],
        ['embedded', 'getRecord', 'miss'],
        ['embedded', 'list', 'miss'],
        ['embedded', 'commit', 'error'],
      ],
    )
    for (const e of events)
      assert.ok(e.durationMs >= 12, `${e.op} took ${e.durationMs} ms with 15 ms injected`)
  })

  it('a throwing observer does not fail the operation', async () => {
    const d = instrumentDriver(driver, () => {
      throw new Error('metrics broke')
    })
    await d.putRecord('ns', 'b', 2)
    assert.equal(await d.getRecord('ns', 'b'), 2)
  })
})

describe('instrumentCache', () => {
  it('reports hits, misses and writes under the tier name', async () => {
    const events: OperationEvent[] = []
    const c = instrumentCache(createMemoryCache({ maxBytes: 1000 }), (e) => events.push(e))
    assert.equal(await c.get('k'), undefined)
    await c.set('k', Buffer.from('v'), 1000)
    assert.deepEqual(await c.get('k'), Buffer.from('v'))
    await c.delete('k')
    assert.deepEqual(
      events.map((e) => [e.driver, e.op, e.result]),
      [
        ['memory', 'get', 'miss'],
        ['memory', 'set', 'ok'],
        ['memory', 'get', 'ok'],
        ['memory', 'delete', 'ok'],
      ],
    )
    assert.equal(c.name, 'memory')
  })
})
