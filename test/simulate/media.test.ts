/**
 * The simulator's media: segments built from the fixtures' samples must be what a correct
 * packager sends (the origin's inspector finds nothing wrong, tfdt = (N−S)·D, durations
 * add up to D, video starts on a sync sample), for any number and duration; and its fault
 * rewrites must be found. The boxes are read back with the selection tests' own helpers.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseInit, summarizeFragment } from '../../src/media/fmp4.js'
import { inspectSegment } from '../../src/media/inspect.js'
import { cmafChunks, isSync, readFragment, truncateSegment } from '../../src/simulate/fmp4.js'
import {
  buildMediaSegment,
  loadRenditions,
  segmentStart as segmentStartTicks,
} from '../../src/simulate/media.js'
import { renderMpd } from '../../src/simulate/mpd.js'
import { INIT_TEMPLATE, MEDIA_TEMPLATE } from '../../src/simulate/publisher.js'
import { learnChannelFromMpd } from '../../src/timing/mpd.js'
import { box, boxes, dashSegment, view } from '../selection/helpers.js'

const renditions = loadRenditions()
const S = 1_000_000

function tfdtOf(bytes: Uint8Array): bigint {
  const t = box(bytes, 'tfdt')
  assert.equal(bytes[t.start + 8], 1, 'tfdt version 1')
  return view(bytes).getBigUint64(t.start + 12)
}

function mfhdSequence(bytes: Uint8Array): number {
  return view(bytes).getUint32(box(bytes, 'mfhd').start + 12)
}

describe('simulator media: segments built from the fixtures', () => {
  it('loads three renditions (video 0, 1; audio 2) from assets/sim', () => {
    assert.deepEqual(
      renditions.map((r) => [r.id, r.contentType, r.timescale, r.sampleDuration]),
      [
        ['0', 'video', 12800, 512],
        ['1', 'video', 12800, 512],
        ['2', 'audio', 48000, 1024],
      ],
    )
    // Four 1 s GOPs of 25 frames per video rendition.
    assert.deepEqual(
      renditions[0]!.groups.map((g) => g.length),
      [25, 25, 25, 25],
    )
  })

  it('reads a fixture fragment’s samples: durations, sync flags, data inside the mdat', () => {
    const bytes = dashSegment(0, 2)
    const [track] = readFragment(bytes)
    assert.equal(track!.samples.length, 25)
    assert.ok(track!.samples.every((s) => s.duration === 512))
    assert.ok(isSync(track!.samples[0]!))
    assert.ok(!track!.samples.slice(1).some(isSync))
    const mdat = box(bytes, 'mdat')
    const payload = track!.samples.reduce((n, s) => n + s.data.length, 0)
    assert.equal(payload, mdat.size - 8)
  })

  for (const d of [2000, 1000, 500, 333, 100, 6000]) {
    it(`D = ${d} ms: every rendition's segments pass inspection, tfdt = (N−S)·D, durations sum to D`, () => {
      for (const r of renditions) {
        const init = parseInit(r.initBytes)
        for (const n of [S, S + 1, S + 2, S + 7, S + 1000]) {
          const seg = buildMediaSegment(
            r,
            { number: n, startNumber: S, segmentDurationMs: d },
            { label: 'east' },
          )
          const summary = summarizeFragment(seg, { init })
          assert.equal(summary.corrupt, undefined)
          const defects = inspectSegment(summary, init, { number: n, startNumber: S, segmentDurationMs: d })
          assert.deepEqual(defects, [], `rendition ${r.id} segment ${n}`)
          const ts = r.timescale
          const start = Math.round(((n - S) * d * ts) / 1000)
          const end = Math.round(((n - S + 1) * d * ts) / 1000)
          assert.equal(tfdtOf(seg), BigInt(start))
          assert.equal(summary.tracks[0]!.duration, end - start)
          assert.equal(mfhdSequence(seg), n - S + 1)
          if (r.contentType === 'video') {
            const [track] = readFragment(seg)
            assert.ok(isSync(track!.samples[0]!), 'a video segment starts on a sync sample')
          }
        }
      }
    })
  }

  it('every pipeline gets the same media; only the free-box label differs', () => {
    const r = renditions[0]!
    const timing = { number: S + 3, startNumber: S, segmentDurationMs: 2000 }
    const east = buildMediaSegment(r, timing, { label: 'pipeline east' })
    const west = buildMediaSegment(r, timing, { label: 'pipeline west' })
    assert.notDeepEqual(east, west)
    const payload = (b: Uint8Array) => {
      const m = box(b, 'mdat')
      return b.subarray(m.start, m.start + m.size)
    }
    assert.deepEqual(payload(east), payload(west))
    assert.deepEqual(
      boxes(east)
        .filter((b) => b.start < box(east, 'mdat').start && b.type !== 'free')
        .map((b) => b.type),
      ['styp', 'moof', 'mfhd', 'traf', 'tfhd', 'tfdt', 'trun'],
    )
    assert.match(Buffer.from(east).toString('latin1'), /pipeline east/)
  })

  it('at D = 1 s the media is the fixture’s own: segment N carries GOP N of the source', () => {
    for (const [rendition, n] of [
      [0, 1],
      [1, 3],
    ] as const) {
      const seg = buildMediaSegment(renditions[rendition]!, {
        number: n,
        startNumber: 1,
        segmentDurationMs: 1000,
      })
      const fixture = dashSegment(rendition, n)
      const a = box(seg, 'mdat')
      const b = box(fixture, 'mdat')
      assert.deepEqual(seg.subarray(a.start, a.start + a.size), fixture.subarray(b.start, b.start + b.size))
      assert.equal(tfdtOf(seg), tfdtOf(fixture))
    }
  })

  it('a segment in CMAF chunks: one moof+mdat per chunk, each tfdt where the chunk before it ends, clean to the inspector', () => {
    for (const r of renditions) {
      const timing = { number: S + 5, startNumber: S, segmentDurationMs: 2000 }
      const whole = buildMediaSegment(r, timing, { label: 'east' })
      const seg = buildMediaSegment(r, timing, { label: 'east', chunks: 4 })
      const chunks = cmafChunks(seg)
      assert.equal(chunks.length, 4, r.id)
      assert.deepEqual(Buffer.concat(chunks), Buffer.from(seg))
      const start = BigInt(segmentStartTicks(5, 2000, r.timescale))
      let at = start
      const samples = readFragment(seg).flatMap((t) => t.samples)
      for (const [k, c] of chunks.entries()) {
        assert.equal(tfdtOf(c), at, `${r.id} chunk ${k}`)
        for (const s of readFragment(c).flatMap((t) => t.samples)) at += BigInt(s.duration)
      }
      assert.equal(
        at - start,
        BigInt(segmentStartTicks(6, 2000, r.timescale) - segmentStartTicks(5, 2000, r.timescale)),
      )
      // The same samples as the segment in one fragment.
      assert.deepEqual(
        samples.map((s) => s.data.length),
        readFragment(whole).flatMap((t) => t.samples.map((s) => s.data.length)),
      )
      const init = parseInit(r.initBytes)
      const found = inspectSegment(summarizeFragment(seg, { init }), init, timing)
      assert.deepEqual(found, [], `${r.id}: ${JSON.stringify(found)}`)
    }
  })

  it('fault rewrites are found: tfdt of N+1 → timing-discontinuity; cut off → corrupt', () => {
    for (const r of renditions) {
      const init = parseInit(r.initBytes)
      const timing = { number: S + 5, startNumber: S, segmentDurationMs: 2000 }
      const expect = { number: S + 5, startNumber: S, segmentDurationMs: 2000 }
      const wrong = buildMediaSegment(r, timing, { tfdtNumber: S + 6 })
      const found = inspectSegment(summarizeFragment(wrong, { init }), init, expect)
      assert.deepEqual(
        found.map((f) => f.kind),
        ['timing-discontinuity'],
      )
      const cut = truncateSegment(buildMediaSegment(r, timing))
      const corrupt = inspectSegment(summarizeFragment(cut, { init }), init, expect)
      assert.deepEqual(
        corrupt.map((f) => f.kind),
        ['corrupt'],
      )
      assert.match(String(corrupt[0]!.params.reason), /ends inside the mdat/)
    }
  })

  it('the MPD teaches the origin the channel the simulator creates', () => {
    const ast = Date.parse('2026-11-26T10:00:00.123Z')
    const xml = renderMpd({
      availabilityStartTime: ast,
      publishTime: ast + 10_000,
      segmentDurationMs: 2000,
      startNumber: S,
      media: MEDIA_TEMPLATE,
      initialization: INIT_TEMPLATE,
      timeShiftBufferDepthMs: 4 * 3600_000,
      renditions,
      timeSource: 'http://127.0.0.1:8080/.well-known/time?a=1&b=2',
    })
    const learned = learnChannelFromMpd(xml, { path: 'manifest.mpd' })
    assert.equal(learned.type, 'dynamic')
    assert.equal(learned.availabilityStartTime, ast)
    assert.equal(learned.segmentDurationMs, 2000)
    assert.equal(learned.startNumber, S)
    assert.equal(learned.media, MEDIA_TEMPLATE)
    assert.equal(learned.initialization, INIT_TEMPLATE)
    assert.equal(learned.dvrWindowMs, 4 * 3600_000)
    assert.match(xml, /<Representation id="2" mimeType="audio\/mp4" codecs="mp4a.40.2"/)
    // The players' clock: UTCTiming after the Period (its place in the MPD schema).
    assert.match(
      xml,
      /<\/Period>\n {2}<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="http:\/\/127\.0\.0\.1:8080\/\.well-known\/time\?a=1&amp;b=2"\/>\n<\/MPD>/,
    )
    const plain = {
      availabilityStartTime: ast,
      publishTime: ast,
      segmentDurationMs: 2000,
      startNumber: S,
      media: MEDIA_TEMPLATE,
      initialization: INIT_TEMPLATE,
      timeShiftBufferDepthMs: 0,
      renditions,
    }
    assert.doesNotMatch(renderMpd(plain), /UTCTiming/)
    // Players are told to keep the presentation delay the origin's timing needs: R + 2·D,
    // with the default R = 2·D (8 s) or the channel's own.
    assert.match(xml, / suggestedPresentationDelay="PT8\.000S"/)
    const lateAllowed = renderMpd({ ...plain, lateAllowanceMs: 5000 })
    assert.match(lateAllowed, / suggestedPresentationDelay="PT9\.000S"/)
  })

  it('ffmpeg decodes init + consecutive segments of every rendition without an error', (t) => {
    const probe = spawnSync('ffmpeg', ['-version'])
    if (probe.status !== 0) {
      t.skip('ffmpeg is not installed')
      return
    }
    const dir = mkdtempSync(join(tmpdir(), 'liveorigin-sim-'))
    try {
      for (const r of renditions) {
        const parts = [r.initBytes]
        for (let n = S; n < S + 6; n++) {
          parts.push(
            buildMediaSegment(r, { number: n, startNumber: S, segmentDurationMs: 2000 }, { label: 'x' }),
          )
        }
        const file = join(dir, `r${r.id}.mp4`)
        writeFileSync(file, Buffer.concat(parts))
        const run = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], { encoding: 'utf8' })
        assert.equal(run.status, 0, run.stderr)
        assert.equal(run.stderr.trim(), '', `rendition ${r.id}: ${run.stderr}`)
        const dur = spawnSync(
          'ffprobe',
          ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file],
          { encoding: 'utf8' },
        )
        assert.ok(Math.abs(Number(dur.stdout) - 12) < 0.05, `rendition ${r.id} lasts ${dur.stdout}`)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
