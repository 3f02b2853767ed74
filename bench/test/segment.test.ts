import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  boxes,
  forNumber,
  makeMediaFixture,
  padWithFreeBox,
  readDecodeTime,
  readTimescale,
  SEGMENT_BYTES,
} from '../lib/segment.js'

const fixture = makeMediaFixture()

test('the fixture is a real fMP4 segment of exactly 2 MiB, padded with a free box', () => {
  assert.equal(fixture.segment.length, SEGMENT_BYTES)
  assert.ok(fixture.mediaBytes > 100_000, 'mostly real media, not padding')
  const types = boxes(fixture.segment).map((b) => b.type)
  assert.ok(types.includes('moof') && types.includes('mdat'))
  assert.equal(types.at(-1), fixture.mediaBytes === SEGMENT_BYTES ? 'mdat' : 'free')
  assert.equal(readTimescale(fixture.init), fixture.timescale)
  assert.equal(readDecodeTime(fixture.segment), 0n)
})

test('forNumber moves the decode time to (N − S)·D without changing the size', () => {
  const s = forNumber(fixture, 5)
  assert.equal(s.length, fixture.segment.length)
  assert.equal(readDecodeTime(s), BigInt((4 * fixture.durationMs * fixture.timescale) / 1000))
  const s2 = forNumber(fixture, 12, 10)
  assert.equal(readDecodeTime(s2), BigInt((2 * fixture.durationMs * fixture.timescale) / 1000))
  // The original is untouched.
  assert.equal(readDecodeTime(fixture.segment), 0n)
  // Only header fields change: the media bytes are identical.
  const mdat = boxes(s).find((b) => b.type === 'mdat')!
  assert.ok(s.subarray(mdat.start, mdat.end).equals(fixture.segment.subarray(mdat.start, mdat.end)))
})

test('padWithFreeBox refuses impossible sizes', () => {
  const b = Buffer.from([0, 0, 0, 8, 0x66, 0x72, 0x65, 0x65])
  assert.equal(padWithFreeBox(b, 8), b)
  assert.throws(() => padWithFreeBox(b, 12), /cannot be padded/)
  const padded = padWithFreeBox(b, 100)
  assert.equal(padded.length, 100)
  assert.deepEqual(
    boxes(padded).map((x) => [x.type, x.end - x.start]),
    [
      ['free', 8],
      ['free', 92],
    ],
  )
})
