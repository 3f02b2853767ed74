/**
 * Fuzzing the manifest and channel parsers: MPD learning (`src/timing/mpd.ts`) on the real
 * ffmpeg MPD with hostile attribute values and byte-level damage, then what was learned
 * through channel validation (`src/timing/channel-config.ts`) and the path matcher; HLS media
 * playlists (`src/timing/hls.ts`); channel JSON as the control API receives it. Each may only
 * answer with a catalogued 400 error, within a bounded time.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { mergeChannelConfig, validateChannelConfigInput } from '../../src/timing/channel-config.js'
import { parseMediaPlaylist } from '../../src/timing/hls.js'
import { nextHlsRecord, readPlaylist } from '../../src/timing/hls-learn.js'
import { learnChannelFromMpd } from '../../src/timing/mpd.js'
import { compilePathMatcher, renderInitPath, renderMediaPath } from '../../src/timing/template.js'
import { bounded, params } from './helpers.js'

const MPD = readFileSync(new URL('../fixtures/dash/manifest-live.mpd', import.meta.url), 'utf8')

const durations = fc.oneof(
  fc.constantFrom(
    'P31D',
    'PT1S',
    'PT0S',
    '-PT1S',
    'P1Y',
    'PT1.5S',
    'P9999999999D',
    'PT',
    'P',
    'PT1e309S',
    'PT.5S',
  ),
  fc.stringMatching(/^-?P(\d{1,12}D)?(T(\d{1,6}H)?(\d{1,6}M)?(\d{1,12}(\.\d{1,6})?S)?)?$/),
)
const numbers = fc.oneof(
  fc.constantFrom(
    '0',
    '1',
    '1.5',
    '-1',
    '1e309',
    '0x10',
    '99999999999999999999',
    '',
    ' 7',
    'NaN',
    'Infinity',
  ),
  fc.integer().map(String),
  fc.double().map(String),
)
const templates = fc.oneof(
  fc.constantFrom(
    '../$Number$.m4s',
    '/abs/$Number$.m4s',
    '$Number%0999d$.m4s',
    '$Number%d$.m4s',
    '$Time$.m4s',
    '$$Number$$',
    '$RepresentationID$/$Number$.m4s',
    '$Bandwidth$/$Number%05d$.m4s',
    'a/./$Number$.m4s',
    'a//$Number$.m4s',
    'seg-$Number$.mpd',
    '$Number$',
    '$Number',
    '',
  ),
  fc.string({ maxLength: 40 }),
  fc
    .array(
      fc.constantFrom(
        '$Number$',
        '$RepresentationID$',
        '$Bandwidth$',
        '$Time$',
        '$$',
        'a',
        '/',
        '..',
        '%05d',
        '$',
      ),
      {
        maxLength: 6,
      },
    )
    .map((p) => p.join('')),
)
const dates = fc.oneof(
  fc.constantFrom(
    '2026-11-26T09:11:25.521Z',
    '1970-01-01T00:00:00Z',
    '9999-12-31T23:59:59Z',
    '2026-02-30T00:00:00Z',
    'now',
    '-000001-01-01T00:00:00Z',
    '2026-11-26T09:11:25',
  ),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.string({ maxLength: 30 }),
)
const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')

type Edit =
  | { kind: 'attr'; name: string; value: string }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'delete'; at: number; count: number }

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({
    kind: fc.constant('attr' as const),
    name: fc.constantFrom('timeShiftBufferDepth', 'start', 'maxSegmentDuration'),
    value: durations,
  }),
  fc.record({
    kind: fc.constant('attr' as const),
    name: fc.constantFrom('duration', 'timescale', 'startNumber', 'presentationTimeOffset', 'bandwidth'),
    value: numbers,
  }),
  fc.record({
    kind: fc.constant('attr' as const),
    name: fc.constantFrom('media', 'initialization', 'id'),
    value: templates,
  }),
  fc.record({
    kind: fc.constant('attr' as const),
    name: fc.constantFrom('availabilityStartTime', 'publishTime'),
    value: dates,
  }),
  fc.record({
    kind: fc.constant('attr' as const),
    name: fc.constantFrom('type'),
    value: fc.constantFrom('dynamic', 'static', '', 'x'),
  }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.constantFrom(
        '<SegmentTimeline><S t="0" d="1000000" r="-1"/><S d="0"/></SegmentTimeline>',
        '<SegmentTimeline><S d="1000000" r="99999999999"/></SegmentTimeline>',
        '<BaseURL>../../</BaseURL>',
        '<BaseURL>http://elsewhere/x/</BaseURL>',
        '<Period start="PT1S"></Period>',
        '<![CDATA[ x ]]>',
        '&amp;&lt;&#0;&#xFFFFFFFF;',
        '<!-- -->',
        '<',
        '"',
      ),
    ),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 40 }) }),
)

function applyEdits(xml: string, edits: readonly Edit[]): string {
  for (const e of edits) {
    if (e.kind === 'attr') {
      const re = new RegExp(`\\b${e.name}="[^"]*"`, 'g')
      const value = `${e.name}="${xmlEscape(e.value)}"`
      xml = re.test(xml)
        ? xml.replace(re, value)
        : xml.replace('<SegmentTemplate ', `<SegmentTemplate ${value} `)
    } else if (e.kind === 'cut') xml = xml.slice(0, e.at % (xml.length + 1))
    else if (e.kind === 'insert') {
      const at = e.at % (xml.length + 1)
      xml = xml.slice(0, at) + e.text + xml.slice(at)
    } else {
      const at = e.at % (xml.length + 1)
      xml = xml.slice(0, at) + xml.slice(at + e.count)
    }
  }
  return xml
}

const samplePaths = fc.oneof(
  fc.constantFrom(
    'seg-0-00001.m4s',
    'init-0.m4s',
    'manifest.mpd',
    'x.m3u8',
    '0/1.m4s',
    'seg-0-99999999999999999999.m4s',
  ),
  fc.string({ maxLength: 40 }),
)

describe('fuzz: MPD learning', () => {
  it('a damaged or hostile MPD teaches a valid channel or is refused with a catalogued 400', () => {
    fc.assert(
      fc.property(
        fc.array(edit, { minLength: 1, maxLength: 5 }),
        fc.array(samplePaths, { maxLength: 4 }),
        (edits, paths) => {
          const xml = applyEdits(MPD, edits)
          const { value: learned } = bounded('learnChannelFromMpd', () =>
            learnChannelFromMpd(xml, { path: 'dash/manifest.mpd' }),
          )
          if (!learned) return
          const { value: config } = bounded('mergeChannelConfig(learned)', () =>
            mergeChannelConfig(learned, undefined),
          )
          if (!config) return
          // What validation let through names objects the origin can store and serve.
          const matcher = bounded('compilePathMatcher', () => compilePathMatcher(config), []).value!
          for (const p of paths) bounded('PathMatcher.match', () => matcher.match(p), [])
          const media = bounded(
            'renderMediaPath',
            () => renderMediaPath(config, '0', config.startNumber + 1, 300000),
            [],
          ).value!
          bounded('renderInitPath', () => renderInitPath(config, '0', 300000), [])
          assert.ok(!media.split('/').includes('..'), media)
          const m = matcher.match(media)
          assert.equal(m.kind, 'media', `${media} does not match its own template ${config.media}`)
        },
      ),
      params(1500),
    )
  })

  it('entity expansion and deep nesting are refused or read within bounds', () => {
    const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"><!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;"><!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;"><!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">]>`
    const withLaughs = MPD.replace(/^<\?xml[^>]*>/, laughs).replace('id="0" start', 'id="&lol7;" start')
    bounded('learnChannelFromMpd(billion laughs)', () => learnChannelFromMpd(withLaughs))
    const deep = `${'<a>'.repeat(20000)}${'</a>'.repeat(20000)}`
    bounded('learnChannelFromMpd(deep nesting)', () =>
      learnChannelFromMpd(MPD.replace('<ProgramInformation>', `<ProgramInformation>${deep}`)),
    )
  })
})

const LL =
  readFileSync(new URL('../timing/hls.test.ts', import.meta.url), 'utf8').match(
    /const LL = `([^`]*)`/,
  )?.[1] ?? '#EXTM3U\n'
const hlsLine = fc.oneof(
  fc.constantFrom(
    '#EXT-X-TARGETDURATION:',
    '#EXT-X-TARGETDURATION:-1',
    '#EXT-X-TARGETDURATION:1e309',
    '#EXT-X-MEDIA-SEQUENCE:99999999999999999999',
    '#EXT-X-MEDIA-SEQUENCE:-5',
    '#EXT-X-PART-INF:PART-TARGET=0',
    '#EXT-X-PART:DURATION=NaN,URI="x"',
    '#EXT-X-SKIP:SKIPPED-SEGMENTS=99999999999',
    '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=-1',
    '#EXT-X-STREAM-INF:BANDWIDTH=1',
    '#EXTINF:',
    '#EXTINF:1e309,',
    '#EXT-X-ENDLIST',
    '#EXT-X-PRELOAD-HINT:TYPE=PART,URI=',
    '#EXT-X-RENDITION-REPORT:URI="a",LAST-MSN=-1,LAST-PART=1e400',
    'x.m4s',
    '',
  ),
  fc.string({ maxLength: 60 }),
  fc.string({ maxLength: 30 }).map((s) => `#EXT-X-${s}`),
)

describe('fuzz: HLS media playlists', () => {
  it('a damaged playlist is read or refused with a catalogued 400', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.oneof(hlsLine, fc.constant(null))), { minLength: 1, maxLength: 8 }),
        fc.constantFrom('\n', '\r\n'),
        (edits, eol) => {
          const lines = LL.split('\n')
          for (const [at, line] of edits) {
            const i = at % (lines.length + 1)
            if (line === null) lines.splice(i, 1)
            else lines.splice(i, 0, line)
          }
          const text = lines.join(eol)
          const { value } = bounded('parseMediaPlaylist', () => parseMediaPlaylist(text))
          if (value) assert.ok(Number.isFinite(value.targetDurationMs))
        },
      ),
      params(2000),
    )
  })

  it('a damaged ffmpeg playlist teaches a valid channel, nothing, or is refused with a catalogued 400', () => {
    const FFMPEG = readFileSync(new URL('../fixtures/hls/fmp4-pdt/index.m3u8', import.meta.url), 'utf8')
    const uriLine = fc.constantFrom(
      'index7.m4s',
      'index007.m4s',
      '../x5.m4s',
      'a/b9.ts',
      'http://h/1.ts',
      'seg$1.ts',
    )
    const pdt = fc.constantFrom(
      '#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:00Z',
      '#EXT-X-PROGRAM-DATE-TIME:9999-12-31T23:59:59.999+0000',
      '#EXT-X-MAP:URI="../../i.mp4"',
      '#EXTINF:3600.5,',
    )
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.oneof(hlsLine, uriLine, pdt, fc.constant(null))), {
          minLength: 1,
          maxLength: 8,
        }),
        (edits) => {
          const lines = FFMPEG.split('\n')
          for (const [at, line] of edits) {
            const i = at % (lines.length + 1)
            if (line === null) lines.splice(i, 1)
            else lines.splice(i, 0, line)
          }
          const { value } = bounded('readPlaylist', () =>
            readPlaylist(lines.join('\n'), 'live/index.m3u8', 1.8e12),
          )
          if (value?.kind === 'media' && !('skipped' in value.learned)) {
            const rec = nextHlsRecord(undefined, value.learned, undefined)!
            mergeChannelConfig(rec, undefined)
          }
        },
      ),
      params(2000),
    )
  })
})

const jsonValue = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 30 }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 10 }), { maxLength: 4 }),
  templates,
  dates,
  fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 53, -1, 0, Number.MAX_VALUE, 3.5),
)
const channelFields = fc.constantFrom(
  'segmentDurationMs',
  'availabilityStartTime',
  'startNumber',
  'media',
  'initialization',
  'pipelines',
  'dvrWindowMs',
  'holdWindowMs',
  'lateAllowanceMs',
  'selectionGraceMs',
  'manifestTtlMs',
  'gapPolicy',
  '__proto__',
  'constructor',
)

describe('fuzz: channel JSON', () => {
  it('a posted channel body is a valid configuration or a catalogued 400 naming a field', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.dictionary(channelFields, jsonValue, { maxKeys: 8 }),
          fc.jsonValue({ maxDepth: 3 }),
          fc.string({ maxLength: 40 }).map((s) => {
            try {
              return JSON.parse(s) as unknown
            } catch {
              return s
            }
          }),
        ),
        (input) => {
          // As the control API receives it: JSON text parsed.
          const body = JSON.parse(JSON.stringify(input) ?? 'null') as unknown
          bounded('validateChannelConfigInput', () => validateChannelConfigInput(body))
          const { value: config } = bounded('mergeChannelConfig', () =>
            mergeChannelConfig(undefined, {
              segmentDurationMs: 2000,
              availabilityStartTime: 0,
              ...(body as object),
            }),
          )
          if (config) {
            const matcher = bounded('compilePathMatcher', () => compilePathMatcher(config), []).value!
            // A packager's path for rendition v at 800 kbit/s (when the template names a bandwidth):
            // the matcher names it, and the rendition it gives renders the same path back.
            const media = renderMediaPath(config, 'v', config.startNumber, 800_000)
            const match = matcher.match(media)
            assert.ok(match.kind === 'media', media)
            assert.equal(renderMediaPath(config, match.rendition, match.number), media)
          }
        },
      ),
      params(2000),
    )
  })
})
