import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { errors, LiveOriginError } from '../../src/errors.js'
import { createEmbeddedDriver } from '../../src/storage/embedded.js'
import { storageFailure, withStorageErrors } from '../../src/storage/errors.js'
import { wrapDriver } from '../../src/storage/instrumented.js'

describe('storage failures as answers (every driver, one mapping)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'liveorigin-errors-'))
  const embedded = createEmbeddedDriver({ dataDir: dir })
  after(async () => {
    await embedded.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('a driver error becomes 503 STORAGE_UNAVAILABLE naming the driver and operation, with its cause', async () => {
    const cause = new Error('disk\nfull')
    const failing = wrapDriver(embedded, (op, call) => (op === 'list' ? Promise.reject(cause) : call()))
    const driver = withStorageErrors(failing)
    const err = await driver.list('c', 'v/1.m4s').then(
      () => assert.fail('list resolved'),
      (e: unknown) => e,
    )
    assert.ok(err instanceof LiveOriginError)
    assert.equal(err.code, errors.storageUnavailable.code)
    assert.equal(err.status, 503)
    assert.equal(err.message.includes('embedded list failed (Error: disk full)'), true, err.message)
    assert.equal(err.cause, cause)
    assert.ok(err.headers['Retry-After'])
    // Operations that work are untouched.
    await driver.putRecord('ns', 'id', { a: 1 })
    assert.deepEqual(await driver.getRecord('ns', 'id'), { a: 1 })
  })

  it('an error that already is an answer passes through as it is', () => {
    const answer = errors.badRequest('no')
    assert.equal(storageFailure('cassandra', 'commit', answer), answer)
    const described = storageFailure('cassandra', 'commit', new Error('x'), () => 'two hosts down')
    assert.match(described.message, /cassandra commit failed \(two hosts down\)/)
  })
})
