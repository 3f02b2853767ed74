import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { errors, LiveOriginError } from '../../src/errors.js'
import {
  advancePartLimit,
  blockingRequestTooFarAhead,
  blockingTimeoutMs,
  parseBlockingRequest,
  parseMediaPlaylist,
  playlistSatisfies,
} from '../../src/timing/hls.js'

/** Shaped like Apple's LL-HLS example: 4 s segments, ~1/3 s parts, segment 273 in progress. */
const LL = `#EXTM3U
#EXT-X-TARGETDURATION:4
#EXT-X-VERSION:6
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0,CAN-SKIP-UNTIL=12.0
#EXT-X-PART-INF:PART-TARGET=0.33334
#EXT-X-MEDIA-SEQUENCE:266
#EXT-X-PROGRAM-DATE-TIME:2019-02-14T02:13:36.106Z
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.00008,
fileSequence266.mp4
#EXTINF:4.00008,
fileSequence267.mp4
#EXTINF:4.00008,
fileSequence268.mp4
#EXTINF:4.00008,
fileSequence269.mp4
#EXTINF:4.00008,
fileSequence270.mp4
#EXT-X-PART:DURATION=0.33334,URI="filePart271.0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33334,URI="filePart271.1.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.2.mp4"
#EXTINF:1.00002,
fileSequence271.mp4
#EXT-X-PART:DURATION=0.33334,URI="filePart272.a.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.b.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.c.mp4"
#EXTINF:1.00002,
fileSequence272.mp4
#EXT-X-PART:DURATION=0.33334,URI="filePart273.0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33334,URI="filePart273.1.mp4"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="filePart273.2.mp4"
#EXT-X-RENDITION-REPORT:URI="../1M/waitForMSN.php",LAST-MSN=273,LAST-PART=2
`

const PLAIN =
  '#EXTM3U\r\n#EXT-X-TARGETDURATION:6\r\n#EXT-X-MEDIA-SEQUENCE:10\r\n#EXTINF:6.0,\r\na.ts\r\n#EXTINF:5.5,\r\nb.ts\r\n'

function q(s: string): URLSearchParams {
  return new URLSearchParams(s)
}

function status(fn: () => unknown): { code: string; status: number } | undefined {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof LiveOriginError, String(err))
    return { code: err.code, status: err.status }
  }
  return undefined
}

describe('parseBlockingRequest', () => {
  it('reads the delivery directives', () => {
    assert.equal(parseBlockingRequest(q('')), undefined)
    assert.equal(parseBlockingRequest(q('_HLS_skip=YES')), undefined)
    assert.deepEqual(parseBlockingRequest(q('_HLS_msn=273')), { msn: 273 })
    assert.deepEqual(parseBlockingRequest(q('_HLS_msn=273&_HLS_part=2')), { msn: 273, part: 2 })
    assert.deepEqual(parseBlockingRequest(q('_HLS_part=0&_HLS_msn=0&_HLS_skip=v2')), { msn: 0, part: 0 })
  })

  it('answers 400 for malformed values, repeats, and _HLS_part without _HLS_msn', () => {
    const bad = { code: errors.badQuery.code, status: 400 }
    for (const s of [
      '_HLS_part=1',
      '_HLS_msn=abc',
      '_HLS_msn=-1',
      '_HLS_msn=1.5',
      '_HLS_msn=',
      '_HLS_msn=0x10',
      '_HLS_msn=1e3',
      '_HLS_msn=1234567890123456',
      '_HLS_msn=1&_HLS_part=x',
      '_HLS_msn=1&_HLS_msn=2',
      '_HLS_msn=1&_HLS_part=1&_HLS_part=2',
    ]) {
      assert.deepEqual(
        status(() => parseBlockingRequest(q(s))),
        bad,
        s,
      )
    }
  })
})

