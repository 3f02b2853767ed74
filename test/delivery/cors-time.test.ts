import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, it } from 'node:test'
import { createChannel } from '../helpers/http.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

// The delivery clock is fixed, so that the time source's answer can be checked exactly.
const D = 1000
const NOW = Date.parse('2026-03-01T12:00:00.123Z')
const AST = NOW - 1000 * D
let origin: TestOrigin

/** What browser players and the contract read across origins. */
const MUST_EXPOSE = [
  'Date',
  'ETag',
  'Last-Modified',
  'Content-Range',
  'Cache-TTL-Ms',
  'Retry-After',
  'CMSD-Static',
  'CMSD-Dynamic',
  'Segment-Pipeline',
  'Segment-Defects',
]

before(async () => {
  origin = await startOrigin(
    { 'overload.storageLatencyMs': 10_000, 'overload.eventLoopDelayMs': 10_000 },
    { now: () => NOW },
  )
  // MPEG-TS segments are served as stored (fMP4 ones are inspected: random bytes are never served).
  await createChannel(origin, 'tv', {
    segmentDurationMs: D,
    availabilityStartTime: AST,
    media: '$RepresentationID$/$Number$.ts',
  })
  const put = await fetch(`${origin.ingest}/tv/v/999.ts`, {
    method: 'PUT',
    body: randomBytes(500),
    headers: { 'Pipeline-Id': 'east' },
  })
  assert.equal(put.status, 201)
})
after(() => origin.close())

function assertCors(r: Response, what: string): void {
  assert.equal(r.headers.get('access-control-allow-origin'), '*', what)
  const exposed = (r.headers.get('access-control-expose-headers') ?? '').split(/,\s*/)
  for (const name of MUST_EXPOSE) assert.ok(exposed.includes(name), `${what}: ${name} exposed`)
  assert.ok(r.headers.get('date'), `${what}: Date sent`)
}

it('the time source answers the delivery clock as ISO 8601, never cached, readable across origins', async () => {
  const r = await fetch(`${origin.delivery}/.well-known/time`)
  assert.equal(r.status, 200)
  assert.equal(await r.text(), '2026-03-01T12:00:00.123Z')
  assert.equal(r.headers.get('cache-control'), 'no-store')
  assert.equal(r.headers.get('cache-ttl-ms'), '0')
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain/)
  assertCors(r, 'time')

  const head = await fetch(`${origin.delivery}/.well-known/time`, { method: 'HEAD' })
  assert.equal(head.status, 200)
  assert.equal(await head.text(), '')
  assert.equal(head.headers.get('content-length'), '24', 'HEAD matches GET')

  const query = await fetch(`${origin.delivery}/.well-known/time?t=1`)
  assert.equal(await query.text(), '2026-03-01T12:00:00.123Z', 'a cache-busting query is ignored')

  const post = await fetch(`${origin.delivery}/.well-known/time`, { method: 'POST' })
  assert.equal(post.status, 405)
  assertCors(post, 'POST time')
})

it('every answer exposes Date and the contract headers: 200, 304, 206, 404, 410, 400, 405, OPTIONS', async () => {
  const ok = await fetch(`${origin.delivery}/tv/v/999.ts`)
  assert.equal(ok.status, 200)
  await ok.arrayBuffer()
  assertCors(ok, '200')
  const etag = ok.headers.get('etag')!

  const notModified = await fetch(`${origin.delivery}/tv/v/999.ts`, { headers: { 'If-None-Match': etag } })
  assert.equal(notModified.status, 304)
  assertCors(notModified, '304')

  const partial = await fetch(`${origin.delivery}/tv/v/999.ts`, { headers: { Range: 'bytes=0-9' } })
  assert.equal(partial.status, 206)
  await partial.arrayBuffer()
  assertCors(partial, '206')

  for (const [path, status] of [
    ['/nochannel/v/1.ts', 404],
    ['/tv/v/1.ts', 410],
    ['/tv/v/%2e.ts', 400],
    ['/.hidden/x', 400],
  ] as const) {
    const r = await fetch(`${origin.delivery}${path}`)
    assert.equal(r.status, status, path)
    await r.arrayBuffer()
    assertCors(r, `${status} ${path}`)
  }

  const put = await fetch(`${origin.delivery}/tv/v/1.ts`, { method: 'PUT', body: 'x' })
  assert.equal(put.status, 405)
  assertCors(put, '405')

  const options = await fetch(`${origin.delivery}/tv/v/999.ts`, { method: 'OPTIONS' })
  assert.equal(options.status, 204)
  assertCors(options, 'OPTIONS')
})
