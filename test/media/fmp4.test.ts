import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Fmp4Error, FragmentInspector, parseInit, summarizeFragment } from '../../src/media/fmp4.js'
import type { FragmentSummary } from '../../src/selection/types.js'
import {
  box,
  concat,
  dashInit,
  dashSegment,
  fixture,
  mkbox,
  retype,
  setSampleCount,
  split,
  u32s,
  view,
} from '../selection/helpers.js'

function inspectChunks(chunks: Uint8Array[]): FragmentSummary {
  const inspector = new FragmentInspector()
  for (const c of chunks) inspector.push(c)
  return inspector.finish()
}

describe('parseInit', () => {
  it('reads the video init segment ffmpeg wrote', () => {
    assert.deepEqual(parseInit(dashInit(0)), {
      brands: ['iso5', 'iso6', 'mp41'],
      tracks: [
        {
          trackId: 1,
          handler: 'vide',
          timescale: 12800,
          mediaTime: 0,
          defaultSampleDuration: 0,
          defaultSampleSize: 0,
        },
      ],
    })
  })

  it('reads the audio init segment with its AAC priming edit', () => {
    const [t] = parseInit(dashInit(2)).tracks
    assert.deepEqual(t, {
      trackId: 1,
      handler: 'soun',
      timescale: 48000,
      mediaTime: 1024,
      defaultSampleDuration: 0,
      defaultSampleSize: 0,
    })
  })

  it('reads both tracks of a muxed init segment, skipping empty edits', () => {
    const info = parseInit(fixture('mux/init-mux.m4s'))
    assert.deepEqual(
      info.tracks.map((t) => [t.trackId, t.handler, t.timescale, t.mediaTime]),
      [
        [1, 'vide', 12800, 1024],
        [2, 'soun', 48000, 0],
      ],
    )
  })

  it('reads trex defaults', () => {
    const bytes = dashInit(1)
    const trex = box(bytes, 'trex')
    view(bytes).setUint32(trex.start + 20, 512)
    view(bytes).setUint32(trex.start + 24, 900)
    const [t] = parseInit(bytes).tracks
    assert.equal(t!.defaultSampleDuration, 512)
    assert.equal(t!.defaultSampleSize, 900)
  })

  it('refuses what is not an init segment', () => {
    assert.throws(
      () => parseInit(dashSegment(0, 1)),
      (e: unknown) => e instanceof Fmp4Error && /no moov/.test(e.message),
    )
    assert.throws(
      () => parseInit(dashInit(0).subarray(0, 400)),
      /moov box in init segment claims 799 bytes but only 372 remain/,
    )
    const noHdlr = dashInit(0)
    retype(noHdlr, box(noHdlr, 'hdlr'), 'free')
    assert.throws(() => parseInit(noHdlr), /track 1 has no mdia\/hdlr/)
    const zero = dashInit(0)
    view(zero).setUint32(box(zero, 'mdhd').start + 20, 0)
    assert.throws(() => parseInit(zero), /timescale 0/)
    const tiny = dashInit(0)
    view(tiny).setUint32(box(tiny, 'tkhd').start, 4)
    assert.throws(() => parseInit(tiny), /impossible size 4/)
  })
})

