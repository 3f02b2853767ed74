import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  compilePathMatcher,
  compileTemplate,
  initPathOf,
  parseTemplate,
  parseTemplateNumber,
  renderInitPath,
  renderMediaPath,
  renderTemplate,
} from '../../src/timing/template.js'

const DEFAULTS = { media: '$RepresentationID$/$Number$.m4s', initialization: '$RepresentationID$/init.mp4' }

describe('parseTemplate', () => {
  it('splits literals and identifiers', () => {
    assert.deepEqual(parseTemplate('v/$RepresentationID$_$Bandwidth$/seg-$Number%05d$.m4s'), [
      { kind: 'literal', text: 'v/' },
      { kind: 'representation' },
      { kind: 'literal', text: '_' },
      { kind: 'bandwidth', width: 0 },
      { kind: 'literal', text: '/seg-' },
      { kind: 'number', width: 5 },
      { kind: 'literal', text: '.m4s' },
    ])
  })

  it('reads $$ as a literal $', () => {
    assert.deepEqual(parseTemplate('a$$b$Number$'), [
      { kind: 'literal', text: 'a$b' },
      { kind: 'number', width: 0 },
    ])
  })

  it('refuses what it cannot serve, saying why', () => {
    assert.throws(() => parseTemplate('seg-$Number.m4s'), /unclosed \$/)
    assert.throws(() => parseTemplate('$Foo$.m4s'), /unknown identifier \$Foo\$/)
    assert.throws(() => parseTemplate('$Time$.m4s'), /\$Time\$ is not supported/)
    assert.throws(() => parseTemplate('$SubNumber$.m4s'), /\$SubNumber\$ is not supported/)
    assert.throws(() => parseTemplate('$Number%5d$.m4s'), /%0<width>d/)
    assert.throws(() => parseTemplate('$Number%00d$.m4s'), /%0<width>d/)
    assert.throws(() => parseTemplate('$Number%017d$.m4s'), /%0<width>d/)
    assert.throws(() => parseTemplate('$RepresentationID%05d$/$Number$'), /takes no format tag/)
    assert.throws(() => compileTemplate('$Number$-$Number$'), /more than once/)
    assert.throws(() => compileTemplate('$RepresentationID$/$RepresentationID$-$Number$'), /more than once/)
  })
})

describe('parseTemplateNumber', () => {
  it('accepts exactly what printf %0<w>d writes', () => {
    assert.equal(parseTemplateNumber('00001', 5), 1)
    assert.equal(parseTemplateNumber('00000', 5), 0)
    assert.equal(parseTemplateNumber('123456', 5), 123456)
    assert.equal(parseTemplateNumber('7', 0), 7)
    assert.equal(parseTemplateNumber('0', 0), 0)
    assert.equal(parseTemplateNumber('9007199254740991', 0), Number.MAX_SAFE_INTEGER)
  })

  it('returns NaN for what printf could not have written', () => {
    assert.ok(Number.isNaN(parseTemplateNumber('001', 5)))
    assert.ok(Number.isNaN(parseTemplateNumber('0123456', 5)))
    assert.ok(Number.isNaN(parseTemplateNumber('07', 0)))
    assert.ok(Number.isNaN(parseTemplateNumber('00', 0)))
    assert.ok(Number.isNaN(parseTemplateNumber('9007199254740992', 0)))
    assert.ok(Number.isNaN(parseTemplateNumber('12345678901234567890', 0)))
  })
})

