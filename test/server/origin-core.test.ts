import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { errorOf } from '../helpers/errors.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

const twoMB = randomBytes(2 * 1024 * 1024)

/** The `error` member of a JSON error answer. */
function put(origin: TestOrigin, path: string, body: Uint8Array, headers: Record<string, string> = {}) {
  return fetch(`${origin.ingest}${path}`, {
    method: 'PUT',
    body,
    headers: { 'Pipeline-Id': 'east', ...headers },
  })
}

/** Sends a raw HTTP request and resolves with the raw response text (or '' if the socket closed). */
function raw(
  url: string,
  text: string | Buffer,
  opts: { end?: boolean; waitMs?: number } = {},
): Promise<string> {
  const { port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1')
    let out = ''
    socket.on('data', (d) => {
      out += d.toString('latin1')
    })
    socket.on('error', () => resolve(out))
    socket.on('close', () => resolve(out))
    socket.on('connect', () => {
      socket.write(text)
      if (opts.end) socket.end()
      if (opts.waitMs !== undefined) setTimeout(() => socket.destroy(), opts.waitMs)
    })
    setTimeout(() => reject(new Error('raw request timed out')), 10_000).unref()
  })
}

describe('origin core: ingest and delivery on the embedded store', () => {
  let origin: TestOrigin
  before(async () => {
    origin = await startOrigin()
  })
  after(() => origin.close())

  it('PUT 2 MB → 201, same bytes again → 204, GET returns identical bytes with ETag', async () => {
    const r1 = await put(origin, '/ch1/video/seg1.m4s', twoMB)
    assert.equal(r1.status, 201)
    const etag = r1.headers.get('etag')
    assert.match(etag ?? '', /^".+"$/)
    const r2 = await put(origin, '/ch1/video/seg1.m4s', twoMB)
    assert.equal(r2.status, 204)
    assert.equal(r2.headers.get('etag'), etag)

    const g = await fetch(`${origin.delivery}/ch1/video/seg1.m4s`)
    assert.equal(g.status, 200)
    assert.equal(g.headers.get('etag'), etag)
    assert.equal(g.headers.get('segment-pipeline'), 'east')
    assert.ok(g.headers.get('last-modified'))
    assert.match(g.headers.get('cache-control') ?? '', /^max-age=\d+$/)
    assert.match(g.headers.get('cache-ttl-ms') ?? '', /^\d+$/)
    const body = Buffer.from(await g.arrayBuffer())
    assert.equal(
      createHash('sha256').update(body).digest('hex'),
      createHash('sha256').update(twoMB).digest('hex'),
    )
  })

  it('HEAD has the same headers and no body; Range → 206; If-None-Match → 304', async () => {
    const g = await fetch(`${origin.delivery}/ch1/video/seg1.m4s`)
    await g.arrayBuffer()
    const h = await fetch(`${origin.delivery}/ch1/video/seg1.m4s`, { method: 'HEAD' })
    assert.equal(h.status, 200)
    for (const name of [
      'etag',
      'content-length',
      'content-type',
      'last-modified',
      'segment-pipeline',
      'cache-control',
      'cache-ttl-ms',
    ]) {
      assert.equal(h.headers.get(name), g.headers.get(name), name)
    }
    assert.equal((await h.arrayBuffer()).byteLength, 0)

    const r = await fetch(`${origin.delivery}/ch1/video/seg1.m4s`, { headers: { Range: 'bytes=0-99' } })
    assert.equal(r.status, 206)
    assert.equal(r.headers.get('content-range'), `bytes 0-99/${twoMB.length}`)
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), twoMB.subarray(0, 100))

    const tail = await fetch(`${origin.delivery}/ch1/video/seg1.m4s`, { headers: { Range: 'bytes=-10' } })
    assert.equal(tail.status, 206)
    assert.deepEqual(Buffer.from(await tail.arrayBuffer()), twoMB.subarray(twoMB.length - 10))

    const bad = await fetch(`${origin.delivery}/ch1/video/seg1.m4s`, {
      headers: { Range: `bytes=${twoMB.length}-` },
    })
    assert.equal(bad.status, 416)
    assert.equal(bad.headers.get('content-range'), `bytes */${twoMB.length}`)
    await bad.arrayBuffer()

    const nm = await fetch(`${origin.delivery}/ch1/video/seg1.m4s`, {
      headers: { 'If-None-Match': g.headers.get('etag')! },
    })
    assert.equal(nm.status, 304)
    const ims = await fetch(`${origin.delivery}/ch1/video/seg1.m4s`, {
      headers: { 'If-Modified-Since': new Date(Date.now() + 1000).toUTCString() },
    })
    assert.equal(ims.status, 304)
  })

  it('an upload cut off mid-body leaves GET at 404', async () => {
    const head =
      'PUT /ch1/video/cut.m4s HTTP/1.1\r\nHost: x\r\nPipeline-Id: east\r\nContent-Length: 1000000\r\n\r\n'
    await raw(origin.ingest, Buffer.concat([Buffer.from(head), randomBytes(300_000)]), { waitMs: 200 })
    await new Promise((r) => setTimeout(r, 100))
    const g = await fetch(`${origin.delivery}/ch1/video/cut.m4s`)
    assert.equal(g.status, 404)
    await g.arrayBuffer()
  })

  it('a chunked upload is stored whole', async () => {
    const body = randomBytes(300_000)
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < body.length; i += 65536) c.enqueue(body.subarray(i, i + 65536))
        c.close()
      },
    })
    const r = await fetch(`${origin.ingest}/ch1/video/chunked.m4s`, {
      method: 'POST',
      body: stream,
      headers: { 'Pipeline-Id': 'east' },
      duplex: 'half',
    } as RequestInit)
    assert.equal(r.status, 201)
    const g = await fetch(`${origin.delivery}/ch1/video/chunked.m4s`)
    assert.deepEqual(Buffer.from(await g.arrayBuffer()), body)
  })

  it('refuses bad names with 400 and a JSON body naming the problem', async () => {
    const cases: Array<[string, RegExp]> = [
      ['/../x', /"\.\."/],
      ['/ch//x', /empty path segment/],
      ['/ch/a%2Fb', /percent-encoded/],
      [`/ch/${'a'.repeat(2048)}`, /longer than/],
      ['/ch/a%00b', /percent-encoded/],
      ['/ch/x?y=1', /query strings/],
    ]
    for (const [path, why] of cases) {
      const text = await raw(
        origin.ingest,
        `PUT ${path} HTTP/1.1\r\nHost: x\r\nPipeline-Id: east\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx`,
      )
      assert.match(text, /^HTTP\/1\.1 400 /, path)
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))
      assert.equal(body.error.code, 'LIVEORIGIN_ERR_BAD_PATH', path)
      assert.match(body.error.message, why, path)
    }
    const g = await raw(origin.delivery, 'GET /../x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert.match(g, /^HTTP\/1\.1 400 /)
  })

  it('answers 405 with Allow for methods a listener does not serve', async () => {
    const r = await fetch(`${origin.delivery}/ch1/video/seg1.m4s`, { method: 'PUT', body: 'x' })
    assert.equal(r.status, 405)
    assert.equal(r.headers.get('allow'), 'GET, HEAD, OPTIONS')
    assert.equal((await errorOf(r)).code, 'LIVEORIGIN_ERR_METHOD_NOT_ALLOWED')
    const g = await fetch(`${origin.ingest}/ch1/video/seg1.m4s`)
    assert.equal(g.status, 405)
    assert.equal(g.headers.get('allow'), 'PUT, POST, DELETE')
    await g.arrayBuffer()
  })

  it('413 beyond maxObjectBytes, 411 without a length, 400 for an invalid Pipeline-Id in open mode', async () => {
    const small = await startOrigin({ 'ingest.maxObjectBytes': 1000 })
    try {
      const big = await fetch(`${small.ingest}/c/x.bin`, {
        method: 'PUT',
        body: randomBytes(2000),
        headers: { 'Pipeline-Id': 'east' },
      })
      assert.equal(big.status, 413)
      assert.equal((await errorOf(big)).code, 'LIVEORIGIN_ERR_TOO_LARGE')
      const chunkedBig = await raw(
        small.ingest,
        `PUT /c/y.bin HTTP/1.1\r\nHost: x\r\nPipeline-Id: east\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n${'a'.repeat(2000)}\r\n0\r\n\r\n`,
      )
      assert.match(chunkedBig, /^HTTP\/1\.1 413 /)
      const g = await fetch(`${small.delivery}/c/y.bin`)
      assert.equal(g.status, 404)
      await g.arrayBuffer()
    } finally {
      await small.close()
    }
    const noLen = await raw(
      origin.ingest,
      'PUT /ch1/x HTTP/1.1\r\nHost: x\r\nPipeline-Id: east\r\nConnection: close\r\n\r\n',
    )
    assert.match(noLen, /^HTTP\/1\.1 411 /)
    const badId = await fetch(`${origin.ingest}/ch1/x`, {
      method: 'PUT',
      body: 'x',
      headers: { 'Pipeline-Id': 'a b' },
    })
    assert.equal(badId.status, 400)
    assert.match((await errorOf(badId)).message, /Pipeline-Id/)
  })

  it('408 when an upload stalls for ingestIdleMs, and nothing is stored', async () => {
    const o = await startOrigin({ 'ingest.ingestIdleMs': 300 })
    try {
      const text = await raw(
        o.ingest,
        'PUT /c/stall.bin HTTP/1.1\r\nHost: x\r\nPipeline-Id: east\r\nContent-Length: 100\r\n\r\nabc',
      )
      assert.match(text, /^HTTP\/1\.1 408 /)
      assert.match(text, /LIVEORIGIN_ERR_UPLOAD_TIMEOUT/)
      const g = await fetch(`${o.delivery}/c/stall.bin`)
      assert.equal(g.status, 404)
      await g.arrayBuffer()
    } finally {
      await o.close()
    }
  })

  it('DELETE removes only that pipeline’s copy', async () => {
    await put(origin, '/ch1/other/a.vtt', Buffer.from('east'), { 'Pipeline-Id': 'east' })
    await put(origin, '/ch1/other/a.vtt', Buffer.from('west'), { 'Pipeline-Id': 'west' })
    const d = await fetch(`${origin.ingest}/ch1/other/a.vtt`, {
      method: 'DELETE',
      headers: { 'Pipeline-Id': 'east' },
    })
    assert.equal(d.status, 200)
    await d.arrayBuffer()
    const g = await fetch(`${origin.delivery}/ch1/other/a.vtt`)
    assert.equal(g.status, 200)
    assert.equal(await g.text(), 'west')
    const again = await fetch(`${origin.ingest}/ch1/other/a.vtt`, {
      method: 'DELETE',
      headers: { 'Pipeline-Id': 'east' },
    })
    assert.equal(again.status, 404)
    await again.arrayBuffer()
  })

  it('serves health, readiness and metrics on the control listener', async () => {
    assert.equal((await fetch(`${origin.control}/healthz`)).status, 200)
    const ready = await fetch(`${origin.control}/readyz`)
    assert.equal(ready.status, 200)
    assert.equal(((await ready.json()) as { status: string }).status, 'ready')
    const m = await (await fetch(`${origin.control}/metrics`)).text()
    assert.match(m, /liveorigin_requests_total\{role="ingest",class="ingest",status="201"\}/)
    assert.match(m, /liveorigin_storage_operations_total\{driver="embedded",op="commit",result="ok"\}/)
    assert.match(m, /liveorigin_request_duration_seconds_bucket\{le="0.005",role="delivery"\}/)
  })
})

