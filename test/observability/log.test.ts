/**
 * The process's log lines (`src/observability/log.ts`): an error with a cause is logged with
 * its own message once and the cause as a nested object, as a storage failure is.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { storageFailure } from '../../src/storage/errors.js'
import { capturedLog } from '../helpers/log-capture.js'

describe('log lines', () => {
  it('an error with a cause: its message once, the cause nested with its own type and message', () => {
    const { log, lines } = capturedLog('info')
    const cause = new RangeError('disk full')
    log.error({ err: storageFailure('embedded', 'putChunk', cause) }, 'storage write failed')
    assert.equal(lines.length, 1)
    const err = lines[0]!.err as { message: string; code?: string; cause?: { type: string; message: string } }
    assert.equal(err.message.split('disk full').length - 1, 1, `the cause's text once in ${err.message}`)
    assert.match(err.message, /embedded putChunk failed/)
    assert.equal(err.cause?.type, 'RangeError')
    assert.equal(err.cause?.message, 'disk full')
    assert.equal(lines[0]!.msg, 'storage write failed')
  })
})
