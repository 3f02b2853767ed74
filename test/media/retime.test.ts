/**
 * Re-timing an earlier segment into a filler for segment N, on the real ffmpeg fixtures:
 * ffprobe decodes init + filler without errors, and every track's `tfdt` becomes
 * (N−S)·D in its timescale (the source's offset from (M−S)·D kept).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseInit, summarizeFragment } from '../../src/media/fmp4.js'
import { inspectSegment } from '../../src/media/inspect.js'
import { moveSegment, retimeSegment } from '../../src/media/retime.js'
import { box, dashInit, dashSegment, fixture, view } from '../selection/helpers.js'
import { decodeErrors, probePackets } from './decode.js'

const D = 1000

function retimed(bytes: Uint8Array, init: Uint8Array, segments: number): Buffer {
  const r = retimeSegment(bytes, parseInit(init), { segments, segmentDurationMs: D })
  if (!r.ok) assert.fail(r.reason)
  return r.bytes
}

describe('retimeSegment', () => {
  it('video segment 2 as filler for segment 5: tfdt = (N−S)·D, sidx and mfhd follow, ffprobe decodes it', () => {
    const init = dashInit(0)
    const timescale = parseInit(init).tracks[0]!.timescale
    const source = dashSegment(0, 2)
    // The fixture sits where segment 2 belongs: (2−1)·D.
    assert.equal(summarizeFragment(source).tracks[0]!.baseMediaDecodeTime, ((2 - 1) * D * timescale) / 1000)
    const filler = retimed(source, init, 5 - 2)
    assert.equal(filler.length, source.length)
    assert.equal(summarizeFragment(filler).tracks[0]!.baseMediaDecodeTime, ((5 - 1) * D * timescale) / 1000)
    const sidx = box(filler, 'sidx')
    const sidxScale = view(filler).getUint32(sidx.start + 16)
    const ept = (b: Uint8Array) =>
      b[sidx.start + 8] === 1
        ? Number(view(b).getBigUint64(sidx.start + 20))
        : view(b).getUint32(sidx.start + 20)
    assert.equal(ept(filler) - ept(source), 3 * sidxScale)
    const seq = (b: Uint8Array) => view(b).getUint32(box(b, 'mfhd').start + 12)
    assert.equal(seq(filler), seq(source) + 3)

    assert.equal(decodeErrors(init, filler), '')
    const before = probePackets(init, source)
    const after = probePackets(init, filler)
    assert.equal(after.length, before.length)
    assert.ok(Math.abs(after[0]!.dts - before[0]!.dts - 3) < 1e-6, `${after[0]!.dts} vs ${before[0]!.dts}`)
    // Played after the source, the filler continues the timeline without errors.
    assert.equal(decodeErrors(init, source, retimed(source, init, 1)), '')
  })

  it('audio and muxed segments: every track moves by the same (N−M)·D', () => {
    const audioInit = dashInit(2)
    const audio = dashSegment(2, 3)
    const filler = retimed(audio, audioInit, 4)
    assert.equal(decodeErrors(audioInit, filler), '')
    const scale = parseInit(audioInit).tracks[0]!.timescale
    assert.equal(
      summarizeFragment(filler).tracks[0]!.baseMediaDecodeTime! -
        summarizeFragment(audio).tracks[0]!.baseMediaDecodeTime!,
      4 * scale,
    )
    const muxInit = fixture('mux/init-mux.m4s')
    const mux = fixture('mux/seg-mux-00002.m4s')
    const info = parseInit(muxInit)
    const moved = retimed(mux, muxInit, 2)
    assert.equal(decodeErrors(muxInit, moved), '')
    const a = summarizeFragment(mux).tracks
    const b = summarizeFragment(moved).tracks
    for (const [i, t] of b.entries()) {
      const ts = info.tracks.find((x) => x.trackId === t.trackId)!.timescale
      assert.equal(t.baseMediaDecodeTime! - a[i]!.baseMediaDecodeTime!, 2 * ts)
    }
  })

  it('a chunked segment: every moof moves, sequence numbers keep increasing', () => {
    const init = fixture('chunked/init-ll.m4s')
    const seg = fixture('chunked/seg-ll-00001.m4s')
    const moved = retimed(seg, init, 1)
    assert.equal(decodeErrors(init, seg, moved), '')
    const fragments = summarizeFragment(moved).tracks[0]!.fragments
    const original = summarizeFragment(seg).tracks[0]!.fragments
    const ts = parseInit(init).tracks[0]!.timescale
    assert.equal(fragments.length, original.length)
    for (const [i, f] of fragments.entries())
      assert.equal(f.baseMediaDecodeTime! - original[i]!.baseMediaDecodeTime!, ts)
  })

  it('refuses what it cannot place: unknown track, not fMP4', () => {
    const other = parseInit(dashInit(2))
    const r = retimeSegment(
      dashSegment(0, 2),
      { brands: other.brands, tracks: [{ ...other.tracks[0]!, trackId: 9 }] },
      {
        segments: 1,
        segmentDurationMs: D,
      },
    )
    assert.deepEqual(r, { ok: false, reason: 'track 1 is not in the init segment' })
    assert.equal(
      retimeSegment(new Uint8Array(200).fill(0x47), other, { segments: 1, segmentDurationMs: D }).ok,
      false,
    )
  })
})

describe('moveSegment', () => {
  const target = (number: number) => ({ number, startNumber: 1, segmentDurationMs: D })
  /** Each track's presentation start in its timescale, as inspectSegment computes it. */
  const starts = (bytes: Uint8Array, init: Uint8Array) => {
    const info = parseInit(init)
    return summarizeFragment(bytes).tracks.map((t) => {
      const track = info.tracks.find((x) => x.trackId === t.trackId)!
      const f = t.fragments[0]!
      return {
        start: f.baseMediaDecodeTime! + f.firstCompositionOffset - track.mediaTime,
        timescale: track.timescale,
      }
    })
  }
  const timing = (bytes: Uint8Array, init: Uint8Array, n: number) =>
    inspectSegment(summarizeFragment(bytes, { init: parseInit(init) }), parseInit(init), target(n)).filter(
      (d) => d.kind === 'timing-discontinuity',
    )

  for (const [name, rendition, at, to] of [
    ['video copy of segment 4 timed as segment 2 (ms=-2000)', 0, 2, 4],
    ['audio copy of segment 3 timed as segment 5 (ms=2000)', 2, 5, 3],
  ] as const) {
    it(`${name}: moved to tfdt (N−S)·D, decodes with ffprobe`, () => {
      const init = dashInit(rendition)
      const copy = dashSegment(rendition, at)
      const ms = Number(timing(copy, init, to)[0]!.params.ms)
      assert.ok(Math.abs(ms - (at - to) * D) < 100, `ms=${ms}`)
      const r = moveSegment(copy, parseInit(init), target(to))
      if (!r.ok) assert.fail(r.reason)
      assert.equal(r.bytes.length, copy.length)
      for (const t of starts(r.bytes, init)) assert.equal(t.start, ((to - 1) * D * t.timescale) / 1000)
      assert.deepEqual(timing(r.bytes, init, to), [])
      // mfhd sequence numbers are kept.
      assert.equal(
        view(r.bytes).getUint32(box(r.bytes, 'mfhd').start + 12),
        view(copy).getUint32(box(copy, 'mfhd').start + 12),
      )
      assert.equal(decodeErrors(init, r.bytes), '')
      const packets = probePackets(init, r.bytes)
      assert.ok(Math.abs(packets[0]!.dts - probePackets(init, copy)[0]!.dts + ms / 1000) < 0.05)
      // Played after the segment before it, the timeline has no hole.
      assert.equal(decodeErrors(init, dashSegment(rendition, to - 1), r.bytes), '')
    })
  }

  it('a muxed copy: every track moves by its own offset to (N−S)·D', () => {
    const init = fixture('mux/init-mux.m4s')
    const info = parseInit(init)
    const copy = fixture('mux/seg-mux-00002.m4s')
    // One segment late, every track with its own small offset from (N−S)·D as encoded.
    const late = retimeSegment(copy, info, { segments: 1, segmentDurationMs: D })
    if (!late.ok) assert.fail(late.reason)
    const r = moveSegment(late.bytes, info, target(2))
    if (!r.ok) assert.fail(r.reason)
    assert.notDeepEqual(starts(copy, init), starts(r.bytes, init))
    for (const t of starts(r.bytes, init)) assert.equal(t.start, ((2 - 1) * D * t.timescale) / 1000)
    assert.deepEqual(timing(r.bytes, init, 2), [])
    assert.equal(decodeErrors(init, r.bytes), '')
  })

  it('refuses a copy that does not parse', () => {
    assert.equal(moveSegment(new Uint8Array(200).fill(0x47), parseInit(dashInit(0)), target(2)).ok, false)
  })
})
