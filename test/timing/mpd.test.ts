import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { errors, LiveOriginError } from '../../src/errors.js'
import { mergeChannelConfig } from '../../src/timing/channel-config.js'
import { learnChannelFromMpd } from '../../src/timing/mpd.js'
import { availabilityAt, liveEdge } from '../../src/timing/schedule.js'
import { compilePathMatcher } from '../../src/timing/template.js'

const dir = fileURLToPath(new URL('../fixtures/dash/', import.meta.url))
const liveMpd = readFileSync(`${dir}manifest-live.mpd`, 'utf8')
const staticMpd = readFileSync(`${dir}manifest.mpd`, 'utf8')

function badRequest(fn: () => unknown, why: RegExp): void {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof LiveOriginError, String(err))
    assert.equal(err.code, errors.badRequest.code)
    assert.equal(err.status, 400)
    assert.match(err.message, why)
    return
  }
  assert.fail(`expected a 400 matching ${why}`)
}

/** A dynamic MPD around the given Period body. */
function mpd(period: string, attrs = '', mpdExtra = ''): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" availabilityStartTime="2026-01-01T00:00:00Z" ${attrs}>
  ${mpdExtra}
  <Period id="p0" start="PT0S">${period}</Period>
</MPD>`
}
const AST = Date.UTC(2026, 0, 1)

describe('learnChannelFromMpd: the ffmpeg fixtures', () => {
  it('learns the live (dynamic) MPD', () => {
    const learned = learnChannelFromMpd(liveMpd)
    assert.deepEqual(learned, {
      type: 'dynamic',
      availabilityStartTime: Date.parse('2026-11-26T09:11:25.521Z'),
      segmentDurationMs: 1000,
      startNumber: 1,
      media: 'seg-$RepresentationID$-$Number%05d$.m4s',
      initialization: 'init-$RepresentationID$.m4s',
      warnings: [],
    })
  })

  it('refuses the static MPD: it has no availabilityStartTime, so no timing', () => {
    badRequest(() => learnChannelFromMpd(staticMpd), /static MPD has no MPD@availabilityStartTime/)
  })

  it('yields a template that recognises every real segment file name', () => {
    const cfg = mergeChannelConfig(learnChannelFromMpd(liveMpd), undefined)
    const m = compilePathMatcher(cfg)
    assert.deepEqual(m.match('seg-0-00003.m4s'), { kind: 'media', rendition: '0', number: 3 })
    assert.deepEqual(m.match('init-2.m4s'), { kind: 'init', rendition: '2' })
    const files = readdirSync(dir)
    let media = 0
    for (const f of files) {
      const r = m.match(f)
      if (f.startsWith('seg-')) {
        media++
        assert.equal(r.kind, 'media', f)
        assert.ok(r.kind === 'media' && Number.isSafeInteger(r.number) && r.number >= cfg.startNumber, f)
      } else if (f.startsWith('init-')) assert.equal(r.kind, 'init', f)
      else assert.deepEqual(r, { kind: 'manifest', format: 'dash' }, f)
    }
    assert.ok(media >= 18)
  })

  it('puts segment 3 of the fixture 3 s after AST, as ffmpeg wrote it', () => {
    const cfg = mergeChannelConfig(learnChannelFromMpd(liveMpd), undefined)
    const ast = Date.parse('2026-11-26T09:11:25.521Z')
    assert.equal(availabilityAt(cfg, 3), ast + 3000)
    // The MPD was copied at publishTime, when ffmpeg had written segment 3.
    assert.equal(liveEdge(cfg, Date.parse('2026-11-26T09:11:28.520Z')), 2)
    assert.equal(liveEdge(cfg, Date.parse('2026-11-26T09:11:28.521Z')), 3)
  })
})

describe('learnChannelFromMpd: SegmentTemplate placement and inheritance', () => {
  it('reads a template at AdaptationSet level, with @timescale', () => {
    const l = learnChannelFromMpd(
      mpd(`<AdaptationSet contentType="video">
        <SegmentTemplate timescale="90000" duration="180000" startNumber="100"
          media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.mp4"/>
        <Representation id="v1" bandwidth="1"/><Representation id="v2" bandwidth="2"/>
      </AdaptationSet>`),
    )
    assert.equal(l.segmentDurationMs, 2000)
    assert.equal(l.startNumber, 100)
    assert.equal(l.media, '$RepresentationID$/$Number$.m4s')
    assert.equal(l.availabilityStartTime, AST)
  })

  it('lets a Representation override what its AdaptationSet says', () => {
    const l = learnChannelFromMpd(
      mpd(`<AdaptationSet mimeType="video/mp4">
        <SegmentTemplate timescale="1000" duration="4000" media="a/$Number$.m4s"/>
        <Representation id="v1"><SegmentTemplate startNumber="7" duration="6000"/></Representation>
      </AdaptationSet>`),
    )
    assert.equal(l.segmentDurationMs, 6000)
    assert.equal(l.startNumber, 7)
    assert.equal(l.media, 'a/$Number$.m4s')
    assert.equal('initialization' in l, false)
  })

  it('reads a template at Period level', () => {
    const l = learnChannelFromMpd(
      mpd(`<SegmentTemplate duration="2" media="$RepresentationID$-$Number$.m4s" initialization="$RepresentationID$-i.m4s"/>
        <AdaptationSet><Representation id="a"/></AdaptationSet>`),
    )
    assert.equal(l.segmentDurationMs, 2000)
    assert.equal(l.startNumber, 1)
  })

  it('takes the constant duration of a SegmentTimeline, and its first S@t', () => {
    const l = learnChannelFromMpd(
      mpd(`<AdaptationSet contentType="video">
        <SegmentTemplate timescale="48000" startNumber="50" presentationTimeOffset="96000" media="v/$Number$.m4s">
          <SegmentTimeline><S t="192000" d="96000" r="9"/><S d="96000"/></SegmentTimeline>
        </SegmentTemplate><Representation id="v"/>
      </AdaptationSet>`),
    )
    assert.equal(l.segmentDurationMs, 2000)
    assert.equal(l.startNumber, 50)
    // Segment 50 starts at (192000 − 96000)/48000 = 2 s after the Period start.
    assert.equal(l.availabilityStartTime, AST + 2000)
    assert.deepEqual(l.warnings, [])
  })

  it('takes the most frequent S@d of an uneven timeline and says so', () => {
    const l = learnChannelFromMpd(
      mpd(`<AdaptationSet contentType="video"><Representation id="v">
        <SegmentTemplate timescale="1000" media="v/$Number$.m4s">
          <SegmentTimeline><S t="0" d="2000" r="5"/><S d="1900"/><S d="2000"/></SegmentTimeline>
        </SegmentTemplate></Representation></AdaptationSet>`),
    )
    assert.equal(l.segmentDurationMs, 2000)
    assert.match(l.warnings.join('\n'), /varying S@d/)
  })

  it('adds Period@start to AST, using the last Period', () => {
    const xml = `<MPD type="dynamic" availabilityStartTime="2026-01-01T00:00:00Z">
      <Period id="a" start="PT0S"><AdaptationSet><SegmentTemplate duration="1" media="old/$Number$.m4s"/><Representation id="x"/></AdaptationSet></Period>
      <Period id="b" start="PT1H"><AdaptationSet><SegmentTemplate duration="2" media="new/$Number$.m4s"/><Representation id="x"/></AdaptationSet></Period>
    </MPD>`
    const l = learnChannelFromMpd(xml)
    assert.equal(l.media, 'new/$Number$.m4s')
    assert.equal(l.availabilityStartTime, AST + 3_600_000)
    assert.equal(l.segmentDurationMs, 2000)
  })

  it('derives a missing Period@start from the previous Period@duration', () => {
    const xml = `<MPD type="dynamic" availabilityStartTime="2026-01-01T00:00:00Z">
      <Period start="PT10S" duration="PT20S"/>
      <Period><AdaptationSet><SegmentTemplate duration="2" media="$Number$.m4s"/><Representation id="x"/></AdaptationSet></Period>
    </MPD>`
    assert.equal(learnChannelFromMpd(xml).availabilityStartTime, AST + 30_000)
  })

  it('reads timeShiftBufferDepth as the DVR window', () => {
    const l = learnChannelFromMpd(
      mpd(
        '<AdaptationSet><SegmentTemplate duration="2" media="$Number$.m4s"/></AdaptationSet>',
        'timeShiftBufferDepth="PT1H2M3.5S"',
      ),
    )
    assert.equal(l.dvrWindowMs, 3_723_500)
  })

  it('prefers a video adaptation set and reports other templates', () => {
    const l = learnChannelFromMpd(
      mpd(`<AdaptationSet contentType="audio"><SegmentTemplate timescale="48000" duration="96000" media="audio/$Number$.m4s"/><Representation id="a"/></AdaptationSet>
        <AdaptationSet contentType="video"><SegmentTemplate timescale="90000" duration="180000" media="video/$Number$.m4s"/><Representation id="v"/></AdaptationSet>`),
    )
    assert.equal(l.media, 'video/$Number$.m4s')
    assert.match(l.warnings.join('\n'), /audio\/\$Number\$\.m4s; only video\/\$Number\$\.m4s is timed/)
  })

  it('warns when D is not a whole number of ms', () => {
    const l = learnChannelFromMpd(
      mpd(
        '<AdaptationSet><SegmentTemplate timescale="48000" duration="96256" media="$Number$.m4s"/></AdaptationSet>',
      ),
    )
    assert.equal(l.segmentDurationMs, 2005)
    assert.match(l.warnings.join('\n'), /rounded to 2005 ms/)
  })
})

describe('learnChannelFromMpd: paths', () => {
  it('prepends the MPD folder and relative BaseURLs', () => {
    const l = learnChannelFromMpd(
      mpd(`<BaseURL>video/</BaseURL><AdaptationSet><SegmentTemplate duration="2" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.mp4"/>
        <Representation id="hd"><BaseURL>../v2/</BaseURL></Representation></AdaptationSet>`),
      { path: 'dash/manifest.mpd' },
    )
    assert.equal(l.media, 'dash/v2/$RepresentationID$/$Number$.m4s')
    assert.equal(l.initialization, 'dash/v2/$RepresentationID$/init.mp4')
    const m = compilePathMatcher(mergeChannelConfig(l, undefined))
    assert.deepEqual(m.match('dash/v2/hd/12.m4s'), { kind: 'media', rendition: 'hd', number: 12 })
  })

  it('ignores absolute BaseURLs, with a warning', () => {
    const l = learnChannelFromMpd(
      mpd(
        '<AdaptationSet><SegmentTemplate duration="2" media="$Number$.m4s"/></AdaptationSet>',
        '',
        '<BaseURL>https://cdn.example/live/</BaseURL>',
      ),
    )
    assert.equal(l.media, '$Number$.m4s')
    assert.match(l.warnings.join('\n'), /not relative/)
  })
})

describe('learnChannelFromMpd: what it cannot learn', () => {
  it('names what is missing or malformed', () => {
    badRequest(() => learnChannelFromMpd('not xml <'), /not well-formed XML/)
    badRequest(() => learnChannelFromMpd('<Playlist/>'), /no MPD element/)
    badRequest(
      () => learnChannelFromMpd('<MPD type="dynamic"><Period/></MPD>'),
      /dynamic MPD has no MPD@availabilityStartTime/,
    )
    badRequest(
      () => learnChannelFromMpd('<MPD availabilityStartTime="yesterday"><Period/></MPD>'),
      /availabilityStartTime="yesterday" is not an ISO-8601/,
    )
    badRequest(
      () => learnChannelFromMpd(mpd('<AdaptationSet/>', 'timeShiftBufferDepth="P1M"')),
      /timeShiftBufferDepth="P1M"/,
    )
    badRequest(() => learnChannelFromMpd('<MPD availabilityStartTime="2026-01-01T00:00:00Z"/>'), /no Period/)
    badRequest(
      () => learnChannelFromMpd(mpd('<AdaptationSet><Representation id="a"/></AdaptationSet>')),
      /no SegmentTemplate/,
    )
    badRequest(
      () =>
        learnChannelFromMpd(
          mpd(
            '<AdaptationSet><SegmentTemplate media="$Time$.m4s"><SegmentTimeline><S t="0" d="1"/></SegmentTimeline></SegmentTemplate></AdaptationSet>',
          ),
        ),
      /\$Time\$ is not supported/,
    )
    badRequest(
      () =>
        learnChannelFromMpd(
          mpd('<AdaptationSet><SegmentTemplate media="x.m4s" duration="2"/></AdaptationSet>'),
        ),
      /has no \$Number\$/,
    )
    badRequest(
      () =>
        learnChannelFromMpd(mpd('<AdaptationSet><SegmentTemplate media="$Number$.m4s"/></AdaptationSet>')),
      /neither @duration nor a SegmentTimeline/,
    )
    badRequest(
      () =>
        learnChannelFromMpd(
          mpd('<AdaptationSet><SegmentTemplate media="$Number$.m4s" duration="abc"/></AdaptationSet>'),
        ),
      /@duration="abc"/,
    )
    badRequest(
      () =>
        learnChannelFromMpd(
          mpd(
            '<AdaptationSet><SegmentTemplate media="$Number$.m4s" duration="1" timescale="0"/></AdaptationSet>',
          ),
        ),
      /timescale is 0/,
    )
  })

  it('learns a static MPD that does carry availabilityStartTime', () => {
    const xml = staticMpd.replace(
      'type="static"',
      'type="static" availabilityStartTime="2026-01-01T00:00:00Z"',
    )
    const l = learnChannelFromMpd(xml)
    assert.equal(l.type, 'static')
    assert.equal(l.availabilityStartTime, AST)
  })

  it('reads an AST without a zone as UTC, as DASH players do', () => {
    const xml = liveMpd.replace('2026-11-26T09:11:25.521Z', '2026-11-26T09:11:25.521')
    assert.equal(learnChannelFromMpd(xml).availabilityStartTime, Date.parse('2026-11-26T09:11:25.521Z'))
  })
})

describe('learnChannelFromMpd: values the origin cannot run a channel with', () => {
  function badMpd(fn: () => unknown, field: string, why: RegExp): void {
    try {
      fn()
    } catch (err) {
      assert.ok(err instanceof LiveOriginError, String(err))
      assert.equal(err.code, errors.badMpd.code)
      assert.equal(err.status, 400)
      assert.ok(err.message.includes(field), `${err.message} names ${field}`)
      assert.match(err.message, why)
      return
    }
    assert.fail(`expected BAD_MPD naming ${field}`)
  }
  const template = (attrs: string) =>
    mpd(`<AdaptationSet contentType="video"><SegmentTemplate ${attrs}/></AdaptationSet>`)

  it('refuses a segment duration over an hour, a fractional startNumber, templates leaving the channel', () => {
    badMpd(
      () => learnChannelFromMpd(template('media="$Number$.m4s" duration="7200"')),
      'SegmentTemplate@duration',
      /at most 3600000/,
    )
    badMpd(
      () => learnChannelFromMpd(template('media="$Number$.m4s" duration="2" startNumber="1.5"')),
      'SegmentTemplate@startNumber',
      /whole number/,
    )
    badMpd(
      () => learnChannelFromMpd(template('media="../other/$Number$.m4s" duration="2"')),
      'SegmentTemplate@media',
      /relative path/,
    )
    badMpd(
      () =>
        learnChannelFromMpd(template('media="$Number$.m4s" initialization="a/../../init.mp4" duration="2"')),
      'SegmentTemplate@initialization',
      /relative path/,
    )
    badMpd(
      () =>
        learnChannelFromMpd(
          mpd(
            '<AdaptationSet><SegmentTemplate media="$Number$.m4s" timescale="1"><SegmentTimeline><S t="0" d="5000" r="3"/></SegmentTimeline></SegmentTemplate></AdaptationSet>',
          ),
        ),
      'SegmentTimeline S@d',
      /at most/,
    )
    badMpd(
      () =>
        learnChannelFromMpd(
          template('media="$Number$.m4s" duration="2"').replace(
            '2026-01-01T00:00:00Z',
            '1969-12-31T00:00:00Z',
          ),
        ),
      'MPD@availabilityStartTime',
      /non-negative/,
    )
  })

  it('clamps a timeShiftBufferDepth longer than 30 days to 30 days, and says so', () => {
    const l = learnChannelFromMpd(
      mpd('', 'timeShiftBufferDepth="P31D"').replace(
        '<Period id="p0" start="PT0S">',
        '<Period id="p0" start="PT0S"><AdaptationSet><SegmentTemplate media="$Number$.m4s" duration="2"/></AdaptationSet>',
      ),
    )
    assert.equal(l.dvrWindowMs, 30 * 86_400_000)
    assert.ok(l.warnings.some((w) => /timeShiftBufferDepth .* clamped/.test(w)))
    const cfg = mergeChannelConfig(l, undefined)
    assert.equal(cfg.dvrWindowMs, 30 * 86_400_000)
  })
})

describe('learnChannelFromMpd: availabilityTimeOffset (LL-DASH)', () => {
  const video = (template: string, rep = '<Representation id="v"/>', asExtra = '') =>
    mpd(`<AdaptationSet contentType="video">${asExtra}
        <SegmentTemplate timescale="1000" duration="2000" media="$RepresentationID$/$Number$.m4s" ${template}/>
        ${rep}
      </AdaptationSet>`)

  it('learns it from the SegmentTemplate, in ms, and without it learns none', () => {
    const l = learnChannelFromMpd(video('availabilityTimeOffset="1.5" availabilityTimeComplete="false"'))
    assert.equal(l.availabilityTimeOffsetMs, 1500)
    assert.equal(mergeChannelConfig(l, undefined).availabilityTimeOffsetMs, 1500)
    // Segments announced incomplete: the channel serves them while they upload.
    assert.equal(l.lowLatency, true)
    assert.equal(mergeChannelConfig(l, undefined).lowLatency, true)
    const complete = learnChannelFromMpd(video('availabilityTimeOffset="1.5"'))
    assert.equal(complete.availabilityTimeOffsetMs, 1500)
    assert.equal('lowLatency' in complete, false)
    assert.equal('lowLatency' in learnChannelFromMpd(video('availabilityTimeComplete="false"')), false)
    const plain = learnChannelFromMpd(video(''))
    assert.equal('availabilityTimeOffsetMs' in plain, false)
    assert.equal(mergeChannelConfig(plain, undefined).availabilityTimeOffsetMs, 0)
  })

  it('inherits it Period → AdaptationSet → Representation, the lowest level winning', () => {
    const atPeriod = learnChannelFromMpd(
      mpd(`<SegmentTemplate availabilityTimeOffset="1.2"/>
        <AdaptationSet contentType="video">
          <SegmentTemplate timescale="1000" duration="2000" media="v/$Number$.m4s"/>
          <Representation id="v"/>
        </AdaptationSet>`),
    )
    assert.equal(atPeriod.availabilityTimeOffsetMs, 1200)
    const overridden = learnChannelFromMpd(
      video(
        'availabilityTimeOffset="1.5"',
        '<Representation id="v"><SegmentTemplate availabilityTimeOffset="0.75"/></Representation>',
      ),
    )
    assert.equal(overridden.availabilityTimeOffsetMs, 750)
  })

  it('adds the offsets of the relative BaseURLs in effect, and not of absolute ones', () => {
    const l = learnChannelFromMpd(
      mpd(
        `<BaseURL availabilityTimeOffset="0.25">live/</BaseURL>
        <AdaptationSet contentType="video">
          <BaseURL availabilityTimeOffset="0.5">video/</BaseURL>
          <SegmentTemplate timescale="1000" duration="2000" media="$Number$.m4s" availabilityTimeOffset="1"/>
          <Representation id="v"/>
        </AdaptationSet>`,
      ),
    )
    assert.equal(l.media, 'live/video/$Number$.m4s')
    assert.equal(l.availabilityTimeOffsetMs, 1750)
    const absolute = learnChannelFromMpd(
      mpd(`<BaseURL availabilityTimeOffset="1">https://cdn.example/</BaseURL>
        <AdaptationSet contentType="video"><SegmentTemplate timescale="1000" duration="2000" media="$Number$.m4s"/>
        <Representation id="v"/></AdaptationSet>`),
    )
    assert.equal('availabilityTimeOffsetMs' in absolute, false)
  })

  it('does not use INF, with a warning; refuses a negative or malformed value and one over D', () => {
    const inf = learnChannelFromMpd(video('availabilityTimeOffset="INF"'))
    assert.equal('availabilityTimeOffsetMs' in inf, false)
    assert.ok(inf.warnings.some((w) => /availabilityTimeOffset INF/.test(w)))
    for (const bad of ['-1', 'soon', '']) {
      assert.throws(
        () => learnChannelFromMpd(video(`availabilityTimeOffset="${bad}"`)),
        (err: unknown) =>
          err instanceof LiveOriginError &&
          err.code === errors.badMpd.code &&
          err.message.includes('SegmentTemplate@availabilityTimeOffset'),
      )
    }
    assert.throws(
      () => learnChannelFromMpd(video('availabilityTimeOffset="2.5"')),
      (err: unknown) =>
        err instanceof LiveOriginError &&
        err.code === errors.badMpd.code &&
        err.message.includes('SegmentTemplate@availabilityTimeOffset') &&
        /must not exceed segmentDurationMs \(2000\)/.test(err.message),
    )
  })
})
