import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { errors, LiveOriginError } from '../../src/errors.js'
import {
  type ChannelConfig,
  DEFAULT_DVR_WINDOW_MS,
  mergeChannelConfig,
  parseChannelConfig,
  validateChannelConfigInput,
} from '../../src/timing/channel-config.js'
import type { LearnedChannel } from '../../src/timing/mpd.js'

const AST_ISO = '2026-03-01T10:00:00Z'
const AST = Date.UTC(2026, 2, 1, 10, 0, 0)
const minimal = { segmentDurationMs: 2000, availabilityStartTime: AST_ISO }

/** Asserts that `fn` throws the BAD_CONFIG error naming `field`, and returns its message. */
function badConfig(fn: () => unknown, field: string): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof LiveOriginError, `not a LiveOriginError: ${err}`)
    assert.equal(err.code, errors.badConfig.code)
    assert.equal(err.status, 400)
    assert.match(err.message, new RegExp(`^invalid field ${field.replace(/[[\].]/g, '\\$&')}: `))
    return err.message
  }
  assert.fail(`expected a bad ${field}`)
}

describe('parseChannelConfig', () => {
  it('fills in every default from D', () => {
    const cfg: ChannelConfig = parseChannelConfig(minimal)
    assert.deepEqual(cfg, {
      segmentDurationMs: 2000,
      availabilityStartTime: AST,
      startNumber: 1,
      media: '$RepresentationID$/$Number$.m4s',
      initialization: '$RepresentationID$/init.mp4',
      pipelines: [],
      dvrWindowMs: 4 * 3_600_000,
      holdWindowMs: 2000,
      availabilityTimeOffsetMs: 0,
      lateAllowanceMs: 4000,
      selectionGraceMs: 500,
      manifestTtlMs: 2000,
      gapPolicy: 'filler',
    })
    assert.equal(DEFAULT_DVR_WINDOW_MS, 14_400_000)
  })

  it('takes an availability time offset up to D, and refuses one beyond it or not a whole ms', () => {
    assert.equal(
      parseChannelConfig({ ...minimal, availabilityTimeOffsetMs: 1500 }).availabilityTimeOffsetMs,
      1500,
    )
    assert.equal(
      parseChannelConfig({ ...minimal, availabilityTimeOffsetMs: 2000 }).availabilityTimeOffsetMs,
      2000,
    )
    assert.match(
      badConfig(
        () => parseChannelConfig({ ...minimal, availabilityTimeOffsetMs: 2001 }),
        'availabilityTimeOffsetMs',
      ),
      /must not exceed segmentDurationMs \(2000\)/,
    )
    badConfig(
      () => parseChannelConfig({ ...minimal, availabilityTimeOffsetMs: -1 }),
      'availabilityTimeOffsetMs',
    )
    badConfig(
      () => parseChannelConfig({ ...minimal, availabilityTimeOffsetMs: 0.5 }),
      'availabilityTimeOffsetMs',
    )
    badConfig(
      () => parseChannelConfig({ ...minimal, availabilityTimeOffsetMs: '1s' }),
      'availabilityTimeOffsetMs',
    )
  })

  it('lets an explicit availability time offset win over the one learned from an MPD', () => {
    const learned = {
      type: 'dynamic',
      availabilityStartTime: AST,
      segmentDurationMs: 2000,
      startNumber: 1,
      media: '$Number$.m4s',
      availabilityTimeOffsetMs: 1500,
      warnings: [],
    } satisfies LearnedChannel
    assert.equal(mergeChannelConfig(learned, undefined).availabilityTimeOffsetMs, 1500)
    assert.equal(mergeChannelConfig(learned, { availabilityTimeOffsetMs: 0 }).availabilityTimeOffsetMs, 0)
  })

  it('rounds G = D/4 down to whole ms', () => {
    assert.equal(parseChannelConfig({ ...minimal, segmentDurationMs: 1001 }).selectionGraceMs, 250)
  })

  it('keeps explicit values, zeros included', () => {
    const cfg = parseChannelConfig({
      ...minimal,
      startNumber: 0,
      media: 'v/$RepresentationID$/seg-$Number%05d$.m4s',
      initialization: 'v/$RepresentationID$/init.m4s',
      pipelines: ['east', 'west'],
      dvrWindowMs: 600_000,
      holdWindowMs: 0,
      lateAllowanceMs: 0,
      selectionGraceMs: 0,
      manifestTtlMs: 0,
    })
    assert.equal(cfg.startNumber, 0)
    assert.equal(cfg.holdWindowMs, 0)
    assert.equal(cfg.lateAllowanceMs, 0)
    assert.equal(cfg.selectionGraceMs, 0)
    assert.equal(cfg.manifestTtlMs, 0)
    assert.equal(cfg.dvrWindowMs, 600_000)
    assert.deepEqual(cfg.pipelines, ['east', 'west'])
  })

  it('accepts AST as epoch ms or ISO-8601 with Z or an offset', () => {
    assert.equal(parseChannelConfig({ ...minimal, availabilityStartTime: AST }).availabilityStartTime, AST)
    assert.equal(
      parseChannelConfig({ ...minimal, availabilityStartTime: '2026-03-01T11:30:00+01:30' })
        .availabilityStartTime,
      AST,
    )
    assert.equal(
      parseChannelConfig({ ...minimal, availabilityStartTime: '2026-03-01T10:00:00.250Z' })
        .availabilityStartTime,
      AST + 250,
    )
  })

  it('ignores unknown fields', () => {
    const cfg = parseChannelConfig({ ...minimal, colour: 'blue', liveEdgeSegments: 'x' })
    assert.equal('colour' in cfg, false)
    assert.equal('liveEdgeSegments' in cfg, false)
  })

  it('is idempotent: a parsed config parses to itself', () => {
    const cfg = parseChannelConfig({ ...minimal, pipelines: ['a'], holdWindowMs: 10 })
    assert.deepEqual(parseChannelConfig(cfg), cfg)
  })

  it('gapPolicy: "filler" by default, "gone" when asked, anything else refused naming the field', () => {
    assert.equal(parseChannelConfig(minimal).gapPolicy, 'filler')
    assert.equal(parseChannelConfig({ ...minimal, gapPolicy: 'gone' }).gapPolicy, 'gone')
    assert.match(
      badConfig(() => parseChannelConfig({ ...minimal, gapPolicy: '410' }), 'gapPolicy'),
      /"filler" or "gone"/,
    )
    badConfig(() => parseChannelConfig({ ...minimal, gapPolicy: true }), 'gapPolicy')
  })

  it('requires D and AST', () => {
    badConfig(() => parseChannelConfig({ availabilityStartTime: AST }), 'segmentDurationMs')
    badConfig(() => parseChannelConfig({ segmentDurationMs: 2000 }), 'availabilityStartTime')
    assert.match(
      badConfig(() => parseChannelConfig({}), 'segmentDurationMs'),
      /is required/,
    )
  })

  it('refuses a body that is not an object', () => {
    for (const body of [null, 'x', 3, [minimal]]) badConfig(() => parseChannelConfig(body), 'config')
  })

  it('refuses wrong types and out-of-range values, naming the field', () => {
    const cases: Array<[Record<string, unknown>, string, RegExp?]> = [
      [{ segmentDurationMs: '2000' }, 'segmentDurationMs', /must be a number/],
      [{ segmentDurationMs: 0 }, 'segmentDurationMs', /positive/],
      [{ segmentDurationMs: -2000 }, 'segmentDurationMs'],
      [{ segmentDurationMs: 1500.5 }, 'segmentDurationMs', /integer/],
      [{ segmentDurationMs: 3_600_001 }, 'segmentDurationMs', /at most 3600000/],
      [{ segmentDurationMs: Number.NaN }, 'segmentDurationMs'],
      [{ availabilityStartTime: 'yesterday' }, 'availabilityStartTime'],
      [{ availabilityStartTime: '2026-03-01T10:00:00' }, 'availabilityStartTime', /offset/],
      [{ availabilityStartTime: '2026-02-30T10:00:00Z' }, 'availabilityStartTime'],
      [{ availabilityStartTime: -1 }, 'availabilityStartTime'],
      [{ availabilityStartTime: 1.5 }, 'availabilityStartTime'],
      [{ availabilityStartTime: true }, 'availabilityStartTime'],
      [{ startNumber: -1 }, 'startNumber'],
      [{ startNumber: 2 ** 53 }, 'startNumber'],
      [{ media: 3 }, 'media', /string/],
      [{ media: '' }, 'media'],
      [{ media: '$RepresentationID$/seg.m4s' }, 'media', /\$Number\$/],
      [{ media: '$RepresentationID$/$Time$.m4s' }, 'media', /\$Time\$/],
      [{ media: 'a b/$Number$.m4s' }, 'media', /characters/],
      [{ media: 'a$$/$Number$.m4s' }, 'media', /\$\$/],
      [{ media: '/abs/$Number$.m4s' }, 'media', /relative/],
      [{ media: 'a//$Number$.m4s' }, 'media', /relative/],
      [{ media: '../$Number$.m4s' }, 'media', /relative/],
      [{ media: '$Number$.m3u8' }, 'media', /manifest/],
      [{ media: `${'a'.repeat(1020)}/$Number$` }, 'media', /at most 1024/],
      [{ initialization: '$RepresentationID$/init-$Number$.mp4' }, 'initialization', /must not contain/],
      [{ initialization: 'init.mpd' }, 'initialization'],
      [{ pipelines: 'east' }, 'pipelines'],
      [{ pipelines: ['east', 'bad id'] }, 'pipelines[1]'],
      [{ pipelines: ['east', 'west', 'east'] }, 'pipelines[2]', /twice/],
      [{ pipelines: Array.from({ length: 65 }, (_, i) => `p${i}`) }, 'pipelines', /at most 64/],
      [{ dvrWindowMs: 0 }, 'dvrWindowMs'],
      [{ holdWindowMs: -1 }, 'holdWindowMs'],
      [{ holdWindowMs: 3_600_001 }, 'holdWindowMs'],
      [{ lateAllowanceMs: -1 }, 'lateAllowanceMs'],
      [{ selectionGraceMs: 0.5 }, 'selectionGraceMs'],
      [{ manifestTtlMs: null }, 'manifestTtlMs'],
    ]
    for (const [patch, field, why] of cases) {
      const message = badConfig(() => parseChannelConfig({ ...minimal, ...patch }), field)
      if (why) assert.match(message, why, `${field}: ${message}`)
    }
  })

  it('names the first bad field in table order', () => {
    badConfig(() => parseChannelConfig({ ...minimal, media: 5, segmentDurationMs: 'x' }), 'segmentDurationMs')
  })

  it('refuses R longer than the DVR window', () => {
    const msg = badConfig(
      () => parseChannelConfig({ ...minimal, dvrWindowMs: 10_000, lateAllowanceMs: 10_001 }),
      'lateAllowanceMs',
    )
    assert.match(msg, /dvrWindowMs \(10000\)/)
    assert.equal(
      parseChannelConfig({ ...minimal, dvrWindowMs: 10_000, lateAllowanceMs: 10_000 }).lateAllowanceMs,
      10_000,
    )
    // The default R = 2·D must fit the DVR window too.
    badConfig(() => parseChannelConfig({ ...minimal, dvrWindowMs: 3999 }), 'lateAllowanceMs')
  })

  it('needs the init template to use only values the media template holds', () => {
    const needsId = badConfig(
      () =>
        parseChannelConfig({
          ...minimal,
          media: 'seg-$Number$.m4s',
          initialization: 'init-$RepresentationID$.mp4',
        }),
      'initialization',
    )
    assert.match(needsId, /uses \$RepresentationID\$, which the media template does not/)
    const needsBandwidth = badConfig(
      () =>
        parseChannelConfig({
          ...minimal,
          media: '$RepresentationID$/$Number$.m4s',
          initialization: 'i-$Bandwidth$.mp4',
        }),
      'initialization',
    )
    assert.match(needsBandwidth, /uses \$Bandwidth\$/)
    // Fewer values than the media template is fine: one init segment for several renditions.
    assert.equal(
      parseChannelConfig({
        ...minimal,
        media: '$RepresentationID$_$Bandwidth$/$Number$.m4s',
        initialization: 'init.mp4',
      }).initialization,
      'init.mp4',
    )
  })

  it('defaults to one init segment when the media template names no rendition', () => {
    assert.equal(parseChannelConfig({ ...minimal, media: 'seg-$Number$.m4s' }).initialization, 'init.mp4')
    assert.equal(
      parseChannelConfig({ ...minimal, media: '$Bandwidth$/$Number$.m4s' }).initialization,
      'init.mp4',
    )
    assert.equal(
      parseChannelConfig({ ...minimal, media: 'v-$RepresentationID$/$Number$.m4s' }).initialization,
      '$RepresentationID$/init.mp4',
    )
  })
})