describe('FragmentInspector', () => {
  it('summarises a real video segment', () => {
    const s = summarizeFragment(dashSegment(0, 3))
    assert.equal(s.corrupt, undefined)
    assert.deepEqual(s.brands, ['msdh', 'msix'])
    assert.equal(s.fragments, 1)
    assert.equal(s.bytes, 41443)
    assert.deepEqual(s.tracks, [
      {
        trackId: 1,
        baseMediaDecodeTime: 25600,
        sampleCount: 25,
        duration: 12800,
        samplesWithoutDuration: 0,
        sampleDuration: 512,
        fragments: [
          {
            baseMediaDecodeTime: 25600,
            firstCompositionOffset: 0,
            sampleCount: 25,
            duration: 12800,
            samplesWithoutDuration: 0,
          },
        ],
      },
    ])
  })

  it('sums per-sample durations and reads composition offsets (muxed, B-frames)', () => {
    const s = summarizeFragment(fixture('mux/seg-mux-00003.m4s'))
    assert.equal(s.corrupt, undefined)
    assert.deepEqual(
      s.tracks.map((t) => [
        t.trackId,
        t.baseMediaDecodeTime,
        t.fragments[0]!.firstCompositionOffset,
        t.sampleCount,
        t.duration,
      ]),
      [
        [1, 25600, 1024, 25, 12800],
        [2, 93184, 0, 51, 51840],
      ],
    )
  })

  it('says where the last complete CMAF chunk ends while a chunked segment streams in', () => {
    const segment = fixture('chunked/seg-ll-00002.m4s')
    // Where each top-level mdat ends.
    const ends: number[] = []
    for (let at = 0; at < segment.length; ) {
      const size = new DataView(segment.buffer, segment.byteOffset + at, 4).getUint32(0)
      if (String.fromCharCode(...segment.subarray(at + 4, at + 8)) === 'mdat') ends.push(at + size)
      at += size
    }
    assert.ok(ends.length > 2, 'the fixture has several chunks')
    const inspector = new FragmentInspector()
    let seen = 0
    for (let at = 0; at < segment.length; at += 333) {
      inspector.push(segment.subarray(at, Math.min(segment.length, at + 333)))
      const fed = Math.min(segment.length, at + 333)
      const expected = ends.filter((e) => e <= fed).at(-1) ?? 0
      assert.equal(inspector.chunkEnd, expected, `after ${fed} bytes`)
      if (expected > 0) seen++
      assert.equal(inspector.problem, undefined)
    }
    assert.ok(seen > 0)
    assert.equal(inspector.chunkEnd, segment.length)
    // A moof whose samples the mdat after it cannot hold: nothing is complete any more.
    const broken = new FragmentInspector()
    broken.push(segment.subarray(0, ends[0]!))
    assert.equal(broken.chunkEnd, ends[0])
    const bad = Buffer.from(segment.subarray(ends[0]!, ends[1]!))
    bad.writeUInt32BE(0xfffff, bad.indexOf('trun') + 8)
    broken.push(bad)
    assert.match(String(broken.problem), /samples/)
    assert.equal(broken.chunkEnd, 0)
  })

  it('adds up every moof of a chunked (low-latency) segment', () => {
    const s = summarizeFragment(fixture('chunked/seg-ll-00002.m4s'))
    assert.equal(s.corrupt, undefined)
    assert.equal(s.fragments, 5)
    const [t] = s.tracks
    assert.equal(t!.sampleCount, 25)
    assert.equal(t!.duration, 12800)
    assert.deepEqual(
      t!.fragments.map((f) => f.baseMediaDecodeTime),
      [12800, 15360, 17920, 20480, 23040],
    )
  })

  it('gives the same summary however the upload is split into chunks', () => {
    for (const bytes of [
      dashSegment(2, 4),
      fixture('chunked/seg-ll-00001.m4s').subarray(0, 4000),
      fixture('mux/seg-mux-00001.m4s'),
    ]) {
      const whole = summarizeFragment(bytes)
      // Every single cut point, then one byte at a time.
      for (let at = 0; at <= bytes.length; at += bytes.length > 9000 ? 7 : 1) {
        assert.deepEqual(inspectChunks(split(bytes, [at])), whole, `split at ${at}`)
      }
      assert.deepEqual(inspectChunks(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))), whole)
      // Cuts inside every box header and on both sides of every box boundary.
      const cuts: number[] = []
      for (const b of [box(bytes, 'moof'), box(bytes, 'mdat'), box(bytes, 'traf'), box(bytes, 'trun')]) {
        for (let d = -1; d <= 9; d++) cuts.push(b.start + d)
      }
      const sorted = [...new Set(cuts)].filter((c) => c >= 0 && c <= bytes.length).sort((a, b) => a - b)
      assert.deepEqual(inspectChunks(split(bytes, sorted)), whole)
    }
  })

  it('never keeps media data: memory does not grow with the mdat', () => {
    // A 64 MiB mdat after a real moof, pushed in 1 MiB pieces without allocating them all.
    const seg = dashSegment(0, 1)
    const mdat = box(seg, 'mdat')
    const head = seg.subarray(0, mdat.start + 8)
    const big = 64 * 1024 * 1024
    const header = concat(head)
    view(header).setUint32(mdat.start, big + 8)
    const inspector = new FragmentInspector()
    inspector.push(header)
    const piece = new Uint8Array(1024 * 1024)
    const before = process.memoryUsage().arrayBuffers
    for (let i = 0; i < 64; i++) inspector.push(piece)
    const after = process.memoryUsage().arrayBuffers
    const s = inspector.finish()
    assert.equal(s.corrupt, undefined)
    assert.equal(s.bytes, header.length + big)
    assert.ok(after - before < 8 * 1024 * 1024, `grew ${after - before} bytes`)
  })

  it('accepts a 64-bit size and an mdat that runs to the end (size 0)', () => {
    const seg = dashSegment(1, 2)
    const mdat = box(seg, 'mdat')
    const trun = box(seg, 'trun')
    // Rewrite the mdat header as a 16-byte one; its data moves 8 bytes, so does data_offset.
    const large = concat(
      seg.subarray(0, mdat.start),
      u32s(1, 0x6d646174, 0, mdat.size + 8),
      seg.subarray(mdat.start + 8),
    )
    view(large).setInt32(trun.start + 16, view(seg).getInt32(trun.start + 16) + 8)
    const s = summarizeFragment(large)
    assert.equal(s.corrupt, undefined)
    assert.equal(s.tracks[0]!.sampleCount, 25)

    const toEnd = concat(seg)
    view(toEnd).setUint32(mdat.start, 0)
    assert.equal(summarizeFragment(toEnd).corrupt, undefined)
    assert.equal(inspectChunks(split(toEnd, [mdat.start + 3, mdat.start + 100])).corrupt, undefined)
  })

  it('reports a segment that ends inside a box', () => {
    const seg = dashSegment(0, 2)
    const cut = summarizeFragment(seg.subarray(0, seg.length - 1000))
    assert.match(cut.corrupt!, /^segment ends inside the mdat box at byte 280: 38951 of 39951 bytes$/)
    assert.equal(cut.tracks[0]!.sampleCount, 25, 'what parsed is still reported')
    assert.match(summarizeFragment(seg.subarray(0, 150)).corrupt!, /ends inside the moof box at byte 76/)
    assert.match(summarizeFragment(seg.subarray(0, 80)).corrupt!, /ends inside a box header at byte 76/)
    assert.match(
      inspectChunks(split(seg.subarray(0, 150), [77, 100])).corrupt!,
      /ends inside the moof box at byte 76/,
    )
  })

  it('reports impossible box sizes and bytes that are not boxes', () => {
    const small = dashSegment(0, 2)
    view(small).setUint32(box(small, 'sidx').start, 7)
    assert.match(summarizeFragment(small).corrupt!, /sidx box at byte 24 has an impossible size 7/)

    const child = dashSegment(0, 2)
    view(child).setUint32(box(child, 'trun').start, 4000)
    assert.match(summarizeFragment(child).corrupt!, /trun box in traf claims 4000 bytes/)

    const large = dashSegment(0, 2)
    view(large).setUint32(box(large, 'sidx').start, 1)
    view(large).setBigUint64(box(large, 'sidx').start + 8, 12n)
    assert.match(summarizeFragment(large).corrupt!, /impossible 64-bit size/)

    assert.match(
      summarizeFragment(new Uint8Array([0x47, 0x40, 0x11, 0x10, 0, 0x42, 0xf0, 0x25])).corrupt!,
      /not an ISO BMFF box/,
    )
    assert.match(summarizeFragment(new Uint8Array(0)).corrupt!, /no moof box/)
  })

  it('reports a trun whose samples do not fit in it', () => {
    const seg = dashSegment(0, 4)
    setSampleCount(seg, 26)
    assert.match(summarizeFragment(seg).corrupt!, /trun box of 124 bytes cannot hold 26 samples of 4 bytes/)
  })

  it('reports a broken moof/mdat structure', () => {
    const seg = dashSegment(2, 3)
    const mdat = box(seg, 'mdat')
    assert.match(
      summarizeFragment(seg.subarray(0, mdat.start)).corrupt!,
      /moof at byte 76 is not followed by an mdat/,
    )

    const moof = box(seg, 'moof')
    const noMoof = concat(seg.subarray(0, moof.start), seg.subarray(mdat.start))
    assert.match(summarizeFragment(noMoof).corrupt!, /mdat at byte 76 has no moof before it/)

    const twoMoofs = concat(seg.subarray(0, mdat.start), seg.subarray(moof.start))
    assert.match(summarizeFragment(twoMoofs).corrupt!, /moof at byte 76 is not followed by an mdat/)

    const noTraf = dashSegment(2, 3)
    retype(noTraf, box(noTraf, 'traf'), 'free')
    assert.match(summarizeFragment(noTraf).corrupt!, /moof has no traf/)

    const noTfhd = dashSegment(2, 3)
    retype(noTfhd, box(noTfhd, 'tfhd'), 'free')
    assert.match(summarizeFragment(noTfhd).corrupt!, /traf has no tfhd/)
  })

  it('reports sample data that points outside the mdat', () => {
    const seg = dashSegment(2, 3)
    const trun = box(seg, 'trun')
    view(seg).setInt32(trun.start + 16, view(seg).getInt32(trun.start + 16) + 100)
    assert.match(
      summarizeFragment(seg).corrupt!,
      /track 1 sample data \(bytes .*\) lies outside the mdat payload/,
    )

    // An mdat shorter than the samples the trun lists (sizes are per sample in the fixture).
    const short = dashSegment(2, 3)
    const mdat = box(short, 'mdat')
    const cut = concat(short.subarray(0, mdat.start + mdat.size - 50))
    view(cut).setUint32(mdat.start, mdat.size - 50)
    assert.match(summarizeFragment(cut).corrupt!, /lies outside the mdat payload/)
  })

  it('reads tfdt v0, durations from trex, and samples with no known duration', () => {
    // A synthetic fragment: tfhd without defaults, trun without per-sample durations or sizes.
    const tfhd = mkbox('tfhd', u32s(0x020000, 7))
    const tfdt = mkbox('tfdt', u32s(0, 90000))
    const trun = mkbox('trun', u32s(0x000001, 30, 0))
    const traf = mkbox('traf', tfhd, tfdt, trun)
    const moof = mkbox('moof', mkbox('mfhd', u32s(0, 1)), traf)
    view(moof).setInt32(moof.length - 4, moof.length + 8)
    const seg = concat(moof, mkbox('mdat', new Uint8Array(300)))
    const blind = summarizeFragment(seg)
    assert.equal(blind.corrupt, undefined)
    assert.deepEqual(
      [
        blind.tracks[0]!.baseMediaDecodeTime,
        blind.tracks[0]!.duration,
        blind.tracks[0]!.samplesWithoutDuration,
      ],
      [90000, 0, 30],
    )
    const init = {
      brands: [],
      tracks: [
        {
          trackId: 7,
          handler: 'vide',
          timescale: 90000,
          mediaTime: 0,
          defaultSampleDuration: 3000,
          defaultSampleSize: 10,
        },
      ],
    }
    const known = summarizeFragment(seg, { init })
    assert.deepEqual(
      [known.tracks[0]!.duration, known.tracks[0]!.samplesWithoutDuration, known.tracks[0]!.sampleDuration],
      [90000, 0, 3000],
    )
    // trex says 10 bytes a sample: 30 fill the 300-byte mdat exactly, and overflow a 299-byte one.
    assert.equal(known.corrupt, undefined)
    const tooSmall = concat(moof, mkbox('mdat', new Uint8Array(299)))
    assert.match(summarizeFragment(tooSmall, { init }).corrupt!, /lies outside the mdat payload/)
  })

  it('leaves sample data unchecked where its position is not the segment’s to say', () => {
    const mfhd = mkbox('mfhd', u32s(0, 1))
    const mdat = mkbox('mdat', new Uint8Array(10))
    // No data_offset on the first trun: strictly the data would start at the moof itself.
    const noOffset = mkbox(
      'moof',
      mfhd,
      mkbox('traf', mkbox('tfhd', u32s(0x020010, 1, 100)), mkbox('trun', u32s(0, 3))),
    )
    assert.equal(summarizeFragment(concat(noOffset, mdat)).corrupt, undefined)
    // An explicit base_data_offset counts from the start of a whole file, not of this segment.
    const explicit = mkbox(
      'moof',
      mfhd,
      mkbox('traf', mkbox('tfhd', u32s(0x000011, 1, 0, 5_000_000, 100)), mkbox('trun', u32s(1, 3, 0))),
    )
    assert.equal(summarizeFragment(concat(explicit, mdat)).corrupt, undefined)
    // The same trun with a moof-relative data_offset is checked: 300 bytes do not fit in 10.
    const relative = mkbox(
      'moof',
      mfhd,
      mkbox('traf', mkbox('tfhd', u32s(0x020010, 1, 100)), mkbox('trun', u32s(1, 3, 0))),
    )
    view(relative).setInt32(relative.length - 4, relative.length + 8)
    assert.match(summarizeFragment(concat(relative, mdat)).corrupt!, /lies outside the mdat payload/)
  })

  it('refuses a moof larger than the limit without buffering it', () => {
    const seg = dashSegment(0, 5)
    assert.match(
      summarizeFragment(seg, { maxMoofBytes: 100 }).corrupt!,
      /moof box at byte 76 is 204 bytes \(limit 100\)/,
    )
  })

  it('keeps counting after an error and refuses pushes after finish', () => {
    const inspector = new FragmentInspector()
    inspector.push(new Uint8Array([0, 0, 0, 3, 0x66, 0x72, 0x65, 0x65]))
    inspector.push(new Uint8Array(100))
    const s = inspector.finish()
    assert.equal(s.bytes, 108)
    assert.match(s.corrupt!, /impossible size 3/)
    assert.equal(inspector.finish(), s)
    assert.throws(() => inspector.push(new Uint8Array(1)), /after finish/)
  })
})

