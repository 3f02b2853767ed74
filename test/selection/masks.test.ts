import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isLiveOriginError } from '../../src/errors.js'
import { isMasked, OPEN_END, parseMask } from '../../src/selection/masks.js'

const AST = Date.UTC(2026, 10, 26, 10, 0, 0)
const D = 2000
/** The segment containing an instant, S = 1. */
const toNumber = (ms: number) => 1 + Math.floor((ms - AST) / D)

function badConfig(fn: () => unknown, field: string, why: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isLiveOriginError(err))
    assert.equal(err.code, 'LIVEORIGIN_ERR_BAD_CONFIG')
    assert.equal(err.status, 400)
    assert.match(err.message, new RegExp(`invalid field ${field}:`))
    assert.match(err.message, why)
    return true
  })
}

describe('parseMask', () => {
  it('accepts segment numbers', () => {
    assert.deepEqual(parseMask({ pipeline: 'east', from: 10, to: 20 }), {
      pipeline: 'east',
      from: 10,
      to: 20,
    })
    assert.deepEqual(parseMask({ pipeline: 'e.1_x-y', from: 0, to: 0 }), {
      pipeline: 'e.1_x-y',
      from: 0,
      to: 0,
    })
  })

  it('converts ISO-8601 times with the channel timing', () => {
    assert.deepEqual(
      parseMask(
        { pipeline: 'west', from: '2026-11-26T10:00:04Z', to: '2026-11-26T11:00:05+01:00' },
        toNumber,
      ),
      {
        pipeline: 'west',
        from: 3,
        to: 3,
      },
    )
    assert.deepEqual(parseMask({ pipeline: 'west', from: 5, to: '2026-11-26T10:01:00.000Z' }, toNumber), {
      pipeline: 'west',
      from: 5,
      to: 31,
    })
  })

  it('lets `to` be left out: the mask lasts until lifted', () => {
    assert.deepEqual(parseMask({ pipeline: 'east', from: 7 }), { pipeline: 'east', from: 7, to: OPEN_END })
    assert.deepEqual(parseMask({ pipeline: 'east', from: 7, to: null }), {
      pipeline: 'east',
      from: 7,
      to: OPEN_END,
    })
  })

  it('names the bad field', () => {
    badConfig(() => parseMask(null), 'mask', /expected an object/)
    badConfig(() => parseMask([1, 2]), 'mask', /expected an object/)
    badConfig(() => parseMask({ from: 1, to: 2 }), 'pipeline', /pipeline id/)
    badConfig(() => parseMask({ pipeline: 'a b', from: 1, to: 2 }), 'pipeline', /pipeline id/)
    badConfig(() => parseMask({ pipeline: 'east', to: 2 }), 'from', /required/)
    badConfig(() => parseMask({ pipeline: 'east', from: -1, to: 2 }), 'from', /integer/)
    badConfig(() => parseMask({ pipeline: 'east', from: 1.5, to: 2 }), 'from', /integer/)
    badConfig(() => parseMask({ pipeline: 'east', from: 1, to: true }), 'to', /segment number or an ISO-8601/)
    badConfig(() => parseMask({ pipeline: 'east', from: 5, to: 4 }), 'to', /must not be before from \(5\)/)
    badConfig(
      () => parseMask({ pipeline: 'east', from: 'yesterday', to: 4 }, toNumber),
      'from',
      /ISO-8601 date-time/,
    )
    badConfig(
      () => parseMask({ pipeline: 'east', from: '2026-11-26T10:00:00', to: 4 }, toNumber),
      'from',
      /with a zone/,
    )
    badConfig(
      () => parseMask({ pipeline: 'east', from: '2026-11-26T10:00:00Z', to: 4 }),
      'from',
      /segment template/,
    )
    badConfig(
      () => parseMask({ pipeline: 'east', from: '2020-01-01T00:00:00Z', to: 4 }, toNumber),
      'from',
      /before the channel/,
    )
  })
})

describe('isMasked', () => {
  const masks = [
    { pipeline: 'east', from: 10, to: 12 },
    { pipeline: 'east', from: 20, to: 20 },
    { pipeline: 'west', from: 0, to: OPEN_END },
  ]

  it('covers [from, to] inclusive, for that pipeline only', () => {
    const east = [8, 9, 10, 11, 12, 13, 19, 20, 21].map((n) => isMasked(masks, 'east', n))
    assert.deepEqual(east, [false, false, true, true, true, false, false, true, false])
    assert.equal(isMasked(masks, 'west', 123456789), true)
    assert.equal(isMasked(masks, 'north', 11), false)
    assert.equal(isMasked([], 'east', 11), false)
  })
})
