/**
 * Repair of cut-off fMP4 segments on the real ffmpeg fixtures: the repaired bytes parse
 * (no `corrupt` from the inspector), decode with ffmpeg without a single error message, keep
 * exactly the samples that arrived whole, and are then `short`.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseInit, summarizeFragment } from '../../src/media/fmp4.js'
import { inspectSegment } from '../../src/media/inspect.js'
import { repairSegment } from '../../src/media/repair.js'
import { box, dashInit, dashSegment, fixture } from '../selection/helpers.js'
import { decodeErrors, probePackets } from './decode.js'

const expect2 = { number: 2, startNumber: 1, segmentDurationMs: 1000 }

function repaired(bytes: Uint8Array, init?: Uint8Array): Buffer {
  const r = repairSegment(bytes, init ? parseInit(init) : undefined)
  if (!r.ok) assert.fail(`not repaired: ${r.reason}`)
  return r.bytes
}

describe('repairSegment', () => {
  it('a video segment cut inside its mdat: decodes cleanly, keeps the whole samples, is short', () => {
    const init = dashInit(0)
    const whole = dashSegment(0, 2)
    const cut = whole.subarray(0, 20_000)
    // The check can fail: ffmpeg complains about the cut copy as it is.
    assert.notEqual(decodeErrors(init, cut), '')
    assert.match(summarizeFragment(cut).corrupt ?? '', /mdat/)

    const fixed = repaired(cut, init)
    assert.equal(decodeErrors(init, fixed), '')
    const summary = summarizeFragment(fixed, { init: parseInit(init) })
    assert.equal(summary.corrupt, undefined)
    // Every sample whose bytes all arrived is kept, and no other.
    const all = probePackets(init, whole)
    const kept = probePackets(init, fixed)
    assert.ok(kept.length > 0 && kept.length < all.length)
    assert.deepEqual(kept, all.slice(0, kept.length))
    // The last kept sample is stretched over the dropped ones: the copy still covers the
    // whole segment on the media timeline (no hole for a player to stall at)...
    assert.equal(summary.tracks[0]!.duration, summarizeFragment(whole).tracks[0]!.duration)
    assert.deepEqual(inspectSegment(summary, parseInit(init), expect2), [])
    // ...and the repair says how much media its stretched sample stands in for.
    const r = repairSegment(cut, parseInit(init))
    assert.ok(r.ok)
    const presentMs = kept.reduce((s, p) => s + p.duration, 0) * 1000
    const timescale = parseInit(init).tracks[0]!.timescale
    assert.equal(r.missing.length, 1)
    assert.ok(
      Math.abs((r.missing[0]!.ticks * 1000) / timescale - (1000 - presentMs)) <= 1,
      JSON.stringify(r.missing),
    )
    assert.ok(fixed.length < cut.length)
  })

  it('an audio segment and a muxed audio+video segment: both tracks trimmed, each decodes', () => {
    const init = dashInit(2)
    const fixed = repaired(dashSegment(2, 3).subarray(0, 3000), init)
    assert.equal(decodeErrors(init, fixed), '')
    assert.equal(summarizeFragment(fixed, { init: parseInit(init) }).corrupt, undefined)

    const muxInit = fixture('mux/init-mux.m4s')
    const mux = fixture('mux/seg-mux-00002.m4s')
    // Cut a little after the second track's data starts, so that both tracks keep samples.
    const secondData =
      box(mux, 'moof').start + new DataView(mux.buffer).getInt32(box(mux, 'trun', 1).start + 16)
    const cutMux = mux.subarray(0, secondData + 600)
    assert.notEqual(decodeErrors(muxInit, cutMux), '')
    const fixedMux = repaired(cutMux, muxInit)
    assert.equal(decodeErrors(muxInit, fixedMux), '')
    const s = summarizeFragment(fixedMux, { init: parseInit(muxInit) })
    assert.equal(s.corrupt, undefined)
    assert.equal(s.tracks.length, 2)
    for (const t of s.tracks) assert.ok(t.sampleCount > 0)
    // Each track still lasts as long as in the whole segment.
    const wholeTracks = summarizeFragment(mux, { init: parseInit(muxInit) }).tracks
    for (const t of s.tracks) {
      assert.equal(t.duration, wholeTracks.find((w) => w.trackId === t.trackId)!.duration)
    }
    const audio = summarizeFragment(fixed, { init: parseInit(init) }).tracks[0]!
    assert.equal(audio.duration, summarizeFragment(dashSegment(2, 3)).tracks[0]!.duration)
  })

  it('a chunked (many moof/mdat) segment cut in a later fragment keeps the whole fragments as they are', () => {
    const init = fixture('chunked/init-ll.m4s')
    const seg = fixture('chunked/seg-ll-00001.m4s')
    const secondMoof = box(seg, 'moof', 1)
    // Cut inside the second moof: the first fragment stays byte for byte.
    const fixed = repaired(seg.subarray(0, secondMoof.start + 40), init)
    assert.deepEqual(new Uint8Array(fixed), seg.subarray(0, secondMoof.start))
    assert.equal(decodeErrors(init, fixed), '')
    // Cut inside the third fragment's mdat.
    const third = box(seg, 'mdat', 2)
    const fixed3 = repaired(seg.subarray(0, third.start + 1500), init)
    assert.equal(decodeErrors(init, fixed3), '')
    assert.equal(summarizeFragment(fixed3, { init: parseInit(init) }).corrupt, undefined)
  })

  it('a whole segment comes back whole, without its sidx', () => {
    const seg = dashSegment(1, 3)
    const r = repairSegment(seg)
    assert.ok(r.ok)
    assert.equal(r.droppedSamples, 0)
    assert.equal(r.bytes.length, seg.length - box(seg, 'sidx').size)
  })

  it('an mdat of size 0 ("to the end of the file") is whole', () => {
    const seg = new Uint8Array(dashSegment(0, 2))
    new DataView(seg.buffer).setUint32(box(seg, 'mdat').start, 0)
    const r = repairSegment(seg)
    assert.ok(r.ok)
    assert.equal(r.droppedSamples, 0)
    assert.deepEqual(new Uint8Array(r.bytes), new Uint8Array([...seg.subarray(0, 24), ...seg.subarray(76)]))
  })

  it('cannot repair: no complete sample, not fMP4, broken boxes', () => {
    const seg = dashSegment(0, 2)
    const mdat = box(seg, 'mdat')
    const none = repairSegment(seg.subarray(0, mdat.start + 20))
    assert.deepEqual(none, { ok: false, reason: 'no complete sample' })
    assert.equal(repairSegment(seg.subarray(0, 100)).ok, false)
    const ts = new Uint8Array(4000).fill(0x47)
    assert.match((repairSegment(ts) as { reason: string }).reason, /not fMP4|size|no complete sample/)
    const broken = new Uint8Array(seg)
    new DataView(broken.buffer).setUint32(box(broken, 'traf').start, 3)
    assert.equal(repairSegment(broken.subarray(0, 20_000)).ok, false)
  })
})
