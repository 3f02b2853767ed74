import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isLiveOriginError } from '../../src/errors.js'
import {
  countDefects,
  defectKinds,
  defectRank,
  KNOWN_DEFECT_KINDS,
  kindSeverity,
  MAX_DEFECTS,
  mergeDefects,
  parseDefects,
  SEVERITY,
  serializeDefects,
} from '../../src/selection/defects.js'
import type { Defect } from '../../src/selection/types.js'

function badHeader(fn: () => unknown, why: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isLiveOriginError(err))
    assert.equal(err.code, 'LIVEORIGIN_ERR_BAD_HEADER')
    assert.equal(err.status, 400)
    assert.match(err.message, /Segment-Defects/)
    assert.match(err.message, why)
    return true
  })
}

describe('parseDefects', () => {
  it('parses the example of docs/protocol.md', () => {
    assert.deepEqual(parseDefects('missing-frames;count=12, timing-discontinuity;ms=40'), [
      { kind: 'missing-frames', params: { count: 12 }, source: 'packager' },
      { kind: 'timing-discontinuity', params: { ms: 40 }, source: 'packager' },
    ])
  })

  it('reads an empty or blank header as no defects', () => {
    assert.deepEqual(parseDefects(''), [])
    assert.deepEqual(parseDefects('   '), [])
    assert.deepEqual(parseDefects(undefined), [])
  })

  it('accepts every known kind and keeps unknown tokens as defects', () => {
    const all = parseDefects([...KNOWN_DEFECT_KINDS, 'lipsync-drift'].join(', '))
    assert.deepEqual(
      all.map((d) => d.kind),
      [...KNOWN_DEFECT_KINDS, 'lipsync-drift'],
    )
    assert.equal(countDefects(all), KNOWN_DEFECT_KINDS.length + 1)
  })

  it('turns parameter values into plain strings, numbers and booleans', () => {
    // structured-headers 2.1 cannot parse a date that is followed by anything: keep it last.
    const [d] = parseDefects(
      'black;ratio=0.25;where="top left";tok=abc;flag;off=?0;raw=:aGk=:;at=@1700000000',
    )
    assert.deepEqual(d!.params, {
      ratio: 0.25,
      where: 'top left',
      tok: 'abc',
      flag: true,
      off: false,
      raw: 'aGk=',
      at: 1700000000,
    })
  })

  it('reads the origin parameter as the source and keeps it out of params', () => {
    assert.deepEqual(parseDefects('short;ms=120;origin, black'), [
      { kind: 'short', params: { ms: 120 }, source: 'origin' },
      { kind: 'black', params: {}, source: 'packager' },
    ])
  })

  it("takes only origin=?1 (bare `;origin`) as origin-found: ?0 and non-boolean values are the packager's", () => {
    assert.deepEqual(parseDefects('short;origin=?0'), [{ kind: 'short', params: {}, source: 'packager' }])
    assert.deepEqual(parseDefects('short;origin=?1'), [{ kind: 'short', params: {}, source: 'origin' }])
    assert.deepEqual(parseDefects('short;origin=1'), [{ kind: 'short', params: {}, source: 'packager' }])
    assert.deepEqual(parseDefects('short;origin="yes"'), [{ kind: 'short', params: {}, source: 'packager' }])
    assert.deepEqual(parseDefects('short;origin=?0;ms=5, black;origin'), [
      { kind: 'short', params: { ms: 5 }, source: 'packager' },
      { kind: 'black', params: {}, source: 'origin' },
    ])
    // A repeated parameter: the last value wins (RFC 9651 §4.2.3.2).
    assert.equal(parseDefects('short;origin;origin=?0')[0]!.source, 'packager')
    assert.equal(parseDefects('short;origin=?0;origin')[0]!.source, 'origin')
  })

  it('reads integers up to 15 digits and decimals up to 12.3 digits, refusing longer ones', () => {
    assert.deepEqual(parseDefects('k;n=999999999999999;m=-999999999999999;d=999999999999.999')[0]!.params, {
      n: 999_999_999_999_999,
      m: -999_999_999_999_999,
      d: 999_999_999_999.999,
    })
    badHeader(() => parseDefects('k;n=1000000000000000'), /structured-field List/)
    badHeader(() => parseDefects('k;d=1.2345'), /structured-field List/)
  })

  it('refuses malformed values with 400 BAD_HEADER', () => {
    badHeader(() => parseDefects('short,,black'), /structured-field List/)
    badHeader(() => parseDefects('short;'), /structured-field List/)
    badHeader(() => parseDefects('1short'), /structured-field List/)
    badHeader(() => parseDefects('short;Ms=1'), /structured-field List/)
    badHeader(() => parseDefects('short black'), /structured-field List/)
    badHeader(() => parseDefects('"short"'), /member 1 is not a token/)
    badHeader(() => parseDefects('black, 42'), /member 2 is not a token/)
    badHeader(() => parseDefects('(short black)'), /member 1 is an inner list/)
    badHeader(() => parseDefects('sh\u00f6rt'), /structured-field List/)
  })

  it(`refuses more than ${MAX_DEFECTS} defects`, () => {
    const many = Array.from({ length: MAX_DEFECTS + 1 }, (_, i) => `d${i}`).join(', ')
    badHeader(() => parseDefects(many), /more than 64/)
    assert.equal(
      parseDefects(Array.from({ length: MAX_DEFECTS }, (_, i) => `d${i}`).join(', ')).length,
      MAX_DEFECTS,
    )
  })
})