describe('pipeline tokens', () => {
  let origin: TestOrigin
  before(async () => {
    origin = await startOrigin({
      'ingest.tokens': { east: 'east-secret-1', west: { token: 'west-secret-1', channels: ['allowed'] } },
    })
  })
  after(() => origin.close())

  it('401 without a token or with an unknown one; 403 outside the token’s channels; writes recorded per pipeline', async () => {
    const none = await fetch(`${origin.ingest}/allowed/x.vtt`, { method: 'PUT', body: 'x' })
    assert.equal(none.status, 401)
    assert.equal((await errorOf(none)).code, 'LIVEORIGIN_ERR_UNAUTHORIZED')
    const unknown = await fetch(`${origin.ingest}/allowed/x.vtt`, {
      method: 'PUT',
      body: 'x',
      headers: { Authorization: 'Bearer nope-nope-nope' },
    })
    assert.equal(unknown.status, 401)
    await unknown.arrayBuffer()
    const forbidden = await fetch(`${origin.ingest}/other/x.vtt`, {
      method: 'PUT',
      body: 'x',
      headers: { Authorization: 'Bearer west-secret-1' },
    })
    assert.equal(forbidden.status, 403)
    await forbidden.arrayBuffer()
    // Pipeline-Id is ignored when tokens are configured: the token names the pipeline.
    const east = await fetch(`${origin.ingest}/allowed/x.vtt`, {
      method: 'PUT',
      body: 'from east',
      headers: { Authorization: 'Bearer east-secret-1', 'Pipeline-Id': 'west' },
    })
    assert.equal(east.status, 201)
    const west = await fetch(`${origin.ingest}/allowed/y.vtt`, {
      method: 'PUT',
      body: 'from west',
      headers: { Authorization: 'Bearer west-secret-1' },
    })
    assert.equal(west.status, 201)
    const gx = await fetch(`${origin.delivery}/allowed/x.vtt`)
    assert.equal(gx.headers.get('segment-pipeline'), 'east')
    assert.equal(await gx.text(), 'from east')
    const gy = await fetch(`${origin.delivery}/allowed/y.vtt`)
    assert.equal(gy.headers.get('segment-pipeline'), 'west')
    await gy.arrayBuffer()
  })
})

