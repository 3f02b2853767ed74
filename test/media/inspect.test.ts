import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FragmentInspector, parseInit, summarizeFragment } from '../../src/media/fmp4.js'
import { inspectSegment, type SegmentExpectation } from '../../src/media/inspect.js'
import { serializeDefects } from '../../src/selection/defects.js'
import type { Defect, InitInfo } from '../../src/selection/types.js'
import {
  box,
  dashInit,
  dashSegment,
  fixture,
  retype,
  setSampleCount,
  shiftTfdt,
  split,
  view,
} from '../selection/helpers.js'

const D = 1000
const expect = (number: number): SegmentExpectation => ({ number, startNumber: 1, segmentDurationMs: D })
const inits: InitInfo[] = [0, 1, 2].map((r) => parseInit(dashInit(r)))

function inspect(bytes: Uint8Array, init: InitInfo | undefined, number: number): Defect[] {
  return inspectSegment(summarizeFragment(bytes), init, expect(number))
}

function kinds(defects: Defect[]): string[] {
  return defects.map((d) => d.kind)
}

describe('inspectSegment on the ffmpeg fixtures', () => {
  it('finds nothing wrong with any complete segment of any rendition', () => {
    for (const rendition of [0, 1, 2]) {
      for (let n = 1; n <= 6; n++) {
        assert.deepEqual(
          inspect(dashSegment(rendition, n), inits[rendition], n),
          [],
          `rendition ${rendition} segment ${n}`,
        )
      }
    }
  })

  it('finds the last, partial audio segment short (it is: 5 ms of a 1 s segment)', () => {
    assert.deepEqual(inspect(dashSegment(2, 7), inits[2], 7), [
      { kind: 'short', params: { ms: 995, track: 1 }, source: 'origin' },
    ])
  })

  it('finds the muxed segments (B-frames, AAC cut at the video key frame) clean', () => {
    const init = parseInit(fixture('mux/init-mux.m4s'))
    for (let n = 1; n <= 3; n++)
      assert.deepEqual(inspect(fixture(`mux/seg-mux-0000${n}.m4s`), init, n), [], `segment ${n}`)
  })

  it('finds the chunked (CMAF low-latency) segments clean', () => {
    const init = parseInit(fixture('chunked/init-ll.m4s'))
    for (let n = 1; n <= 2; n++)
      assert.deepEqual(inspect(fixture(`chunked/seg-ll-0000${n}.m4s`), init, n), [], `segment ${n}`)
  })

  it('works the same when the segment arrives in small chunks', () => {
    const bytes = dashSegment(0, 3)
    const inspector = new FragmentInspector()
    for (const c of split(bytes, [1, 13, 77, 90, 200, 281, 5000])) inspector.push(c)
    assert.deepEqual(inspectSegment(inspector.finish(), inits[0], expect(4)), inspect(bytes, inits[0], 4))
  })
})