describe('serializeDefects', () => {
  it('writes nothing for no defects', () => {
    assert.equal(serializeDefects([]), '')
  })

  it('writes packager defects as given and marks origin ones', () => {
    const defects: Defect[] = [
      { kind: 'missing-frames', params: { count: 12 }, source: 'packager' },
      { kind: 'timing-discontinuity', params: { ms: -40, track: 1 }, source: 'origin' },
      { kind: 'corrupt', params: { reason: 'the "moof" at byte 0 \\ broken' }, source: 'origin' },
    ]
    const header = serializeDefects(defects)
    assert.equal(
      header,
      'missing-frames;count=12, timing-discontinuity;ms=-40;track=1;origin, corrupt;reason="the \\"moof\\" at byte 0 \\\\ broken";origin',
    )
    assert.deepEqual(parseDefects(header), defects)
  })

  it('round-trips every parameter type it produces', () => {
    const defects: Defect[] = [
      { kind: 'black', params: { ratio: 0.125, yes: true, no: false, n: -7, s: 'x y' }, source: 'packager' },
      { kind: 'x-vendor:thing', params: {}, source: 'origin' },
    ]
    assert.deepEqual(parseDefects(serializeDefects(defects)), defects)
  })

  it('writes non-ASCII strings as display strings and drops numbers it cannot write', () => {
    const header = serializeDefects([
      {
        kind: 'slate',
        params: { text: 'Pause café', inf: Number.POSITIVE_INFINITY, huge: 1e16 },
        source: 'packager',
      },
    ])
    assert.equal(header, 'slate;text=%"Pause caf%c3%a9"')
    assert.deepEqual(parseDefects(header)[0]!.params, { text: 'Pause café' })
  })

  it('keeps integers within ±999,999,999,999,999 and drops larger ones', () => {
    const one = (v: number) => serializeDefects([{ kind: 'k', params: { v }, source: 'packager' }])
    assert.equal(one(999_999_999_999_999), 'k;v=999999999999999')
    assert.equal(one(-999_999_999_999_999), 'k;v=-999999999999999')
    assert.equal(one(1e15), 'k')
    assert.equal(one(-1e15), 'k')
    assert.equal(one(Number.NaN), 'k')
    assert.equal(one(Number.NEGATIVE_INFINITY), 'k')
    assert.equal(one(0), 'k;v=0')
  })

  it('writes fractions as decimals of three digits, and as integers from 10^12 on', () => {
    const one = (v: number) => serializeDefects([{ kind: 'k', params: { v }, source: 'packager' }])
    assert.equal(one(0.1234), 'k;v=0.123')
    assert.equal(one(-2.5), 'k;v=-2.5')
    assert.equal(one(999_999_999_999.5), 'k;v=999999999999.5')
    assert.equal(one(-999_999_999_999.5), 'k;v=-999999999999.5')
    assert.equal(one(1e12 + 0.5), 'k;v=1000000000001')
    assert.equal(one(-1e12 - 0.25), 'k;v=-1000000000000')
    assert.equal(one(2.5e12 + 0.25), 'k;v=2500000000000')
    assert.equal(one(1e12), 'k;v=1000000000000')
    // What is written parses back (the decimal rule of RFC 9651 holds).
    for (const v of [999_999_999_999.5, 1e12 + 0.5, 0.1234, -1e12 - 0.25]) parseDefects(one(v))
  })

  it('never lets a params key named origin decide the source', () => {
    const header = serializeDefects([{ kind: 'black', params: { origin: true }, source: 'packager' }])
    assert.equal(header, 'black')
  })

  it('throws a TypeError for a kind that is not a token', () => {
    assert.throws(() => serializeDefects([{ kind: 'two words', params: {}, source: 'origin' }]), TypeError)
    assert.throws(() => serializeDefects([{ kind: 'ok', params: { Bad: 1 }, source: 'origin' }]), TypeError)
  })
})