describe('requests the HTTP parser refuses', () => {
  let origin: TestOrigin
  before(async () => {
    origin = await startOrigin({ 'ingest.maxHeaderBytes': 2048 })
  })
  after(() => origin.close())

  it('oversized headers → 431 with a JSON body; garbage → 400', async () => {
    const big = await raw(origin.ingest, `PUT /c/x HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`)
    assert.match(big, /^HTTP\/1\.1 431 /)
    assert.match(big, /LIVEORIGIN_ERR_HEADERS_TOO_LARGE/)
    const garbage = await raw(origin.delivery, 'NOT HTTP AT ALL\r\n\r\n')
    assert.match(garbage, /^HTTP\/1\.1 400 /)
    assert.match(garbage, /LIVEORIGIN_ERR_BAD_REQUEST/)
  })
})

describe('browser players', () => {
  let origin: TestOrigin
  before(async () => {
    origin = await startOrigin()
  })
  after(() => origin.close())

  it('answers CORS preflights and exposes the origin headers to scripts', async () => {
    const pre = await fetch(`${origin.delivery}/ch/v/1.m4s`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://player.example',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'range',
      },
    })
    assert.equal(pre.status, 204)
    assert.equal(pre.headers.get('access-control-allow-origin'), '*')
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /Range/)
    await put(origin, '/ch/v/1.m4s', Buffer.from('x'))
    const g = await fetch(`${origin.delivery}/ch/v/1.m4s`, { headers: { Origin: 'https://player.example' } })
    assert.equal(g.headers.get('access-control-allow-origin'), '*')
    assert.match(g.headers.get('access-control-expose-headers') ?? '', /Cache-TTL-Ms/)
    await g.arrayBuffer()
  })
})

