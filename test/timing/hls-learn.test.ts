/**
 * Learning channel timing from HLS playlists (src/timing/hls-learn.ts), on the playlists
 * ffmpeg 5.1 wrote (test/fixtures/make-hls-fixtures.sh): fMP4 and MPEG-TS, with and without
 * EXT-X-PROGRAM-DATE-TIME, one and two variant streams; and refused or odd inputs.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { isLiveOriginError } from '../../src/errors.js'
import {
  differingWord,
  generaliseHlsRecord,
  type HlsLearned,
  nextHlsRecord,
  readPlaylist,
  relearnToleranceMs,
  renditionsOf,
  withRendition,
} from '../../src/timing/hls-learn.js'
import { compilePathMatcher } from '../../src/timing/template.js'

const fixture = (p: string) => readFileSync(new URL(`../fixtures/hls/${p}`, import.meta.url), 'utf8')
const NOW = 1_800_000_000_000

function media(text: string, path: string, now = NOW): HlsLearned {
  const lesson = readPlaylist(text, path, now)
  assert.equal(lesson.kind, 'media')
  if (lesson.kind !== 'media' || 'skipped' in lesson.learned)
    assert.fail(`no timing: ${JSON.stringify(lesson)}`)
  return lesson.learned
}

function skippedWhy(text: string, path = 'index.m3u8'): string {
  const lesson = readPlaylist(text, path, NOW)
  if (lesson.kind !== 'media' || !('skipped' in lesson.learned)) assert.fail('expected no timing')
  return lesson.learned.skipped
}

function refused(text: string, pattern: RegExp): void {
  assert.throws(
    () => readPlaylist(text, 'index.m3u8', NOW),
    (err) =>
      isLiveOriginError(err) &&
      err.code === 'LIVEORIGIN_ERR_BAD_PLAYLIST' &&
      err.status === 400 &&
      pattern.test(err.message),
  )
}

describe('ffmpeg playlists', () => {
  it('fMP4 without dates: D, numbering, templates, init; the newest segment is available on arrival', () => {
    const l = media(fixture('fmp4/index.m3u8'), 'index.m3u8')
    assert.equal(l.segmentDurationMs, 2000)
    assert.equal(l.startNumber, 2)
    assert.equal(l.newest, 4)
    assert.equal(l.media, 'index$Number$.m4s')
    assert.equal(l.initialization, 'init.mp4')
    assert.equal(l.anchor, 'arrival')
    // A(N) = AST + (N − S + 1)·D; A(newest) = arrival.
    assert.equal(l.availabilityStartTime + (4 - 2 + 1) * 2000, NOW)
  })

  it('a playlist in a folder names paths inside that folder', () => {
    const l = media(fixture('ts/index.m3u8'), 'live/hls/index.m3u8')
    assert.equal(l.media, 'live/hls/index$Number$.ts')
    assert.equal(l.initialization, undefined)
  })

  it('EXT-X-PROGRAM-DATE-TIME anchors A(N) = PDT(N) + D, whatever the arrival time', () => {
    for (const dir of ['fmp4-pdt', 'ts-pdt']) {
      const text = fixture(`${dir}/index.m3u8`)
      const pdt4 = Date.parse(
        /#EXT-X-PROGRAM-DATE-TIME:(\S+)\nindex4/.exec(text)![1]!.replace(/\+0000$/, 'Z'),
      )
      const l = media(text, 'index.m3u8')
      const l2 = media(text, 'index.m3u8', NOW + 12_345)
      assert.equal(l.anchor, 'program-date-time')
      assert.equal(l.availabilityStartTime + (4 - 2 + 1) * 2000, pdt4 + 2000, dir)
      assert.equal(l2.availabilityStartTime, l.availabilityStartTime)
    }
  })

  it('-var_stream_map: the multivariant playlist names the renditions; templates get $RepresentationID$', () => {
    const master = readPlaylist(fixture('var-ts/master.m3u8'), 'master.m3u8', NOW)
    assert.deepEqual(master, {
      kind: 'multivariant',
      path: 'master.m3u8',
      variants: ['stream_0/index.m3u8', 'stream_1/index.m3u8'],
    })
    assert.deepEqual(renditionsOf(master.kind === 'multivariant' ? master.variants : []), ['0', '1'])
    const l = media(fixture('var-ts/stream_1/index.m3u8'), 'stream_1/index.m3u8')
    assert.equal(l.media, 'stream_1/data$Number$.ts')
    const rec = nextHlsRecord(undefined, l, '1')!
    assert.equal(rec.media, 'stream_$RepresentationID$/data$Number$.ts')
    const m = compilePathMatcher({ media: rec.media, initialization: 'init.mp4' })
    assert.deepEqual(m.match('stream_0/data17.ts'), { kind: 'media', rendition: '0', number: 17 })
  })

  it('-var_stream_map with named fMP4 renditions: media and init generalised', () => {
    const video = media(fixture('var-fmp4/video.m3u8'), 'video.m3u8')
    const first = nextHlsRecord(undefined, video, undefined)!
    assert.equal(first.media, 'video_$Number$.m4s')
    const g = generaliseHlsRecord(first, ['video.m3u8', 'audio.m3u8'])!
    assert.equal(g.media, '$RepresentationID$_$Number$.m4s')
    assert.equal(g.initialization, 'init_$RepresentationID$.mp4')
    // The audio playlist (EXTINF 2.005333, 1.984, 1.021333) gives the same D and is covered.
    const audio = media(fixture('var-fmp4/audio.m3u8'), 'audio.m3u8', NOW + 30)
    assert.equal(audio.segmentDurationMs, 2000)
    assert.equal(nextHlsRecord(g, audio, 'audio'), undefined)
  })

  it('without a multivariant playlist, a second rendition whose template differs in one word generalises it', () => {
    const s0 = media(fixture('var-ts/stream_0/index.m3u8'), 'stream_0/index.m3u8')
    const s1 = media(fixture('var-ts/stream_1/index.m3u8'), 'stream_1/index.m3u8', NOW + 40)
    const r0 = nextHlsRecord(undefined, s0, undefined)!
    const r1 = nextHlsRecord(r0, s1, undefined)!
    assert.equal(r1.media, 'stream_$RepresentationID$/data$Number$.ts')
    // Both renditions' next playlists change nothing.
    assert.equal(nextHlsRecord(r1, s0, undefined), undefined)
    assert.equal(nextHlsRecord(r1, s1, undefined), undefined)
  })
})

describe('re-learning', () => {
  const base = media(fixture('fmp4/index.m3u8'), 'index.m3u8')
  const first = nextHlsRecord(undefined, base, undefined)!
  const tol = relearnToleranceMs(2000)

  it('the next playlists of a live channel change nothing while A(N) stays within the tolerance', () => {
    assert.equal(tol, 200)
    assert.equal(
      nextHlsRecord(first, media(fixture('fmp4/index.m3u8'), 'index.m3u8', NOW + tol), undefined),
      undefined,
    )
    // One segment later, arriving D later.
    const next = fixture('fmp4/index.m3u8')
      .replace('MEDIA-SEQUENCE:2', 'MEDIA-SEQUENCE:3')
      .replace('index2.m4s', 'index5.m4s')
    const moved = next.replace(/#EXTINF:2.000000,\nindex5.m4s\n/, '')
    const shifted = `${moved.trimEnd()}\n#EXTINF:2.000000,\nindex5.m4s\n`
    assert.equal(nextHlsRecord(first, media(shifted, 'index.m3u8', NOW + 2000 - tol), undefined), undefined)
  })

  it('a drift beyond the tolerance, another D or a lower first number re-writes', () => {
    const late = nextHlsRecord(
      first,
      media(fixture('fmp4/index.m3u8'), 'index.m3u8', NOW + tol + 1),
      undefined,
    )
    assert.equal(late?.availabilityStartTime, first.availabilityStartTime + tol + 1)
    const d3 = fixture('fmp4/index.m3u8').replaceAll('EXTINF:2.000000', 'EXTINF:3.000000')
    assert.equal(nextHlsRecord(first, media(d3, 'index.m3u8'), undefined)?.segmentDurationMs, 3000)
    const lower = fixture('fmp4/index.m3u8')
      .replace('MEDIA-SEQUENCE:2', 'MEDIA-SEQUENCE:1')
      .replace('index2.m4s', 'index1.m4s')
      .replace('index3.m4s', 'index2.m4s')
      .replace('index4.m4s', 'index3.m4s')
    const r = nextHlsRecord(first, media(lower, 'index.m3u8', NOW - 2000), undefined)!
    assert.equal(r.startNumber, 1)
    // A(N) kept: the new S only extends the timeline backwards.
    assert.equal(r.availabilityStartTime + (3 - 1 + 1) * 2000, NOW - 2000)
  })
})

describe('LL-HLS', () => {
  const parts = (text: string) =>
    text
      .replace('#EXT-X-MEDIA-SEQUENCE', '#EXT-X-PART-INF:PART-TARGET=0.540\n#EXT-X-MEDIA-SEQUENCE')
      .replace(/\n*$/, '\n#EXT-X-PART:DURATION=0.520,URI="index5.m4s",BYTERANGE="1000@0",INDEPENDENT=YES\n')

  it('a playlist with parts makes the channel low latency, and it stays so', () => {
    const plain = media(fixture('fmp4/index.m3u8'), 'index.m3u8')
    assert.equal(plain.lowLatency, undefined)
    const ll = media(parts(fixture('fmp4/index.m3u8')), 'index.m3u8')
    assert.equal(ll.lowLatency, true)
    const first = nextHlsRecord(undefined, plain, undefined)!
    assert.equal(first.lowLatency, undefined)
    const low = nextHlsRecord(first, ll, undefined)
    assert.equal(low?.lowLatency, true, 'parts re-write a channel that had none')
    assert.equal(nextHlsRecord(low, ll, undefined), undefined)
    // Another rendition's playlist without parts changes nothing.
    assert.equal(nextHlsRecord(low, plain, undefined), undefined)
    assert.equal(nextHlsRecord(undefined, ll, undefined)?.lowLatency, true)
  })
})

describe('numbering and templates', () => {
  const playlist = (uris: string[], seq = 10, extinf = '2.0') =>
    `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:${seq}\n${uris.map((u) => `#EXTINF:${extinf},\n${u}`).join('\n')}\n`

  it('zero-padded numbers, a constant offset, the last run of digits', () => {
    assert.equal(media(playlist(['seg_010.ts', 'seg_011.ts']), 'a.m3u8').media, 'seg_$Number%03d$.ts')
    const off = media(playlist(['v1/seg-11.ts', 'v1/seg-12.ts']), 'a.m3u8')
    assert.equal(off.media, 'v1/seg-$Number$.ts')
    assert.equal(off.startNumber, 11)
    assert.equal(media(playlist(['../x/1080p/7_10.m4s'], 10), 'a/b.m3u8').media, 'x/1080p/7_$Number$.m4s')
    assert.equal(media(playlist(['index0.m4s'], 0), 'a.m3u8').media, 'index$Number$.m4s')
    assert.equal(media(playlist(['index4.m4s'], 4), 'a.m3u8').media, 'index$Number$.m4s')
    assert.match(skippedWhy(playlist(['index7.m4s'], 0)), /do not carry/)
  })

  it('D is the median EXTINF, a near-round value taken as round', () => {
    assert.equal(media(playlist(['a10.ts', 'a11.ts'], 10, '2.002'), 'a.m3u8').segmentDurationMs, 2000)
    assert.equal(media(playlist(['a10.ts', 'a11.ts'], 10, '1.5'), 'a.m3u8').segmentDurationMs, 1500)
    assert.equal(media(playlist(['a10.ts', 'a11.ts'], 10, '1.234'), 'a.m3u8').segmentDurationMs, 1234)
  })

  it('renditions next to the number (video12.m4s / audio12.m4s)', () => {
    const t = withRendition('video$Number$.m4s', 'video')!
    assert.equal(t, '$RepresentationID$$Number$.m4s')
    const m = compilePathMatcher({ media: t, initialization: 'init-$RepresentationID$.mp4' })
    assert.deepEqual(m.match('video12.m4s'), { kind: 'media', rendition: 'video', number: 12 })
    assert.deepEqual(m.match('audio7.m4s'), { kind: 'media', rendition: 'audio', number: 7 })
    // A rendition id of digits still matches what the template renders for it (found by fuzzing).
    assert.deepEqual(m.match('02.m4s'), { kind: 'media', rendition: '0', number: 2 })
    assert.equal(withRendition('stream_10/data$Number$.ts', '1'), undefined)
    assert.deepEqual(differingWord('720p/index.m3u8', '1080p/index.m3u8'), {
      prefix: '',
      a: '720p',
      b: '1080p',
      suffix: '/index.m3u8',
    })
    assert.equal(differingWord('a/x.m3u8', 'b/y.m3u8'), undefined)
  })

  it('playlists that read but give no timing: stored, channel stays implicit', () => {
    assert.match(skippedWhy(playlist(['a.ts', 'b.ts'])), /do not carry their media sequence numbers/)
    assert.match(skippedWhy(playlist(['a10.ts', 'b11.ts'])), /do not carry/)
    assert.match(skippedWhy(playlist(['http://cdn.example/a10.ts'])), /not a path relative/)
    assert.match(skippedWhy(playlist(['a10.ts?x=1'])), /not a path relative/)
    assert.match(skippedWhy(playlist(['../../a10.ts']), 'index.m3u8'), /not a path relative|media template/)
    assert.match(skippedWhy(`${playlist(['a10.ts'])}#EXT-X-ENDLIST\n`), /complete/)
    assert.match(skippedWhy('#EXTM3U\n#EXT-X-TARGETDURATION:2\n'), /no segment/)
    assert.match(skippedWhy(playlist(['a10.ts'], 10, '0')), /under 1 ms|segmentDurationMs/)
  })
})

describe('refused playlists', () => {
  it('not a playlist, no target duration, bad numbers and dates', () => {
    refused('<MPD/>', /first line is not #EXTM3U/)
    refused('', /first line/)
    refused('#EXTM3U\n#EXTINF:2,\na1.ts\n', /TARGETDURATION/)
    refused('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:x\n', /MEDIA-SEQUENCE/)
    refused(
      '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:2,\na1.ts\n',
      /PROGRAM-DATE-TIME/,
    )
    refused('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n', /has no URI/)
  })

  it('a multivariant playlist with EXT-X-MEDIA renditions and absolute URIs', () => {
    const lesson = readPlaylist(
      '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/en.m3u8"\n' +
        '#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="a"\nhttps://elsewhere/v.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\nvideo/hd.m3u8\n',
      'hls/master.m3u8',
      NOW,
    )
    assert.deepEqual(lesson, {
      kind: 'multivariant',
      path: 'hls/master.m3u8',
      variants: ['hls/audio/en.m3u8', 'hls/video/hd.m3u8'],
    })
  })
})
