/**
 * Re-timing an earlier segment into a filler for segment N, on the real ffmpeg fixtures:
 * ffprobe decodes init + filler without errors, and every track's `tfdt` becomes
 * (N−S)·D in its timescale (the source's offset from (M−S)·D kept).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { retimeSegment } from '../../src/media/retime.js'
import { parseInit, summarizeFragment } from '../../src/selection/fmp4.js'
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
