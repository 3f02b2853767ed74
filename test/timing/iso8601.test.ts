import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseIsoDateTime, parseIsoDuration } from '../../src/timing/iso8601.js'

describe('parseIsoDateTime', () => {
  it('reads UTC and offset date-times to epoch ms', () => {
    assert.equal(parseIsoDateTime('2026-11-26T09:11:25.521Z'), Date.UTC(2026, 10, 26, 9, 11, 25, 521))
    assert.equal(parseIsoDateTime('2026-11-26T10:11:25+01:00'), Date.UTC(2026, 10, 26, 9, 11, 25))
    assert.equal(parseIsoDateTime('2026-11-26T04:41:25-0430'), Date.UTC(2026, 10, 26, 9, 11, 25))
    assert.equal(parseIsoDateTime('2026-11-26T09:11:25.5215Z'), Date.UTC(2026, 10, 26, 9, 11, 25, 522))
    assert.equal(parseIsoDateTime('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29))
  })

  it('reads a date-time without a zone as UTC only when asked to', () => {
    assert.equal(parseIsoDateTime('2026-11-26T09:11:25'), undefined)
    assert.equal(
      parseIsoDateTime('2026-11-26T09:11:25', { assumeUtc: true }),
      Date.UTC(2026, 10, 26, 9, 11, 25),
    )
  })

  it('refuses impossible or malformed dates', () => {
    for (const s of [
      '2026-02-29T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T00:60:00Z',
      '2026-01-01T00:00:60Z',
      '2026-01-01',
      '0099-01-01T00:00:00Z',
      '2026-01-01T00:00:00+25:00',
      'soon',
      '',
    ]) {
      assert.equal(parseIsoDateTime(s), undefined, s)
    }
  })
})

describe('parseIsoDuration', () => {
  it('reads days, hours, minutes and fractional seconds', () => {
    assert.equal(parseIsoDuration('PT1H2M3.5S'), 3_723_500)
    assert.equal(parseIsoDuration('PT0.5S'), 500)
    assert.equal(parseIsoDuration('PT30S'), 30_000)
    assert.equal(parseIsoDuration('P1DT2H'), 93_600_000)
    assert.equal(parseIsoDuration('P2D'), 172_800_000)
    assert.equal(parseIsoDuration('PT0S'), 0)
    assert.equal(parseIsoDuration('PT1.0005S'), 1001)
  })

  it('refuses calendar units, negatives and malformed text', () => {
    for (const s of ['P1Y', 'P1M', '-PT1S', 'P', 'PT', 'P1DT', 'PT1H2', '1H', 'PT1.S', '']) {
      assert.equal(parseIsoDuration(s), undefined, s)
    }
  })
})