describe('validateChannelConfigInput', () => {
  it('returns only the fields given, normalised', () => {
    assert.deepEqual(validateChannelConfigInput({ pipelines: ['a'], availabilityStartTime: AST_ISO, x: 1 }), {
      pipelines: ['a'],
      availabilityStartTime: AST,
    })
    assert.deepEqual(validateChannelConfigInput({}), {})
    badConfig(() => validateChannelConfigInput({ holdWindowMs: 'soon' }), 'holdWindowMs')
  })
})

describe('mergeChannelConfig', () => {
  const learned: LearnedChannel = {
    type: 'dynamic',
    availabilityStartTime: AST,
    segmentDurationMs: 1000,
    startNumber: 1,
    media: 'seg-$RepresentationID$-$Number%05d$.m4s',
    initialization: 'init-$RepresentationID$.m4s',
    dvrWindowMs: 120_000,
    warnings: [],
  }

  it('takes everything from the MPD when nothing is explicit', () => {
    const cfg = mergeChannelConfig(learned, undefined)
    assert.equal(cfg.segmentDurationMs, 1000)
    assert.equal(cfg.media, learned.media)
    assert.equal(cfg.initialization, learned.initialization)
    assert.equal(cfg.dvrWindowMs, 120_000)
    assert.equal(cfg.holdWindowMs, 1000)
    assert.equal(cfg.lateAllowanceMs, 2000)
  })

  it('lets explicit fields win and learned ones beat defaults', () => {
    const cfg = mergeChannelConfig(learned, {
      segmentDurationMs: 2000,
      pipelines: ['east', 'west'],
      dvrWindowMs: 3_600_000,
    })
    assert.equal(cfg.segmentDurationMs, 2000)
    assert.equal(cfg.dvrWindowMs, 3_600_000)
    assert.deepEqual(cfg.pipelines, ['east', 'west'])
    // Learned, not the default template.
    assert.equal(cfg.media, learned.media)
    // Derived defaults follow the winning D.
    assert.equal(cfg.holdWindowMs, 2000)
    assert.equal(cfg.lateAllowanceMs, 4000)
    assert.equal(cfg.selectionGraceMs, 500)
  })

  it('accepts the explicit input raw (ISO AST) and learned fields as stored JSON', () => {
    const stored = JSON.parse(JSON.stringify(learned)) as Record<string, unknown>
    const cfg = mergeChannelConfig(stored, { availabilityStartTime: '2026-03-01T10:00:01Z' })
    assert.equal(cfg.availabilityStartTime, AST + 1000)
  })

  it('equals parseChannelConfig when only explicit config exists', () => {
    const input = { ...minimal, pipelines: ['a'] }
    assert.deepEqual(mergeChannelConfig(undefined, input), parseChannelConfig(input))
  })

  it('keeps segments for R when the MPD time-shift buffer is shorter', () => {
    const cfg = mergeChannelConfig({ ...learned, dvrWindowMs: 1500 }, undefined)
    assert.equal(cfg.lateAllowanceMs, 2000)
    assert.equal(cfg.dvrWindowMs, 2000)
  })

  it('still refuses an explicit DVR window shorter than R', () => {
    badConfig(() => mergeChannelConfig(learned, { dvrWindowMs: 1500 }), 'lateAllowanceMs')
  })

  it('says when a bad value was learned, unless the operator overrides it', () => {
    const bad = { ...learned, media: 'seg $Number$.m4s' }
    assert.match(
      badConfig(() => mergeChannelConfig(bad, undefined), 'media'),
      /learned from the MPD/,
    )
    assert.equal(mergeChannelConfig(bad, { media: 'ok/$Number$.m4s' }).media, 'ok/$Number$.m4s')
  })

  it('refuses a bad explicit field even when the MPD has a good one', () => {
    const msg = badConfig(() => mergeChannelConfig(learned, { segmentDurationMs: -1 }), 'segmentDurationMs')
    assert.doesNotMatch(msg, /learned/)
  })

  it('keeps an init template from the MPD that needs more than the media paths hold', () => {
    // One Representation per SegmentTemplate makes this valid DASH: the MPD is not refused.
    const single = { ...learned, media: 'seg-$Number$.m4s' }
    assert.equal(mergeChannelConfig(single, undefined).initialization, 'init-$RepresentationID$.m4s')
    // The operator's own init template is held to the rule.
    badConfig(
      () => mergeChannelConfig(single, { initialization: 'i-$RepresentationID$.mp4' }),
      'initialization',
    )
  })

  it('needs D and AST from one side or the other', () => {
    badConfig(() => mergeChannelConfig(undefined, { pipelines: ['a'] }), 'segmentDurationMs')
    badConfig(() => mergeChannelConfig(undefined, undefined), 'segmentDurationMs')
  })
})
