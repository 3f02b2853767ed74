/**
 * The peer book (src/peers/book.ts), without sockets: liveness judged on this node's clock
 * from changes of a peer's heartbeat, whatever the peer's clock says; a failed peer skipped
 * until its next heartbeat; the clock offset from the round trip with the shortest duration.
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { type HeartbeatRecord, heartbeatOf, PeerBook } from '../../src/peers/book.js'

const record = (id: string, at: number, ttlMs = 5000): HeartbeatRecord => ({
  id,
  url: `http://${id}:8082`,
  startedAt: 0,
  at,
  expiresAt: at + ttlMs,
  offsets: {},
})
const ids = (book: PeerBook, now: number) => book.targets(now).map((p) => p.record.id)

it('a peer is live while its heartbeat changes, on this node’s clock; itself and expired records are not peers', () => {
  const book = new PeerBook('self', { ttlMs: 5000, maxClockOffsetMs: 250 })
  // "far" writes with a clock an hour ahead: still live as long as its record changes.
  const far = 1_000_000 + 3600_000
  book.update(
    [record('self', 1_000_000), record('b', 1_000_000), record('far', far), record('old', 900_000)],
    1_000_000,
  )
  assert.deepEqual(ids(book, 1_000_000).sort(), ['b', 'far'])
  // b keeps beating, far stops: far leaves 5 s (ttlMs) after this node last saw it change.
  book.update([record('b', 1_004_000), record('far', far)], 1_004_000)
  assert.deepEqual(book.update([record('b', 1_005_500), record('far', far)], 1_005_500), ['far'])
  assert.deepEqual(ids(book, 1_005_500), ['b'])
  // Gone from the listing (deleted on shutdown): gone at once.
  assert.deepEqual(book.update([], 1_005_600), ['b'])
  assert.equal(book.size, 0)
})

it('a failed peer is skipped until its heartbeat record changes', () => {
  const book = new PeerBook('self', { ttlMs: 5000, maxClockOffsetMs: 250 })
  book.update([record('b', 100), record('c', 100)], 100)
  book.failed('b')
  assert.deepEqual(ids(book, 150), ['c'])
  book.update([record('b', 100), record('c', 200)], 200)
  assert.deepEqual(ids(book, 200), ['c'], 'the same record: still skipped')
  book.update([record('b', 300), record('c', 300)], 300)
  assert.deepEqual(ids(book, 300).sort(), ['b', 'c'])
})

it('the clock offset comes from the shortest round trip of the last 8, and alarms beyond the bound', () => {
  const book = new PeerBook('self', { ttlMs: 5000, maxClockOffsetMs: 250 })
  book.update([record('b', 0)], 0)
  // Peer 300 ms ahead. A slow round trip (answered late, clock read early) skews the estimate...
  assert.equal(book.sample('b', 1000, 1200, 1300), 200)
  // ...a quick one is trusted over it.
  assert.equal(book.sample('b', 2000, 2002, 2301), 300)
  assert.equal(book.sample('b', 3000, 3050, 3400), 300)
  assert.ok(book.alarming(book.offset('b')))
  assert.equal(book.alarming(-250), false)
  assert.ok(book.alarming(-251))
  // The quick sample ages out after 8 more.
  for (let i = 0; i < 8; i++) book.sample('b', 10_000 + i * 100, 10_010 + i * 100, 10_005 + i * 100 + 100)
  assert.equal(book.offset('b'), 100)
  assert.deepEqual(book.offsets(), { b: 100 })
  const [view] = book.view(10)
  assert.equal(view!.clockOffsetMs, 100)
  assert.equal(view!.rttMs, 10)
  assert.equal(view!.clockAlarm, false)
  assert.equal(book.sample('unknown', 0, 1, 0), undefined)
})

it('listed values that are not heartbeat records are ignored', () => {
  assert.equal(heartbeatOf(null), undefined)
  assert.equal(heartbeatOf({ ...record('b', 1), url: 'javascript:alert(1)' }), undefined)
  assert.equal(heartbeatOf({ ...record('b', 1), at: '1' }), undefined)
  assert.equal(heartbeatOf({ ...record('b c', 1) }), undefined)
  assert.deepEqual(heartbeatOf({ ...record('b', 1), offsets: { c: 5, 'bad id': 1, d: 'x' } })?.offsets, {
    c: 5,
  })
})
