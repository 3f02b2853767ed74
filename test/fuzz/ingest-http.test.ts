/**
 * Fuzzing ingest through HTTP on a real origin (fewer runs: each is a few requests): random
 * object names, `Segment-Defects` values, bodies around the manifest and object limits,
 * declared lengths that lie. Invariant: a refused PUT stores nothing, and an accepted one
 * is served back byte for byte; the origin keeps answering throughout.
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'
import { params } from './helpers.js'

const MAX_MANIFEST = 2048
const MAX_OBJECT = 16 * 1024

interface Answer {
  status: number
  body: Buffer
}

function send(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<Answer> {
  const { port } = new URL(base)
  return new Promise((resolve, reject) => {
    let req: ReturnType<typeof request>
    try {
      req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
        const parts: Buffer[] = []
        res.on('data', (d: Buffer) => parts.push(d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }))
        res.on('error', reject)
      })
    } catch (err) {
      reject(err)
      return
    }
    // A refused upload may be closed before its body is written.
    req.on('error', (err) => resolve({ status: -1, body: Buffer.from(String(err)) }))
    req.end(body)
  })
}

const segment = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/),
  fc.constantFrom('..', '.', '%2e%2e', 'a%2Fb', '', 'x'.repeat(300), 'é', 'a b'),
)
const name = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('fz1', 'fz2', 'Bad Channel', '-x'),
      fc.array(segment, { minLength: 1, maxLength: 3 }),
      fc.constantFrom('.m4s', '.mpd', '.m3u8', '.bin', ''),
    )
    .map(([c, parts, ext]) => `/${c}/${parts.join('/')}${ext}`),
  fc.constantFrom('/fz1/manifest.mpd', '/fz1/index.m3u8', '/fz1/v/1.m4s', '/fz2/a.bin'),
)
const defects = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom(
    'black',
    'short;ms=40, frozen',
    'corrupt;reason="x"',
    '(inner list)',
    '1bad',
    `k${'x'.repeat(70)}`,
    'a,,b',
  ),
  fc.array(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), { maxLength: 70 }).map((k) => k.join(', ')),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }).filter((s) => !/[\r\n\0]/.test(s)),
)
const bodySize = fc.oneof(
  fc.integer({ min: 0, max: 64 }),
  fc.constantFrom(MAX_MANIFEST - 1, MAX_MANIFEST, MAX_MANIFEST + 1, MAX_OBJECT, MAX_OBJECT + 1),
  fc.integer({ min: 0, max: MAX_OBJECT + 100 }),
)

describe('fuzz: ingest through HTTP', () => {
  let origin: TestOrigin
  before(async () => {
    origin = await startOrigin({
      'ingest.maxManifestBytes': MAX_MANIFEST,
      'ingest.maxObjectBytes': MAX_OBJECT,
    })
  })
  after(() => origin.close())

  it('a refused PUT stores nothing; an accepted one is served back as sent', async () => {
    const stored = new Map<string, Buffer>()
    await fc.assert(
      fc.asyncProperty(name, defects, bodySize, fc.nat(255), async (path, defectsHeader, size, fill) => {
        const body = Buffer.alloc(size, fill)
        const headers: Record<string, string> = { 'Pipeline-Id': 'east', 'Content-Length': String(size) }
        if (defectsHeader !== undefined) headers['Segment-Defects'] = defectsHeader
        let put: Answer
        try {
          put = await send(origin.ingest, 'PUT', path, headers, body)
        } catch (err) {
          // The client library refused the request line itself: nothing reached the origin.
          if (
            ['ERR_UNESCAPED_CHARACTERS', 'ERR_INVALID_CHAR'].includes((err as { code?: string }).code ?? '')
          )
            return
          throw err
        }
        if (put.status === 201 || put.status === 204) stored.set(path, body)
        else if (put.status >= 400 && put.body.length > 0) {
          const parsed = JSON.parse(put.body.toString()) as { error?: { code?: string } }
          assert.match(parsed.error?.code ?? '', /^LIVEORIGIN_ERR_/)
          assert.notEqual(put.status, 500, put.body.toString())
        }
        const got = await send(origin.delivery, 'GET', path, {})
        const expected = stored.get(path)
        if (expected === undefined)
          assert.notEqual(got.status, 200, `${path} answered ${put.status} yet is served`)
        else {
          assert.equal(got.status, 200, `${path}: stored copy not served (${got.status})`)
          assert.ok(got.body.equals(expected), `${path}: served bytes differ from the last accepted PUT`)
        }
      }),
      params(150),
    )
  })
})