describe('compilePathMatcher', () => {
  it('classifies paths under the default templates', () => {
    const m = compilePathMatcher(DEFAULTS)
    assert.deepEqual(m.match('video/12.m4s'), { kind: 'media', rendition: 'video', number: 12 })
    assert.deepEqual(m.match('audio_en-2.x/0.m4s'), { kind: 'media', rendition: 'audio_en-2.x', number: 0 })
    assert.deepEqual(m.match('video/init.mp4'), { kind: 'init', rendition: 'video' })
    assert.deepEqual(m.match('manifest.mpd'), { kind: 'manifest', format: 'dash' })
    assert.deepEqual(m.match('hls/video.m3u8'), { kind: 'manifest', format: 'hls' })
    assert.deepEqual(m.match('captions/en.vtt'), { kind: 'other' })
    assert.deepEqual(m.match('a/b/12.m4s'), { kind: 'other' })
    assert.deepEqual(m.match('video/12.m4s.tmp'), { kind: 'other' })
    assert.deepEqual(m.match('video/x12.m4s'), { kind: 'other' })
    assert.deepEqual(m.match('/12.m4s'), { kind: 'other' })
    assert.deepEqual(m.match(''), { kind: 'other' })
  })

  it('marks media-shaped paths with impossible numbers as number NaN', () => {
    const m = compilePathMatcher({
      media: 'seg-$RepresentationID$-$Number%05d$.m4s',
      initialization: 'init.mp4',
    })
    const check = (path: string, rendition: string) => {
      const r = m.match(path)
      assert.equal(r.kind, 'media', path)
      if (r.kind !== 'media') return
      assert.equal(r.rendition, rendition)
      assert.ok(Number.isNaN(r.number), `${path} has number ${r.number}`)
    }
    check('seg-0-001.m4s', '0')
    check('seg-0-0123456.m4s', '0')
    check('seg-0-90071992547409930.m4s', '0')
    check('seg-0-9007199254740993.m4s', '0')
    assert.deepEqual(m.match('seg-0-00003.m4s'), { kind: 'media', rendition: '0', number: 3 })
    assert.deepEqual(m.match('seg-video-hd-123456.m4s'), {
      kind: 'media',
      rendition: 'video-hd',
      number: 123456,
    })
    assert.deepEqual(m.match('init.mp4'), { kind: 'init', rendition: '' })
    assert.deepEqual(m.match('init.mp4.bak'), { kind: 'other' })
  })

  it('unpadded $Number$ refuses leading zeros', () => {
    const m = compilePathMatcher(DEFAULTS)
    const r = m.match('video/007.m4s')
    assert.equal(r.kind, 'media')
    assert.ok(r.kind === 'media' && Number.isNaN(r.number))
  })

  it('handles $Bandwidth$, a number before the rendition, and no rendition at all', () => {
    const bw = compilePathMatcher({
      media: '$RepresentationID$_$Bandwidth$/$Number$.m4s',
      initialization: '$RepresentationID$_$Bandwidth$/init.mp4',
    })
    // The bandwidth is part of the rendition: it names the init segment and earlier segments.
    assert.deepEqual(bw.match('v1_3000000/5.m4s'), { kind: 'media', rendition: 'v1@3000000', number: 5 })
    assert.deepEqual(bw.match('v1_3000000/init.mp4'), { kind: 'init', rendition: 'v1@3000000' })
    assert.deepEqual(bw.match('v1_abc/5.m4s'), { kind: 'other' })
    // A bandwidth the template cannot write names no segment.
    assert.deepEqual(bw.match('v1_03000000/5.m4s'), { kind: 'media', rendition: 'v1', number: Number.NaN })

    const numFirst = compilePathMatcher({
      media: '$Number$-$RepresentationID$.m4s',
      initialization: 'i-$RepresentationID$.m4s',
    })
    assert.deepEqual(numFirst.match('42-audio.m4s'), { kind: 'media', rendition: 'audio', number: 42 })
    assert.deepEqual(numFirst.match('i-audio.m4s'), { kind: 'init', rendition: 'audio' })

    const single = compilePathMatcher({ media: 'chunk_$Number%03d$.ts', initialization: 'init.mp4' })
    assert.deepEqual(single.match('chunk_042.ts'), { kind: 'media', rendition: '', number: 42 })
    assert.deepEqual(single.match('chunk_1042.ts'), { kind: 'media', rendition: '', number: 1042 })
  })

  it('matches a literal $ written as $$', () => {
    const m = compilePathMatcher({ media: 'a$$b-$Number$.m4s', initialization: 'init$$.mp4' })
    assert.deepEqual(m.match('a$b-5.m4s'), { kind: 'media', rendition: '', number: 5 })
    assert.deepEqual(m.match('init$.mp4'), { kind: 'init', rendition: '' })
    assert.deepEqual(m.match('a$$b-5.m4s'), { kind: 'other' })
  })

  it('treats regex metacharacters in templates literally', () => {
    const m = compilePathMatcher({ media: 'x.y+$Number$.m4s', initialization: 'init.mp4' })
    assert.deepEqual(m.match('x.y+3.m4s'), { kind: 'media', rendition: '', number: 3 })
    assert.deepEqual(m.match('xzyy3.m4s'), { kind: 'other' })
    assert.deepEqual(m.match('initzmp4'), { kind: 'other' })
  })

  it('without templates knows manifests only', () => {
    const m = compilePathMatcher(undefined)
    assert.deepEqual(m.match('video/12.m4s'), { kind: 'other' })
    assert.deepEqual(m.match('live.m3u8'), { kind: 'manifest', format: 'hls' })
    assert.deepEqual(m.match('live.mpd'), { kind: 'manifest', format: 'dash' })
  })

  it('refuses a media template without $Number$ and an init template with one', () => {
    assert.throws(
      () => compilePathMatcher({ media: '$RepresentationID$/x.m4s', initialization: 'i.mp4' }),
      /no \$Number\$/,
    )
    assert.throws(
      () => compilePathMatcher({ media: '$Number$.m4s', initialization: 'i-$Number$.mp4' }),
      /has \$Number\$/,
    )
  })
})

