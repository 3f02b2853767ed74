/**
 * Fuzzing the parsers of request lines and headers: object names (`src/http/names.ts`) and
 * `Segment-Defects` (`src/selection/defects.ts`). They may only answer with a catalogued
 * 400 error; what they accept must survive a round trip.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { parseObjectName } from '../../src/http/names.js'
import { checkDefectKinds } from '../../src/ingest/defect-labels.js'
import { parseDefects, serializeDefects } from '../../src/selection/defects.js'
import { bounded, params } from './helpers.js'

const pathChar = fc.constantFrom(..."abcAZ09._-/%?&=#~ \\:@!$'()*+,;\u00e9\u0000\u007f".split(''))
const pathLike = fc.oneof(
  fc.string({ unit: pathChar, maxLength: 80 }).map((s) => `/${s}`),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc
    .array(
      fc.oneof(
        fc.constantFrom('.', '..', '', '%2e', '%2F', 'seg', 'a'.repeat(256)),
        fc.string({ maxLength: 12 }),
      ),
      {
        maxLength: 8,
      },
    )
    .map((parts) => `/${parts.join('/')}`),
)

describe('fuzz: object names', () => {
  it('parseObjectName answers a name or a catalogued 400, never more', () => {
    fc.assert(
      fc.property(pathLike, fc.boolean(), (target, allowQuery) => {
        const { value, error } = bounded('parseObjectName', () => parseObjectName(target, allowQuery))
        if (error) return
        assert.ok(value)
        // An accepted name never climbs out of its channel and names a channel and a path.
        assert.ok(!value.path.split('/').some((s) => s === '..' || s === '.' || s === ''), value.path)
        assert.ok(value.channel.length > 0)
      }),
      params(3000),
    )
  })
})

const sfToken = fc.stringMatching(/^[a-z*][a-z0-9_\-.:%*/]{0,30}$/)
const sfParam = fc.tuple(
  fc.stringMatching(/^[a-z*][a-z0-9_\-.*]{0,10}$/),
  fc.oneof(
    fc.integer({ min: -999_999_999_999_999, max: 999_999_999_999_999 }).map(String),
    fc.double({ min: -1e12, max: 1e12, noNaN: true }).map((d) => d.toFixed(3)),
    fc.string({ maxLength: 10 }).map((s) => JSON.stringify(s)),
    sfToken,
    fc.constantFrom('?0', '?1', ':aGVsbG8=:', '@1700000000', '%"caf%c3%a9"'),
  ),
)
const sfMember = fc
  .tuple(sfToken, fc.array(sfParam, { maxLength: 4 }))
  .map(([t, ps]) => t + ps.map(([k, v]) => `;${k}=${v}`).join(''))
const defectsHeader = fc.oneof(
  fc.array(sfMember, { maxLength: 70 }).map((ms) => ms.join(', ')),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary-ascii', maxLength: 200 }),
  fc.array(fc.oneof(sfMember, fc.string({ maxLength: 8 })), { maxLength: 10 }).map((ms) => ms.join(',')),
)

describe('fuzz: Segment-Defects', () => {
  it('parseDefects answers defects or a catalogued 400; what it accepts serialises and parses back', () => {
    fc.assert(
      fc.property(defectsHeader, (header) => {
        const { value, error } = bounded('parseDefects', () => parseDefects(header))
        if (error) return
        assert.ok(value)
        bounded('checkDefectKinds', () => checkDefectKinds(value))
        const text = serializeDefects(value)
        const again = parseDefects(text)
        assert.deepEqual(
          again.map((d) => [d.kind, d.source]),
          value.map((d) => [d.kind, d.source]),
        )
      }),
      params(3000),
    )
  })
})
