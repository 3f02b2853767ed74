/**
 * The simulator's HLS playlists: a media playlist is what the origin's own HLS parser reads
 * as a live fMP4 playlist (target duration, media sequence = the first segment number, a
 * sliding window ending at the last segment published, program date time of the first
 * entry = AST + (N−S)·D), its URIs are the channel's template paths, and the multivariant
 * playlist names every video rendition with its codecs, bandwidth and resolution and the
 * audio rendition as a group.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  HLS_WINDOW_SEGMENTS,
  MULTIVARIANT_PATH,
  mediaPlaylistName,
  renderMediaPlaylist,
  renderMultivariantPlaylist,
} from '../../src/simulate/hls.js'
import { loadRenditions } from '../../src/simulate/media.js'
import { INIT_TEMPLATE, initPath, MEDIA_TEMPLATE, segmentPath } from '../../src/simulate/publisher.js'
import { parseMediaPlaylist } from '../../src/timing/hls.js'
import { compilePathMatcher } from '../../src/timing/template.js'

const renditions = loadRenditions()
const AST = Date.UTC(2026, 10, 26, 9, 55, 12, 212)
const S = 897_843_456

function playlist(lastNumber: number, segmentDurationMs = 2000, windowSegments?: number): string {
  return renderMediaPlaylist({
    availabilityStartTime: AST,
    segmentDurationMs,
    startNumber: S,
    lastNumber,
    segmentPath: (n) => segmentPath('0', n),
    initPath: initPath('0'),
    ...(windowSegments === undefined ? {} : { windowSegments }),
  })
}

function tag(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}:`))
    .map((l) => l.slice(name.length + 1))
}

describe('simulator HLS media playlist', () => {
  it('is a live fMP4 playlist the origin parses: window ending at the last number, MSN = segment number', () => {
    const last = S + 25
    const text = playlist(last)
    const parsed = parseMediaPlaylist(text)
    assert.equal(parsed.targetDurationMs, 2000)
    assert.equal(parsed.endList, false)
    assert.equal(parsed.lastMsn, last)
    assert.equal(parsed.mediaSequence, last - HLS_WINDOW_SEGMENTS + 1)
    assert.equal(parsed.segments.length, HLS_WINDOW_SEGMENTS)
    for (const seg of parsed.segments) {
      assert.equal(seg.uri, segmentPath('0', seg.msn))
      assert.equal(seg.durationMs, 2000)
    }
    assert.deepEqual(tag(text, '#EXT-X-VERSION'), ['7'])
    assert.deepEqual(tag(text, '#EXT-X-MAP'), ['URI="init-0.m4s"'])
  })

  it('dates its first entry AST + (N−S)·D', () => {
    const text = playlist(S + 25)
    const first = S + 25 - HLS_WINDOW_SEGMENTS + 1
    assert.deepEqual(tag(text, '#EXT-X-PROGRAM-DATE-TIME'), [
      new Date(AST + (first - S) * 2000).toISOString(),
    ])
  })

  it('starts at S while fewer than a window of segments exist', () => {
    const parsed = parseMediaPlaylist(playlist(S + 2))
    assert.equal(parsed.mediaSequence, S)
    assert.deepEqual(
      parsed.segments.map((s) => s.msn),
      [S, S + 1, S + 2],
    )
    assert.deepEqual(tag(playlist(S), '#EXT-X-PROGRAM-DATE-TIME'), [new Date(AST).toISOString()])
  })

  it('rounds the target duration up to whole seconds and keeps EXTINF to the millisecond', () => {
    const text = playlist(S + 4, 1500, 3)
    assert.deepEqual(tag(text, '#EXT-X-TARGETDURATION'), ['2'])
    assert.deepEqual(tag(text, '#EXTINF'), ['1.500,', '1.500,', '1.500,'])
    assert.equal(parseMediaPlaylist(text).mediaSequence, S + 2)
  })

  it('lists paths the channel classifies as media segments of their number, and is itself a manifest', () => {
    const matcher = compilePathMatcher({ media: MEDIA_TEMPLATE, initialization: INIT_TEMPLATE })
    for (const seg of parseMediaPlaylist(playlist(S + 12)).segments) {
      assert.deepEqual(matcher.match(seg.uri), { kind: 'media', rendition: '0', number: seg.msn })
    }
    assert.equal(matcher.match(initPath('0')).kind, 'init')
    for (const name of [MULTIVARIANT_PATH, ...renditions.map((r) => mediaPlaylistName(r.id))]) {
      assert.deepEqual(matcher.match(name), { kind: 'manifest', format: 'hls' })
    }
  })
})

describe('simulator HLS multivariant playlist', () => {
  const text = renderMultivariantPlaylist(renditions)
  const lines = text.split('\n')

  it('names each video rendition, highest bandwidth first, with video + audio codecs and bandwidth', () => {
    const audio = renditions.find((r) => r.contentType === 'audio')!
    const video = renditions
      .filter((r) => r.contentType === 'video')
      .sort((a, b) => b.bandwidth - a.bandwidth)
    const inf = lines.flatMap((l, i) => (l.startsWith('#EXT-X-STREAM-INF:') ? [[l, lines[i + 1]]] : []))
    assert.equal(inf.length, video.length)
    inf.forEach(([l, uri], i) => {
      const v = video[i]!
      assert.equal(uri, mediaPlaylistName(v.id))
      assert.match(l!, new RegExp(`BANDWIDTH=${v.bandwidth + audio.bandwidth},`))
      assert.match(l!, new RegExp(`CODECS="${v.codecs},${audio.codecs}"`))
      assert.match(l!, new RegExp(`RESOLUTION=${v.width}x${v.height}`))
      assert.match(l!, /FRAME-RATE=25\.000/)
      assert.match(l!, /AUDIO="audio"/)
    })
  })

  it('gives the audio rendition as the default of the group the variants name', () => {
    const media = tag(text, '#EXT-X-MEDIA')
    assert.equal(media.length, 1)
    assert.match(media[0]!, /TYPE=AUDIO,GROUP-ID="audio"/)
    assert.match(media[0]!, /DEFAULT=YES/)
    assert.match(media[0]!, /URI="media-2\.m3u8"/)
  })

  it('is not a media playlist for the origin (no media sequence to block on)', () => {
    assert.throws(() => parseMediaPlaylist(text), /multivariant/)
  })

  it('refuses renditions without video', () => {
    assert.throws(
      () => renderMultivariantPlaylist(renditions.filter((r) => r.contentType === 'audio')),
      /needs a video rendition/,
    )
  })
})
