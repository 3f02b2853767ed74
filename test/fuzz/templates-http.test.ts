/**
 * Fuzzing segment templates through HTTP on a real origin: a channel with random media and
 * init templates (any mix of `$RepresentationID$`, `$Number$`, `$Bandwidth$`, padded or not,
 * and words, in any order) is created, refused with a 400 naming a field, or never anything else;
 * when created, the init segment and a valid media segment PUT at the paths its templates
 * render are taken (never a 5xx) and the segment is served back byte for byte.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { renderInitPath, renderMediaPath } from '../../src/timing/template.js'
import { D, NO_SHEDDING, validCopy } from '../helpers/fixture-channel.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'
import { dashInit } from '../selection/helpers.js'
import { params } from './helpers.js'

const width = fc.oneof(
  fc.constant(''),
  fc.integer({ min: 1, max: 9 }).map((w) => `%0${w}d`),
)
const word = fc.constantFrom('seg', 'v', 'chunk', 'x.y')
const separator = fc.constantFrom('-', '_', '/', '.')
const bandwidth = width.map((w) => `$Bandwidth${w}$`)

/**
 * Pieces joined by separators into a template: two identifiers side by side (`$Bandwidth$$Number$`)
 * could be split in more than one way, which no matcher can tell apart, so they never touch.
 */
function joined(pieces: readonly string[], separators: readonly string[], ending: string): string {
  let out = pieces[0] ?? ''
  for (let i = 1; i < pieces.length; i++) out += separators[i % separators.length]! + pieces[i]
  return out + ending
}

/** A media template: one `$Number$`, maybe `$RepresentationID$`, up to two `$Bandwidth$`, words. */
const media = fc
  .tuple(
    width.map((w) => `$Number${w}$`),
    fc.option(fc.constant('$RepresentationID$'), { nil: undefined }),
    fc.array(bandwidth, { maxLength: 2 }),
    fc.array(word, { maxLength: 2 }),
    fc.array(separator, { minLength: 1, maxLength: 4 }),
    fc.nat(),
  )
  .map(([number, rep, bandwidths, words, separators, seed]) => {
    const pieces = [...words, ...(rep ? [rep] : []), ...bandwidths]
    // The number goes anywhere among the other pieces.
    pieces.splice(seed % (pieces.length + 1), 0, number)
    return joined(pieces, separators, '.m4s')
  })
/** An init template: no identifier, or some of those a media template may have (or lack). */
const initialization = fc.option(
  fc
    .tuple(
      fc.subarray(['$RepresentationID$', '$Bandwidth$', '$Bandwidth%03d$']),
      fc.array(separator, { minLength: 1, maxLength: 2 }),
    )
    .map(([pieces, separators]) => joined([...pieces, 'init'], separators, '.mp4')),
  { nil: undefined },
)

describe('fuzz: segment templates through HTTP', () => {
  let origin: TestOrigin
  before(async () => {
    origin = await startOrigin(NO_SHEDDING)
  })
  after(() => origin.close())

  let channels = 0
  it('a channel is created or refused naming a field; its own paths are taken and served', async () => {
    await fc.assert(
      fc.asyncProperty(
        media,
        initialization,
        // Letters and digits: a rendition with the separators' characters could be split elsewhere.
        fc.stringMatching(/^[A-Za-z0-9]{1,6}$/),
        fc.integer({ min: 1, max: 99_999_999 }),
        fc.integer({ min: 1, max: 10 }),
        async (mediaTemplate, initTemplate, rendition, bandwidth, n) => {
          const name = `tpl${++channels}`
          const config = {
            segmentDurationMs: D,
            // Segment n was due a little before now; a late allowance of a minute keeps it selectable.
            availabilityStartTime: Date.now() - 20_000,
            lateAllowanceMs: 60_000,
            media: mediaTemplate,
            ...(initTemplate === undefined ? {} : { initialization: initTemplate }),
          }
          const created = await fetch(`${origin.control}/api/v1/channels/${name}`, {
            method: 'PUT',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(config),
          })
          const answer = (await created.json()) as {
            error?: { code: string; message: string }
            config?: { media: string; initialization: string }
          }
          if (created.status === 400) {
            assert.equal(answer.error?.code, 'LIVEORIGIN_ERR_BAD_CONFIG')
            assert.match(answer.error?.message ?? '', /^invalid field (media|initialization): /)
            return
          }
          assert.equal(created.status, 201, JSON.stringify(answer))
          const templates = answer.config!
          const put = async (path: string, body: Uint8Array) => {
            const r = await fetch(`${origin.ingest}/${name}/${path}`, {
              method: 'PUT',
              body,
              headers: { 'Pipeline-Id': 'east' },
            })
            const text = await r.text()
            assert.ok(r.status === 201 || r.status === 204, `PUT ${path}: ${r.status} ${text}`)
          }
          let initPath: string | undefined
          try {
            initPath = renderInitPath(templates, rendition, bandwidth)
          } catch {
            // Not every media template names a rendition: then neither does the init template.
            initPath = renderInitPath(templates, '', bandwidth)
          }
          await put(initPath, dashInit(0))
          let segmentPath: string
          try {
            segmentPath = renderMediaPath(templates, rendition, n, bandwidth)
          } catch {
            segmentPath = renderMediaPath(templates, '', n, bandwidth)
          }
          const copy = validCopy(0, n, 'east')
          await put(segmentPath, copy)
          const got = await fetch(`${origin.delivery}/${name}/${segmentPath}`)
          const body = Buffer.from(await got.arrayBuffer())
          assert.equal(got.status, 200, `${segmentPath} of ${mediaTemplate}: ${body.toString()}`)
          assert.ok(body.equals(copy), `${segmentPath}: served bytes differ from the PUT`)
        },
      ),
      params(120),
    )
  })
})