describe('defects the origin finds', () => {
  it('timing-discontinuity: a segment PUT under the wrong number', () => {
    assert.deepEqual(inspect(dashSegment(0, 3), inits[0], 4), [
      { kind: 'timing-discontinuity', params: { ms: -1000, track: 1 }, source: 'origin' },
    ])
    assert.deepEqual(inspect(dashSegment(2, 5), inits[2], 3), [
      { kind: 'timing-discontinuity', params: { ms: 1989, track: 1 }, source: 'origin' },
    ])
  })

  it('timing-discontinuity: judged against the channel start number and time offset', () => {
    const s = summarizeFragment(dashSegment(0, 3))
    assert.deepEqual(inspectSegment(s, inits[0], { number: 102, startNumber: 100, segmentDurationMs: D }), [])
    assert.deepEqual(
      inspectSegment(s, inits[0], { number: 3, startNumber: 1, segmentDurationMs: D, timeOffsetMs: 40 }),
      [],
    )
    assert.deepEqual(
      kinds(
        inspectSegment(s, inits[0], { number: 3, startNumber: 1, segmentDurationMs: D, timeOffsetMs: 500 }),
      ),
      ['timing-discontinuity'],
    )
  })

  it('timing-discontinuity: video tolerates one frame, not two', () => {
    const oneFrame = dashSegment(0, 2)
    shiftTfdt(oneFrame, 512)
    assert.deepEqual(inspect(oneFrame, inits[0], 2), [])
    const twoFrames = dashSegment(0, 2)
    shiftTfdt(twoFrames, 1024)
    assert.deepEqual(inspect(twoFrames, inits[0], 2), [
      { kind: 'timing-discontinuity', params: { ms: 80, track: 1 }, source: 'origin' },
    ])
    // An explicit tolerance of 3 frames lets it through.
    assert.deepEqual(inspectSegment(summarizeFragment(twoFrames), inits[0], expect(2), { frames: 3 }), [])
  })

  it('timing-discontinuity: audio tolerates 100 ms by default (audioMs), then reports', () => {
    const early = dashSegment(2, 4)
    shiftTfdt(early, -48 * 60)
    assert.deepEqual(inspect(early, inits[2], 4), [])
    const late = dashSegment(2, 4)
    shiftTfdt(late, 48 * 150)
    assert.deepEqual(kinds(inspect(late, inits[2], 4)), ['timing-discontinuity'])
    assert.deepEqual(inspectSegment(summarizeFragment(early), inits[2], expect(4), { audioMs: 0 }), [
      { kind: 'timing-discontinuity', params: { ms: -73, track: 1 }, source: 'origin' },
    ])
  })

  it('timing-discontinuity: a gap between the chunks of a low-latency segment', () => {
    const init = parseInit(fixture('chunked/init-ll.m4s'))
    const bytes = fixture('chunked/seg-ll-00002.m4s')
    shiftTfdt(bytes, 2560, 3)
    assert.deepEqual(inspect(bytes, init, 2), [
      { kind: 'timing-discontinuity', params: { ms: 200, track: 1 }, source: 'origin' },
    ])
  })

  it('short: samples dropped from the end of the trun', () => {
    const bytes = dashSegment(0, 4)
    setSampleCount(bytes, 20)
    assert.deepEqual(inspect(bytes, inits[0], 4), [
      { kind: 'short', params: { ms: 200, track: 1 }, source: 'origin' },
    ])
    const oneLess = dashSegment(0, 4)
    setSampleCount(oneLess, 24)
    assert.deepEqual(inspect(oneLess, inits[0], 4), [], 'one frame short is within the tolerance')
  })

  it('corrupt: a truncated upload, and nothing else is judged', () => {
    const bytes = dashSegment(1, 3)
    const defects = inspect(bytes.subarray(0, bytes.length - 1), inits[1], 3)
    assert.equal(defects.length, 1)
    assert.equal(defects[0]!.kind, 'corrupt')
    assert.match(String(defects[0]!.params.reason), /ends inside the mdat box/)
    // It still serialises as a header value.
    assert.match(
      serializeDefects(defects),
      /^corrupt;reason="segment ends inside the mdat box at byte \d+: \d+ of \d+ bytes";origin$/,
    )
  })

  it('slate: the DASH-IF slat brand in styp', () => {
    const bytes = dashSegment(0, 5)
    const styp = box(bytes, 'styp')
    for (let i = 0; i < 4; i++) bytes[styp.start + 20 + i] = 'slat'.charCodeAt(i)
    assert.deepEqual(inspect(bytes, inits[0], 5), [{ kind: 'slate', params: {}, source: 'origin' }])
  })

  it('missing-samples: a track of the init segment absent from the fragment', () => {
    const init = parseInit(fixture('mux/init-mux.m4s'))
    const bytes = fixture('mux/seg-mux-00002.m4s')
    retype(bytes, box(bytes, 'traf', 1), 'free')
    assert.deepEqual(inspect(bytes, init, 2), [
      { kind: 'missing-samples', params: { track: 2 }, source: 'origin' },
    ])
  })

  it('missing-samples: a track with zero samples, with or without the init segment', () => {
    const bytes = dashSegment(2, 2)
    setSampleCount(bytes, 0)
    const expected = [{ kind: 'missing-samples', params: { track: 1 }, source: 'origin' }]
    assert.deepEqual(inspect(bytes, inits[2], 2), expected)
    assert.deepEqual(inspect(bytes, undefined, 2), expected)
  })

  it('corrupt: a fragment track that the init segment does not have', () => {
    const bytes = dashSegment(0, 2)
    view(bytes).setUint32(box(bytes, 'tfhd').start + 12, 9)
    assert.deepEqual(inspect(bytes, inits[0], 2), [
      { kind: 'missing-samples', params: { track: 1 }, source: 'origin' },
      { kind: 'corrupt', params: { reason: 'track 9 is not in the init segment' }, source: 'origin' },
    ])
  })

  it('without an init segment: only what needs no timescale', () => {
    assert.deepEqual(inspect(dashSegment(0, 3), undefined, 4), [], 'timing cannot be judged')
    const slate = dashSegment(0, 3)
    for (let i = 0; i < 4; i++) slate[box(slate, 'styp').start + 8 + i] = 'slat'.charCodeAt(i)
    assert.deepEqual(kinds(inspect(slate, undefined, 3)), ['slate'])
    assert.deepEqual(kinds(inspect(dashSegment(0, 3).subarray(0, 100), undefined, 3)), ['corrupt'])
  })

  it('reports several defects once per kind, the worst track for each', () => {
    const init = parseInit(fixture('mux/init-mux.m4s'))
    const bytes = fixture('mux/seg-mux-00002.m4s')
    shiftTfdt(bytes, 12800, 0)
    shiftTfdt(bytes, 48000 * 3, 1)
    setSampleCount(bytes, 10, 0)
    for (let i = 0; i < 4; i++) bytes[box(bytes, 'styp').start + 8 + i] = 'slat'.charCodeAt(i)
    assert.deepEqual(inspect(bytes, init, 2), [
      { kind: 'slate', params: {}, source: 'origin' },
      { kind: 'timing-discontinuity', params: { ms: 2960, track: 2 }, source: 'origin' },
      { kind: 'short', params: { ms: 600, track: 1 }, source: 'origin' },
    ])
  })
})

describe('impossible durations are corrupt', () => {
  it('a track whose sample durations add up to far more than D', () => {
    const bytes = dashSegment(0, 2)
    // The tfhd's default_sample_duration (flag 0x8, right after track_ID) becomes absurd.
    const tfhd = box(bytes, 'tfhd')
    const v = view(bytes)
    assert.equal(
      v.getUint32(tfhd.start + 8) & 0xb,
      0x8,
      'the fixture has a default duration and no base offset',
    )
    v.setUint32(tfhd.start + 16, 0x7fffffff)
    const defects = inspect(bytes, inits[0], 2)
    const corrupt = defects.find((d) => d.kind === 'corrupt')
    assert.match(String(corrupt?.params.reason), /lasts \d+ ms, more than 4 segment durations/)
    assert.deepEqual(inspect(dashSegment(0, 2), inits[0], 2), [], 'the untouched segment is clean')
  })
})