describe('compilePathMatcher edges', () => {
  it('anchors the media pattern at the end: a suffix repeated or extended is not a segment', () => {
    const m = compilePathMatcher(DEFAULTS)
    assert.deepEqual(m.match('video/12.m4s.m4s'), { kind: 'other' })
    assert.deepEqual(m.match('video/12.m4s12.m4s'), { kind: 'other' })
    assert.deepEqual(m.match('video/init.mp4.mp4'), { kind: 'other' })
    const single = compilePathMatcher({ media: 'chunk_$Number$.ts', initialization: 'init.mp4' })
    assert.deepEqual(single.match('chunk_1.ts'), { kind: 'media', rendition: '', number: 1 })
    assert.deepEqual(single.match('chunk_1.ts/chunk_2.ts'), { kind: 'other' })
    assert.deepEqual(single.match('xchunk_1.ts'), { kind: 'other' })
  })

  it('keeps the rendition inside one path segment', () => {
    const m = compilePathMatcher(DEFAULTS)
    assert.deepEqual(m.match('a/b/init.mp4'), { kind: 'other' })
    assert.deepEqual(m.match('a/b/12.m4s'), { kind: 'other' })
    assert.deepEqual(m.match('/init.mp4'), { kind: 'other' })
    assert.deepEqual(m.match('b/init.mp4'), { kind: 'init', rendition: 'b' })
  })

  it('takes only .mpd and .m3u8 endings as manifests, also for templates without extension', () => {
    // Paths ending in "d" or "8" that are not manifests.
    const repLast = compilePathMatcher({
      media: '$Number$/$RepresentationID$',
      initialization: 'i/$RepresentationID$',
    })
    assert.deepEqual(repLast.match('12/hd'), { kind: 'media', rendition: 'hd', number: 12 })
    assert.deepEqual(repLast.match('12/m3u8'), { kind: 'media', rendition: 'm3u8', number: 12 })
    assert.deepEqual(repLast.match('i/hd'), { kind: 'init', rendition: 'hd' })
    assert.deepEqual(repLast.match('12/x.mpd'), { kind: 'manifest', format: 'dash' })
    const numLast = compilePathMatcher({ media: '$RepresentationID$/$Number$', initialization: 'init' })
    assert.deepEqual(numLast.match('video/128'), { kind: 'media', rendition: 'video', number: 128 })
    assert.deepEqual(numLast.match('video/mpd'), { kind: 'other' })
    assert.deepEqual(numLast.match('video/x.m3u8'), { kind: 'manifest', format: 'hls' })
    assert.deepEqual(numLast.match('init'), { kind: 'init', rendition: '' })
    const bare = compilePathMatcher(undefined)
    assert.deepEqual(bare.match('hd'), { kind: 'other' })
    assert.deepEqual(bare.match('128'), { kind: 'other' })
    assert.deepEqual(bare.match('x.m3u8.mpd'), { kind: 'manifest', format: 'dash' })
    assert.deepEqual(bare.match('mpd'), { kind: 'other' })
    assert.deepEqual(bare.match('m3u8'), { kind: 'other' })
  })

  it('accepts widths 1 to 16 exactly', () => {
    assert.deepEqual(parseTemplate('$Number%01d$'), [{ kind: 'number', width: 1 }])
    assert.deepEqual(parseTemplate('$Number%016d$'), [{ kind: 'number', width: 16 }])
    assert.deepEqual(parseTemplate('$Bandwidth%09d$'), [{ kind: 'bandwidth', width: 9 }])
    const w1 = compilePathMatcher({ media: 's$Number%01d$', initialization: 'i' })
    assert.deepEqual(w1.match('s0'), { kind: 'media', rendition: '', number: 0 })
    assert.deepEqual(w1.match('s7'), { kind: 'media', rendition: '', number: 7 })
    assert.deepEqual(w1.match('s12'), { kind: 'media', rendition: '', number: 12 })
    const r = w1.match('s07')
    assert.ok(r.kind === 'media' && Number.isNaN(r.number))
    const w16 = compilePathMatcher({ media: 's$Number%016d$', initialization: 'i' })
    assert.deepEqual(w16.match('s0000000000000001'), { kind: 'media', rendition: '', number: 1 })
    assert.deepEqual(w16.match('s9007199254740991'), { kind: 'media', rendition: '', number: 2 ** 53 - 1 })
    const short = w16.match('s000000000000001')
    assert.ok(short.kind === 'media' && Number.isNaN(short.number))
    assert.equal(renderMediaPath({ media: 's$Number%016d$' }, 'r', 1), 's0000000000000001')
    assert.equal(renderMediaPath({ media: 's$Number%01d$' }, 'r', 0), 's0')
  })

  it('refuses format tags with anything around %0<w>d', () => {
    for (const tag of ['%05dx', '%05d ', '%x05d', '%05', '%0d', '%-5d', '%05x', '%05dd', '%0 5d']) {
      assert.throws(() => parseTemplate(`$Number${tag}$.m4s`), /must be %0<width>d with width 1-16/, tag)
    }
  })

  it('refuses a format tag with anything before %0<w>d', () => {
    assert.throws(() => parseTemplate('$Number%x%05d$.m4s'), /must be %0<width>d/)
    assert.throws(() => parseTemplate('$Bandwidth%%05d$'), /must be %0<width>d/)
  })

  it('records the fixed text every matching path starts and ends with', () => {
    const t = compileTemplate('seg-$RepresentationID$-$Number$.m4s')
    assert.deepEqual([t.prefix, t.suffix], ['seg-', '.m4s'])
    assert.deepEqual([compileTemplate('$Number$').prefix, compileTemplate('$Number$').suffix], ['', ''])
    assert.deepEqual([compileTemplate('a$Number$').prefix, compileTemplate('a$Number$').suffix], ['a', ''])
    assert.deepEqual([compileTemplate('$Number$b').prefix, compileTemplate('$Number$b').suffix], ['', 'b'])
    // An empty template has no parts: it matches only the empty path.
    assert.deepEqual([compileTemplate('').prefix, compileTemplate('').suffix], ['', ''])
    assert.ok(compileTemplate('').pattern.test(''))
    // A template that is one literal: the prefix is all of it, no suffix (it would be counted twice).
    assert.deepEqual(
      [compileTemplate('init.mp4').prefix, compileTemplate('init.mp4').suffix],
      ['init.mp4', ''],
    )
    assert.deepEqual(
      [
        compileTemplate('$RepresentationID$/$Number$').representationFirst,
        compileTemplate('$Number$').hasNumber,
      ],
      [true, true],
    )
  })

  it('names an init segment without a rendition when the init template has other identifiers', () => {
    const m = compilePathMatcher({ media: '$Number$.m4s', initialization: 'init-$Bandwidth$.mp4' })
    assert.deepEqual(m.match('init-500.mp4'), { kind: 'init', rendition: '@500' })
    assert.deepEqual(m.match('init-x.mp4'), { kind: 'other' })
  })

  it('parses numbers exactly at the limits of a digit run', () => {
    assert.equal(parseTemplateNumber('x0012y', 4, 1, 5), 12)
    assert.ok(Number.isNaN(parseTemplateNumber('x0012y', 5, 1, 5)))
    assert.ok(Number.isNaN(parseTemplateNumber('', 0)))
    assert.equal(parseTemplateNumber('1234567890123456', 0), 1234567890123456)
    assert.ok(Number.isNaN(parseTemplateNumber('00000000000000001', 17)))
    assert.equal(parseTemplateNumber('0000000000000001', 16), 1)
  })
})