/** moof(mfhd, traf(tfhd default-base-is-moof [+ default size], tfdt, trun)) + mdat, sample data at the mdat payload. */
function craftedSegment(opts: {
  samples: number
  mdatBytes: number
  defaultSize?: number
  durations?: number[]
}): Uint8Array {
  const tfhd =
    opts.defaultSize === undefined
      ? mkbox('tfhd', u32s(0x020000, 1))
      : mkbox('tfhd', u32s(0x020010, 1, opts.defaultSize))
  const tfdt = mkbox('tfdt', u32s(0, 0))
  const perSample = opts.durations ?? []
  const trunFlags = 0x1 | (perSample.length > 0 ? 0x100 : 0)
  const trunFor = (dataOffset: number) =>
    mkbox('trun', u32s(trunFlags, opts.samples, dataOffset, ...perSample))
  const moofFor = (dataOffset: number) =>
    mkbox('moof', mkbox('mfhd', u32s(0, 1)), mkbox('traf', tfhd, tfdt, trunFor(dataOffset)))
  const moofSize = moofFor(0).length
  return concat(moofFor(moofSize + 8), mkbox('mdat', new Uint8Array(opts.mdatBytes)))
}

describe('impossible trun values are corrupt', () => {
  it('a trun claiming 2^32−1 samples over 10 bytes of mdat', () => {
    const s = summarizeFragment(craftedSegment({ samples: 0xffffffff, mdatBytes: 10 }))
    assert.match(s.corrupt ?? '', /claims 4294967295 samples but the mdat after it holds 10 bytes/)
  })

  it('sample sizes (from the tfhd default) summing past the mdat', () => {
    const s = summarizeFragment(craftedSegment({ samples: 4, defaultSize: 100, mdatBytes: 300 }))
    assert.match(s.corrupt ?? '', /lies outside the mdat payload/)
  })

  it('sample sizes from the init segment trex defaults summing past the mdat', () => {
    const init = {
      brands: [],
      tracks: [
        {
          trackId: 1,
          handler: 'vide',
          timescale: 1000,
          mediaTime: 0,
          defaultSampleDuration: 40,
          defaultSampleSize: 1000,
        },
      ],
    }
    const bytes = craftedSegment({ samples: 25, mdatBytes: 2000 })
    assert.equal(summarizeFragment(bytes).corrupt, undefined, 'without the init the sizes are unknown')
    assert.match(summarizeFragment(bytes, { init }).corrupt ?? '', /lies outside the mdat payload/)
  })

  it('a plausible crafted segment stays clean', () => {
    const s = summarizeFragment(craftedSegment({ samples: 25, defaultSize: 40, mdatBytes: 1000 }))
    assert.equal(s.corrupt, undefined)
    assert.equal(s.tracks[0]?.sampleCount, 25)
  })
})
