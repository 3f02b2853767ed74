/**
 * The candidate log (src/objects/candidate-log.ts): records merge to the same candidates in
 * any order, so that no late append (a refill, a retried write-through) undoes a newer one;
 * announced commits stay pending until confirmed; a damaged log is no log; `reconcile` says
 * what a log lacks after a storage listing.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  encodeRecord,
  encodeRecords,
  type LogRecord,
  parseLog,
  reconcile,
} from '../../src/objects/candidate-log.js'
import type { ObjectMeta } from '../../src/storage/types.js'

const NOW = 1_000_000

function meta(
  pipeline: string,
  token: string,
  committedAt = NOW - 100,
  expiresAt = NOW + 60_000,
): ObjectMeta {
  return {
    channel: 'ch',
    path: 'v/7.m4s',
    pipeline,
    token,
    size: 10,
    chunkSize: 1024,
    chunks: 1,
    etag: `"${token}"`,
    contentType: 'video/mp4',
    committedAt,
    expiresAt,
    defects: '',
  }
}

const tokens = (records: readonly LogRecord[]) =>
  parseLog(encodeRecords(records), NOW)
    ?.copies.map((m) => m.token)
    .sort()

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]]
  return items.flatMap((x, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [x, ...rest]),
  )
}

describe('candidate log', () => {
  it('lists one copy per pipeline, the newest, whatever order the records arrived in', () => {
    const records: LogRecord[] = [
      { c: meta('east', 'e1', NOW - 500) },
      { c: meta('east', 'e2', NOW - 200) },
      { c: meta('west', 'w1') },
      { c: meta('north', 'n1') },
      { c: meta('east', 'e1', NOW - 500) },
    ]
    for (const order of permutations(records)) assert.deepEqual(tokens(order), ['e2', 'n1', 'w1'])
  })

  it('a copy reported gone leaves its pipeline without it, in any order', () => {
    const records: LogRecord[] = [{ c: meta('east', 'e1') }, { c: meta('west', 'w1') }, { r: ['e1'] }]
    for (const order of permutations(records)) assert.deepEqual(tokens(order), ['w1'])
    // A replaced copy reported gone with its replacement: the pipeline has none left.
    const replaced: LogRecord[] = [
      { c: meta('east', 'e1', NOW - 500) },
      { c: meta('east', 'e2', NOW - 200) },
      { r: ['e1', 'e2'] },
    ]
    assert.deepEqual(tokens(replaced), [])
    // A new copy after a removal is listed.
    assert.deepEqual(tokens([...replaced, { c: meta('east', 'e3', NOW - 50) }]), ['e3'])
  })

  it('announced commits are pending until confirmed; expired copies are not listed', () => {
    const log = parseLog(
      encodeRecords([
        { p: { pipeline: 'east', token: 'e1', at: NOW - 10 } },
        { p: { pipeline: 'west', token: 'w1', at: NOW - 10 } },
        { c: meta('west', 'w1') },
        { c: meta('north', 'n1', NOW - 100, NOW - 1) },
      ]),
      NOW,
    )
    assert.ok(log)
    assert.deepEqual(log.pending, [{ pipeline: 'east', token: 'e1', at: NOW - 10 }])
    assert.deepEqual(
      log.copies.map((m) => m.token),
      ['w1'],
    )
  })

  it('a record it does not know makes the whole log unreadable', () => {
    const good = encodeRecord({ c: meta('east', 'e1') })
    assert.ok(parseLog(good, NOW))
    assert.equal(parseLog(Buffer.concat([good, Buffer.from('{"c":{"pipeline":"x"}}\n')]), NOW), undefined)
    assert.equal(parseLog(Buffer.concat([good, Buffer.from('not json\n')]), NOW), undefined)
    assert.equal(parseLog(Buffer.from('[1]\n'), NOW), undefined)
  })

  it('reconcile: the copies storage has that the log lacks, and those it confirms that storage lost', () => {
    const e1 = meta('east', 'e1')
    const w1 = meta('west', 'w1')
    const n1 = meta('north', 'n1')
    assert.deepEqual(reconcile(undefined, [e1, w1]), [{ c: e1 }, { c: w1 }])
    const log = parseLog(
      encodeRecords([{ c: e1 }, { c: n1 }, { p: { pipeline: 'west', token: 'w1', at: NOW - 900 } }]),
      NOW,
    )
    // west's commit landed but was never confirmed; north's copy was removed meanwhile.
    const records = reconcile(log, [e1, w1])
    assert.deepEqual(records, [{ c: w1 }, { r: ['n1'] }])
    assert.deepEqual(
      parseLog(Buffer.concat([encodeRecords([{ c: e1 }, { c: n1 }]), encodeRecords(records)]), NOW)
        ?.copies.map((m) => m.token)
        .sort(),
      ['e1', 'w1'],
    )
    assert.deepEqual(reconcile(parseLog(encodeRecords([{ c: e1 }]), NOW), [e1]), [])
  })
})