describe('parseMediaPlaylist', () => {
  it('reads sequence numbers, segments, parts and server control', () => {
    const p = parseMediaPlaylist(LL)
    assert.equal(p.targetDurationMs, 4000)
    assert.equal(p.mediaSequence, 266)
    assert.equal(p.segments.length, 7)
    assert.equal(p.lastMsn, 272)
    assert.deepEqual(
      p.segments.map((s) => [s.msn, s.uri, s.parts.length]),
      [
        [266, 'fileSequence266.mp4', 0],
        [267, 'fileSequence267.mp4', 0],
        [268, 'fileSequence268.mp4', 0],
        [269, 'fileSequence269.mp4', 0],
        [270, 'fileSequence270.mp4', 0],
        [271, 'fileSequence271.mp4', 3],
        [272, 'fileSequence272.mp4', 3],
      ],
    )
    assert.equal(p.segments[0]?.durationMs, 4000)
    assert.deepEqual(p.segments[5]?.parts[0], {
      uri: 'filePart271.0.mp4',
      durationMs: 333,
      independent: true,
    })
    assert.deepEqual(
      p.trailingParts.map((x) => x.uri),
      ['filePart273.0.mp4', 'filePart273.1.mp4'],
    )
    assert.equal(p.partTargetMs, 333)
    assert.deepEqual(p.serverControl, {
      canBlockReload: true,
      canSkipDateRanges: false,
      canSkipUntilMs: 12_000,
      partHoldBackMs: 1000,
    })
    assert.equal(p.endList, false)
  })

  it('reads a plain playlist with CRLF line ends', () => {
    const p = parseMediaPlaylist(PLAIN)
    assert.equal(p.lastMsn, 11)
    assert.equal(p.targetDurationMs, 6000)
    assert.deepEqual(p.trailingParts, [])
    assert.equal(p.partTargetMs, undefined)
    assert.equal(p.serverControl.canBlockReload, false)
  })

  it('counts skipped segments of a delta update and sees EXT-X-ENDLIST', () => {
    const p = parseMediaPlaylist(
      '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:100\n#EXT-X-SKIP:SKIPPED-SEGMENTS=20\n#EXTINF:2,\nx.m4s\n#EXT-X-ENDLIST\n',
    )
    assert.equal(p.segments[0]?.msn, 120)
    assert.equal(p.lastMsn, 120)
    assert.equal(p.endList, true)
  })

  it('knows an empty playlist has no last segment yet', () => {
    const p = parseMediaPlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n')
    assert.equal(p.lastMsn, 4)
    assert.equal(playlistSatisfies(p, 5), false)
    assert.equal(playlistSatisfies(p, 4), true)
  })

  it('refuses what is not a media playlist', () => {
    const bad = { code: errors.badRequest.code, status: 400 }
    assert.deepEqual(
      status(() => parseMediaPlaylist('hello')),
      bad,
    )
    assert.deepEqual(
      status(() => parseMediaPlaylist('#EXTM3U\n#EXTINF:2,\na.ts\n')),
      bad,
    )
    assert.deepEqual(
      status(() => parseMediaPlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:2.5\n')),
      bad,
    )
    assert.deepEqual(
      status(() =>
        parseMediaPlaylist('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n#EXT-X-TARGETDURATION:2\n'),
      ),
      bad,
    )
    assert.deepEqual(
      status(() => parseMediaPlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:x\n')),
      bad,
    )
  })
})

describe('playlistSatisfies (RFC 8216bis §6.2.5.2)', () => {
  const p = parseMediaPlaylist(LL)

  it('_HLS_msn alone: segment msn or a later one is in the playlist', () => {
    assert.equal(playlistSatisfies(p, 272), true)
    assert.equal(playlistSatisfies(p, 266), true)
    assert.equal(playlistSatisfies(p, 100), true, 'a segment that slid out is satisfied by later ones')
    assert.equal(playlistSatisfies(p, 273), false, 'the segment in progress is not complete')
    assert.equal(playlistSatisfies(p, 274), false)
  })

  it('with _HLS_part: that part of msn, or anything later', () => {
    assert.equal(playlistSatisfies(p, 273, 0), true)
    assert.equal(playlistSatisfies(p, 273, 1), true)
    assert.equal(playlistSatisfies(p, 273, 2), false, 'only hinted, not yet listed')
    assert.equal(playlistSatisfies(p, 274, 0), false)
    assert.equal(playlistSatisfies(p, 272, 2), true)
    assert.equal(playlistSatisfies(p, 271, 9), true, 'segment 272 is later')
    assert.equal(playlistSatisfies(p, 268, 0), true, 'parts no longer listed, segment complete')
  })

  it('a part index past the last part of msn means part 0 of msn + 1', () => {
    // Segment 272 has parts 0-2; part 3 of it is part 0 of 273, which is listed.
    assert.equal(playlistSatisfies(p, 272, 3), true)
    const noTrailing = parseMediaPlaylist(LL.replace(/#EXT-X-PART:[^\n]*filePart273[^\n]*\n/g, ''))
    assert.equal(noTrailing.trailingParts.length, 0)
    assert.equal(playlistSatisfies(noTrailing, 272, 2), true)
    assert.equal(playlistSatisfies(noTrailing, 272, 3), false)
    assert.equal(playlistSatisfies(noTrailing, 273, 0), false)
  })

  it('EXT-X-ENDLIST satisfies every request', () => {
    const ended = parseMediaPlaylist(`${LL}#EXT-X-ENDLIST\n`)
    assert.equal(playlistSatisfies(ended, 999), true)
    assert.equal(playlistSatisfies(ended, 999, 5), true)
  })
})

describe('blockingRequestTooFarAhead', () => {
  const p = parseMediaPlaylist(LL)

  it('refuses an msn more than two past the last segment', () => {
    assert.equal(blockingRequestTooFarAhead(p, 273), false)
    assert.equal(blockingRequestTooFarAhead(p, 274), false)
    assert.equal(blockingRequestTooFarAhead(p, 275), true)
    assert.equal(blockingRequestTooFarAhead(parseMediaPlaylist(PLAIN), 13), false)
    assert.equal(blockingRequestTooFarAhead(parseMediaPlaylist(PLAIN), 14), true)
  })

  it('refuses a part beyond the Advance Part Limit', () => {
    // PART-TARGET 0.333 s: limit = 3 / 0.333 ≈ 9 parts past part 273.1.
    assert.ok(Math.abs(advancePartLimit(p) - 9.009) < 0.01)
    assert.equal(blockingRequestTooFarAhead(p, 273, 10), false)
    assert.equal(blockingRequestTooFarAhead(p, 273, 11), true)
    assert.equal(blockingRequestTooFarAhead(p, 274, 8), false)
    assert.equal(blockingRequestTooFarAhead(p, 274, 9), true)
    assert.equal(blockingRequestTooFarAhead(p, 270, 50), false, 'old segments are never too far ahead')
  })

  it('uses a limit of 3 parts when PART-TARGET is a second or more', () => {
    const slow = parseMediaPlaylist(LL.replace('PART-TARGET=0.33334', 'PART-TARGET=1.0'))
    assert.equal(advancePartLimit(slow), 3)
    assert.equal(blockingRequestTooFarAhead(slow, 273, 4), false)
    assert.equal(blockingRequestTooFarAhead(slow, 273, 5), true)
  })

  it('never refuses once the playlist has ended', () => {
    assert.equal(blockingRequestTooFarAhead(parseMediaPlaylist(`${LL}#EXT-X-ENDLIST\n`), 9999), false)
  })
})

describe('blockingTimeoutMs', () => {
  it('is three target durations', () => {
    assert.equal(blockingTimeoutMs(parseMediaPlaylist(LL)), 12_000)
    assert.equal(blockingTimeoutMs(parseMediaPlaylist(PLAIN)), 18_000)
  })
})