describe('renderMediaPath / renderInitPath', () => {
  const cfg = {
    media: 'seg-$RepresentationID$-$Number%05d$.m4s',
    initialization: 'init-$RepresentationID$.m4s',
  }

  it('renders what a packager writes', () => {
    assert.equal(renderMediaPath(cfg, '0', 3), 'seg-0-00003.m4s')
    assert.equal(renderMediaPath(cfg, '0', 123456), 'seg-0-123456.m4s')
    assert.equal(renderInitPath(cfg, '2'), 'init-2.m4s')
    assert.equal(
      renderMediaPath({ media: '$RepresentationID$_$Bandwidth$/$Number$.m4s' }, 'v', 7, 800000),
      'v_800000/7.m4s',
    )
  })

  it('round-trips through the matcher for every number in a range', () => {
    for (const c of [
      cfg,
      DEFAULTS,
      { media: '$Number%03d$-$RepresentationID$.m4s', initialization: 'i.mp4' },
    ]) {
      const m = compilePathMatcher(c)
      for (let n = 0; n < 2000; n += 7) {
        assert.deepEqual(m.match(renderMediaPath(c, 'r1', n)), { kind: 'media', rendition: 'r1', number: n })
      }
      const big = Number.MAX_SAFE_INTEGER
      assert.deepEqual(m.match(renderMediaPath(c, 'r1', big)), {
        kind: 'media',
        rendition: 'r1',
        number: big,
      })
    }
  })

  it('accepts exactly the paths the template renders (random paths)', () => {
    // Deterministic PRNG, so that a failure reproduces.
    let seed = 12345
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % n
    }
    const alphabet = 'seg-0123456789.m4s/v_'
    for (const c of [cfg, DEFAULTS]) {
      const m = compilePathMatcher(c)
      let media = 0
      for (let i = 0; i < 20_000; i++) {
        let path = rand(2) === 0 ? 'seg-' : ''
        const len = 1 + rand(12)
        for (let j = 0; j < len; j++) path += alphabet[rand(alphabet.length)]
        if (rand(2) === 0) path += '.m4s'
        const r = m.match(path)
        if (r.kind !== 'media') continue
        media++
        if (Number.isNaN(r.number)) {
          assert.notEqual(renderMediaPath(c, r.rendition, Number(path.match(/(\d+)\.m4s$/)?.[1])), path, path)
        } else {
          assert.equal(renderMediaPath(c, r.rendition, r.number), path, path)
        }
      }
      assert.ok(media > 50, `only ${media} media-shaped paths generated`)
    }
  })

  it('renders back every rendition the matcher names, the bandwidth included', () => {
    for (const c of [
      { media: '$Bandwidth$/$Number%05d$.m4s', initialization: '$Bandwidth$/init.mp4' },
      {
        media: '$RepresentationID$_$Bandwidth%08d$/$Number$.m4s',
        initialization: '$RepresentationID$/init.mp4',
      },
      { media: '$Bandwidth$/s-$Bandwidth$-$Number$.m4s', initialization: 'init.mp4' },
    ]) {
      const m = compilePathMatcher(c)
      for (const [bandwidth, n] of [
        [800_000, 1],
        [64_000, 123_456],
      ] as const) {
        const path = renderMediaPath(c, 'v', n, bandwidth)
        const r = m.match(path)
        assert.ok(r.kind === 'media', path)
        assert.equal(r.number, n)
        assert.equal(renderMediaPath(c, r.rendition, r.number), path)
        assert.equal(renderInitPath(c, r.rendition), renderInitPath(c, 'v', bandwidth))
      }
    }
    // Every $Bandwidth$ of a path must hold the same value.
    const twice = compilePathMatcher({
      media: '$Bandwidth$/s-$Bandwidth$-$Number$.m4s',
      initialization: 'i.mp4',
    })
    assert.deepEqual(twice.match('5/s-6-1.m4s'), { kind: 'media', rendition: '@5', number: Number.NaN })
  })

  it('names no init segment for a rendition its segments do not identify', () => {
    assert.equal(initPathOf({ initialization: 'init-$RepresentationID$.mp4' }, ''), undefined)
    assert.equal(initPathOf({ initialization: 'init-$Bandwidth$.mp4' }, 'v'), undefined)
    assert.equal(
      initPathOf({ initialization: 'init-$RepresentationID$-$Bandwidth$.mp4' }, 'v@96000'),
      'init-v-96000.mp4',
    )
    assert.equal(initPathOf({ initialization: 'init.mp4' }, 'v@96000'), 'init.mp4')
  })

  it('says which value is missing', () => {
    const t = compileTemplate('$RepresentationID$/$Number$')
    assert.throws(
      () => renderTemplate(t, { number: 1 }),
      /^TypeError: template \$RepresentationID\$\/\$Number\$ needs a rendition without '\/'$/,
    )
    assert.throws(
      () => renderTemplate(t, { rendition: 'v' }),
      /^TypeError: template \$RepresentationID\$\/\$Number\$ needs a non-negative integer number, got undefined$/,
    )
    assert.throws(
      () => renderTemplate(compileTemplate('$Bandwidth$'), { bandwidth: -1 }),
      /needs a non-negative integer bandwidth, got -1$/,
    )
    assert.equal(renderInitPath({ initialization: 'i-$Bandwidth%03d$.mp4' }, 'v', 8), 'i-008.mp4')
    assert.equal(renderInitPath({ initialization: '$RepresentationID$/init.mp4' }, 'v'), 'v/init.mp4')
  })

  it('refuses values the template cannot render', () => {
    assert.throws(() => renderMediaPath(cfg, '0', -1), TypeError)
    assert.throws(() => renderMediaPath(cfg, '0', 1.5), TypeError)
    assert.throws(() => renderMediaPath(cfg, '', 1), TypeError)
    assert.throws(() => renderMediaPath(cfg, 'a/b', 1), TypeError)
    assert.throws(() => renderMediaPath({ media: '$Bandwidth$/$Number$.m4s' }, 'v', 1), /bandwidth/)
  })
})

describe('the fixture files of test/fixtures/dash', () => {
  const dir = fileURLToPath(new URL('../fixtures/dash/', import.meta.url))
  const files = readdirSync(dir)
  const m = compilePathMatcher({
    media: 'seg-$RepresentationID$-$Number%05d$.m4s',
    initialization: 'init-$RepresentationID$.m4s',
  })

  it('are all recognised, with the rendition and number of their names', () => {
    assert.ok(files.length > 10)
    for (const f of files) {
      const seg = /^seg-(\d+)-(\d{5})\.m4s$/.exec(f)
      const init = /^init-(\d+)\.m4s$/.exec(f)
      if (seg) assert.deepEqual(m.match(f), { kind: 'media', rendition: seg[1], number: Number(seg[2]) }, f)
      else if (init) assert.deepEqual(m.match(f), { kind: 'init', rendition: init[1] }, f)
      else assert.deepEqual(m.match(f), { kind: 'manifest', format: 'dash' }, f)
    }
  })
})
