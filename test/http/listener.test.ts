// The one request lifecycle every listener uses (src/http/listener.ts) and the route table of
// the control listener (src/http/router.ts), on a real HTTP server on loopback.
import assert from 'node:assert/strict'
import { request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { errors } from '../../src/errors.js'
import { createListener, type Exchange } from '../../src/http/listener.js'
import { sendJson } from '../../src/http/respond.js'
import { createRouter } from '../../src/http/router.js'
import { createLogger } from '../../src/observability/log.js'
import { createMetrics } from '../../src/observability/metrics.js'

const metrics = createMetrics({ defaultMetrics: false })
const seen: Array<{ url: string | undefined; host: string | undefined; id: string }> = []
let gone: (() => void) | undefined
const goneAnswered = new Promise<void>((resolve) => {
  gone = resolve
})

const router = createRouter([
  {
    path: '/things/:name',
    before: (_req, params) => {
      if (params.name === 'bad') throw errors.badRequest('bad name')
    },
    methods: {
      GET: (req, res, params) => sendJson(req, res, 200, { name: params.name }),
      PUT: (req, res) => sendJson(req, res, 201, {}),
    },
  },
])

function handler(req: Parameters<typeof router>[0], res: Parameters<typeof router>[1], ex: Exchange) {
  seen.push({ url: req.url, host: req.headers.host, id: ex.id })
  if (req.url === '/throw') throw new Error('a bug')
  if (req.url === '/reject') return Promise.reject(errors.unknownChannel('x'))
  if (req.url === '/dvr') {
    ex.klass = 'dvr'
    return sendJson(req, res, 200, {})
  }
  if (req.url === '/gone') {
    res.once('close', () => setImmediate(() => gone?.()))
    return // never answered: the client leaves
  }
  return router(req, res)
}

const server: Server = createListener({
  role: 'test',
  handler,
  metrics,
  log: createLogger('silent'),
  defaultClass: 'plain',
  requestIdHeader: true,
  errorHeaders: { 'Cache-Control': 'no-store' },
  maxHeaderBytes: 16384,
})
let base = ''

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
after(() => new Promise<void>((resolve) => server.close(() => resolve())))

async function errorOf(r: Response): Promise<{ code: string; message: string }> {
  return ((await r.json()) as { error: { code: string; message: string } }).error
}

describe('request lifecycle', () => {
  it('answers a thrown error with JSON 500 and the catalogue code, with the listener headers', async () => {
    const r = await fetch(`${base}/throw`)
    assert.equal(r.status, 500)
    assert.equal(r.headers.get('cache-control'), 'no-store')
    assert.equal((await errorOf(r)).code, errors.internal.code)
  })

  it('answers a rejected LiveOriginError with its own status and code', async () => {
    const r = await fetch(`${base}/reject`)
    assert.equal(r.status, 404)
    assert.equal((await errorOf(r)).code, errors.unknownChannel.code)
  })

  it('gives each request its own id, sent as X-Request-Id', async () => {
    const a = await fetch(`${base}/things/a`)
    const b = await fetch(`${base}/things/b`)
    await a.arrayBuffer()
    await b.arrayBuffer()
    const ids = [a.headers.get('x-request-id'), b.headers.get('x-request-id')]
    assert.ok(ids[0] && ids[1] && ids[0] !== ids[1], String(ids))
    assert.ok(seen.some((s) => s.id === ids[0]))
  })

  it('counts answers by role, the class the handler set, and status', async () => {
    await (await fetch(`${base}/dvr`)).arrayBuffer()
    await (await fetch(`${base}/things/c`)).arrayBuffer()
    const text = await metrics.registry.metrics()
    assert.match(text, /liveorigin_requests_total\{role="test",class="dvr",status="200"\} 1/)
    assert.match(text, /liveorigin_requests_total\{role="test",class="plain",status="200"\} [1-9]/)
    assert.match(text, /liveorigin_request_duration_seconds_count\{role="test"\} [1-9]/)
  })

  it('counts a request whose client left before the answer as 499', async () => {
    const req = request(`${base}/gone`)
    req.on('error', () => {})
    req.end()
    // The request reached the handler: then the client leaves.
    while (!seen.some((s) => s.url === '/gone')) await new Promise((r) => setTimeout(r, 10))
    req.destroy()
    await goneAnswered
    const text = await metrics.registry.metrics()
    assert.match(text, /liveorigin_requests_total\{role="test",class="plain",status="499"\} 1/)
  })

  it('takes an absolute-form target as path and Host', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const port = new URL(base).port
      const req = request({ host: '127.0.0.1', port, path: 'http://example.test:9/things/abs?x=1' })
      req.on('response', (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      req.end()
    })
    assert.equal(status, 200)
    const s = seen.find((x) => x.url === '/things/abs?x=1')
    assert.equal(s?.host, 'example.test:9')
  })
})

describe('route table', () => {
  it('answers 404 for a path no route matches', async () => {
    const r = await fetch(`${base}/nothing/here`)
    assert.equal(r.status, 404)
    assert.equal((await errorOf(r)).code, errors.notFound.code)
  })

  it('answers 405 with Allow from the table, HEAD beside GET', async () => {
    const r = await fetch(`${base}/things/a`, { method: 'DELETE' })
    assert.equal(r.status, 405)
    assert.equal(r.headers.get('allow'), 'GET, HEAD, PUT')
    assert.equal((await errorOf(r)).code, errors.methodNotAllowed.code)
  })

  it('serves HEAD with the GET handler, without a body', async () => {
    const r = await fetch(`${base}/things/a`, { method: 'HEAD' })
    assert.equal(r.status, 200)
    assert.equal((await r.arrayBuffer()).byteLength, 0)
    assert.ok(Number(r.headers.get('content-length')) > 0)
  })

  it("runs a route's checks before the method is looked up", async () => {
    const r = await fetch(`${base}/things/bad`, { method: 'DELETE' })
    assert.equal(r.status, 400)
    const ok = await fetch(`${base}/things/a`, { method: 'PUT' })
    assert.equal(ok.status, 201)
    await ok.arrayBuffer()
  })
})