describe('mergeDefects', () => {
  const p = (kind: string, params: Defect['params'] = {}): Defect => ({ kind, params, source: 'packager' })
  const o = (kind: string, params: Defect['params'] = {}): Defect => ({ kind, params, source: 'origin' })

  it('keeps the packager report, then adds what only the origin found', () => {
    const merged = mergeDefects(
      [p('black'), p('timing-discontinuity', { ms: 40 })],
      [o('timing-discontinuity', { ms: 38 }), o('short', { ms: 200 })],
    )
    assert.deepEqual(merged, [p('black'), p('timing-discontinuity', { ms: 40 }), o('short', { ms: 200 })])
    assert.equal(countDefects(merged), 3)
  })

  it('removes duplicates inside one list and relabels sources by position', () => {
    const merged = mergeDefects([o('black'), p('black', { n: 2 })], [p('corrupt'), o('corrupt')])
    assert.deepEqual(merged, [p('black'), o('corrupt')])
  })

  it('survives the header round trip that ingest and delivery do', () => {
    const stored = serializeDefects(mergeDefects(parseDefects('missing-frames;count=3'), [o('slate')]))
    assert.equal(stored, 'missing-frames;count=3, slate;origin')
    assert.deepEqual(defectKinds(stored), ['missing-frames', 'slate'])
  })
})

describe('countDefects', () => {
  it('counts distinct kinds in every form a candidate carries', () => {
    assert.equal(countDefects(''), 0)
    assert.equal(countDefects('black, black;origin, short'), 2)
    assert.equal(countDefects([]), 0)
    assert.equal(countDefects(3), 3)
  })

  it('counts an unreadable stored value as one defect', () => {
    assert.equal(countDefects('((('), 1)
    assert.deepEqual(defectKinds('((('), ['corrupt'])
    assert.deepEqual(defectKinds(''), [])
  })
})

describe('severity', () => {
  it('each known kind has its severity; unknown kinds are structural', () => {
    const expected: Record<string, number> = {
      corrupt: 4,
      'missing-samples': 3,
      'timing-discontinuity': 2,
      short: 2,
      'missing-frames': 2,
      black: 1,
      frozen: 1,
      silence: 1,
      slate: 1,
      filler: 1,
    }
    for (const [kind, severity] of Object.entries(expected)) assert.equal(kindSeverity(kind), severity, kind)
    assert.deepEqual(SEVERITY, { none: 0, cosmetic: 1, timing: 2, structural: 3, undecodable: 4 })
    assert.equal(kindSeverity('x-vendor-glitch'), SEVERITY.structural)
    // A name of Object.prototype is not a known kind.
    assert.equal(kindSeverity('toString'), SEVERITY.structural)
    assert.equal(kindSeverity('constructor'), SEVERITY.structural)
  })

  it('a copy ranks by its worst defect, then by its number of distinct kinds', () => {
    assert.deepEqual(defectRank(''), { severity: 0, count: 0 })
    assert.deepEqual(defectRank([]), { severity: 0, count: 0 })
    assert.deepEqual(defectRank('black;origin'), { severity: 1, count: 1 })
    assert.deepEqual(defectRank('black;origin, short;ms=120;origin'), { severity: 2, count: 2 })
    assert.deepEqual(defectRank('short;ms=120;origin, black;origin'), { severity: 2, count: 2 })
    assert.deepEqual(defectRank('corrupt;origin, black'), { severity: 4, count: 2 })
    const list: Defect[] = [
      { kind: 'frozen', params: {}, source: 'packager' },
      { kind: 'frozen', params: {}, source: 'origin' },
      { kind: 'missing-samples', params: {}, source: 'origin' },
    ]
    assert.deepEqual(defectRank(list), { severity: 3, count: 2 })
  })

  it('a bare count is structural when above 0', () => {
    assert.deepEqual(defectRank(0), { severity: 0, count: 0 })
    assert.deepEqual(defectRank(2), { severity: 3, count: 2 })
  })
})