describe('storage failing a write', () => {
  let origin: TestOrigin
  let failing = false
  before(async () => {
    origin = await startOrigin(
      {},
      {
        wrapDriver: (driver) =>
          new Proxy(driver, {
            get(target, prop, receiver) {
              const v = Reflect.get(target, prop, receiver)
              if (prop === 'commit') {
                return (...args: unknown[]) =>
                  failing
                    ? Promise.reject(new Error('disk full'))
                    : (v as (...a: unknown[]) => unknown).apply(target, args)
              }
              return typeof v === 'function' ? v.bind(target) : v
            },
          }),
      },
    )
  })
  after(() => origin.close())

  it('→ 503 with Retry-After, and the object stored before stays as it was', async () => {
    assert.equal((await put(origin, '/c/v/a.bin', Buffer.from('first'))).status, 201)
    failing = true
    const r = await put(origin, '/c/v/a.bin', Buffer.from('second'))
    failing = false
    assert.equal(r.status, 503)
    assert.ok(r.headers.get('retry-after'))
    assert.equal((await errorOf(r)).code, 'LIVEORIGIN_ERR_STORAGE_UNAVAILABLE')
    const g = await fetch(`${origin.delivery}/c/v/a.bin`)
    assert.equal(await g.text(), 'first')
  })
})
