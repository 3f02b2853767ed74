// Real nginx, real wrk, real sockets: the harness's building blocks against live servers.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, test } from 'node:test'
import { burstGet, parseHead } from '../lib/burst.js'
import { expectStatus, putOrThrow, send } from '../lib/http.js'
import { runLoad } from '../lib/load.js'
import { NGINX_BIN, type NginxServer, nginxVersion, startNginx } from '../lib/nginx.js'
import { putLoop } from '../lib/put-loop.js'
import { parseWrkOutput, WRK_BIN } from '../lib/wrk.js'

const haveNginx = existsSync(NGINX_BIN)
const haveWrk = existsSync(WRK_BIN)
let nginx: NginxServer | undefined
const body = Buffer.alloc(2 * 1024 * 1024)
for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff

before(async () => {
  if (haveNginx) nginx = await startNginx({ workers: 1 })
})
after(async () => {
  await nginx?.stop()
})

test('nginx baseline stores a PUT body in RAM and serves it back', {
  skip: !haveNginx && 'nginx not installed',
}, async () => {
  const n = nginx!
  assert.match(nginxVersion() ?? '', /^\d+\.\d+/)
  assert.ok(n.root.startsWith('/dev/shm/'))
  const first = await putOrThrow(`${n.url}/ch/v/1.m4s`, body)
  assert.equal(first.status, 201)
  const again = await putOrThrow(`${n.url}/ch/v/1.m4s`, body)
  assert.equal(again.status, 204)
  const got = await fetch(`${n.url}/ch/v/1.m4s`)
  assert.equal(got.status, 200)
  assert.ok(Buffer.from(await got.arrayBuffer()).equals(body))
  await expectStatus(`${n.url}/ch/v/2.m4s`, 404)
})

test('nginx stops by PID and leaves no directory behind', {
  skip: !haveNginx && 'nginx not installed',
}, async () => {
  const n = await startNginx({ workers: 1 })
  await putOrThrow(`${n.url}/x/y`, Buffer.from('hello'))
  await n.stop()
  assert.equal(existsSync(n.root), false)
  await assert.rejects(send(`${n.url}/x/y`))
  let alive = true
  try {
    process.kill(n.pid, 0)
  } catch {
    alive = false
  }
  assert.equal(alive, false)
})

test('wrk load against nginx reports requests, bytes and latency', {
  skip: (!haveNginx || !haveWrk) && 'nginx or wrk missing',
}, async () => {
  const n = nginx!
  await putOrThrow(`${n.url}/load/1.m4s`, body)
  const r = await runLoad({
    url: `${n.url}/load/1.m4s`,
    tool: 'wrk',
    connections: 4,
    durationSec: 1,
    answerBytes: body.length + 250,
    expectStatus: 200,
  })
  assert.ok(r.requests > 10, `only ${r.requests} requests`)
  assert.equal(r.unexpected, 0)
  // wrk also counts the partial answers in flight when time is up.
  assert.ok(
    r.avgAnswerBytes >= body.length && r.avgAnswerBytes < body.length * 1.1,
    `mean ${r.avgAnswerBytes}`,
  )
  assert.ok(r.latencyMs.p99 >= r.latencyMs.p50)
  const missing = await runLoad({
    url: `${n.url}/load/none`,
    tool: 'wrk',
    connections: 2,
    durationSec: 1,
    expectStatus: 404,
  })
  assert.ok(missing.requests > 10)
  assert.equal(missing.unexpected, 0)
  assert.equal(missing.statusCounts.other, missing.requests)
})

test('wrk request cap stops the run early', {
  skip: (!haveNginx || !haveWrk) && 'nginx or wrk missing',
}, async () => {
  const n = nginx!
  await putOrThrow(`${n.url}/cap/1.m4s`, body)
  const t0 = performance.now()
  const r = await runLoad({
    url: `${n.url}/cap/1.m4s`,
    tool: 'wrk',
    connections: 2,
    durationSec: 20,
    maxRequests: 20,
    answerBytes: body.length + 250,
  })
  assert.ok(performance.now() - t0 < 10_000, 'stopped long before the 20 s bound')
  assert.ok(r.requests >= 20)
})

test('parseWrkOutput reads the done hook line and refuses output without it', () => {
  const s = parseWrkOutput(
    'noise\nWRK_JSON {"requests":10,"bytes":2000,"durationUs":2000000,"connect":1,"read":0,"write":0,"status":3,"timeout":2,"latencyUs":{"mean":1500.0,"p50":1000,"p90":2000,"p99":3000,"max":4000}}\n',
  )
  assert.deepEqual(s, {
    requests: 10,
    bytes: 2000,
    durationSec: 2,
    non2xx3xx: 3,
    errors: 3,
    latencyMs: { mean: 1.5, p50: 1, p90: 2, p99: 3, max: 4 },
  })
  assert.throws(() => parseWrkOutput('Running 1s test'), /no summary/)
})

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return (server.address() as AddressInfo).port
}

test('burstGet opens every connection before sending, and counts answers', async () => {
  let open = 0
  let connectedDone = false
  let firstRequestAfterConnected: boolean | undefined
  const server = createServer((req, res) => {
    firstRequestAfterConnected ??= connectedDone
    res.statusCode = req.url === '/ok' ? 200 : 404
    res.end('fine')
  })
  server.on('connection', () => open++)
  const port = await listen(server)
  try {
    let sentAt = 0
    const r = await burstGet({
      host: '127.0.0.1',
      port,
      path: () => '/ok',
      count: 300,
      onConnected: async () => {
        while (open < 300) await new Promise((r) => setTimeout(r, 5))
        connectedDone = true
      },
      onSent: () => {
        sentAt = performance.now()
      },
    })
    assert.ok(sentAt > 0)
    assert.equal(firstRequestAfterConnected, true)
    assert.equal(open, 300)
    assert.deepEqual(r.statusCounts, { '200': 300 })
    assert.equal(r.latenciesMs.length, 300)
    const missing = await burstGet({ host: '127.0.0.1', port, path: '/nope', count: 5 })
    assert.deepEqual(missing.statusCounts, { '404': 5 })
  } finally {
    server.close()
  }
})

test('burstGet with headersOnly records when each answer head arrived, without the body', async () => {
  const server = createServer((_req, res) => {
    res.setHeader('CMSD-Dynamic', '"liveorigin";ht=12')
    res.end(body)
  })
  const port = await listen(server)
  try {
    const before = performance.now()
    const r = await burstGet({ host: '127.0.0.1', port, path: '/x', count: 8, headersOnly: true })
    assert.deepEqual(r.statusCounts, { '200': 8 })
    assert.equal(r.answers.length, 8)
    for (const a of r.answers) {
      assert.equal(a.status, 200)
      assert.equal(a.headers['cmsd-dynamic'], '"liveorigin";ht=12')
      assert.ok(a.at > before)
    }
    assert.ok(r.bytes < 8 * body.length, 'bodies were not read')
  } finally {
    server.close()
  }
})

test('burstGet reading whole answers records when each one ended, after its last byte', async () => {
  let firstBodyWrite = Number.POSITIVE_INFINITY
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Length': body.length })
    res.flushHeaders()
    // The body goes out on a later turn than the head: an answer's end is timed after it.
    setTimeout(() => {
      firstBodyWrite = Math.min(firstBodyWrite, performance.now())
      res.end(body)
    }, 20)
  })
  const port = await listen(server)
  try {
    const r = await burstGet({ host: '127.0.0.1', port, path: '/x', count: 4 })
    assert.deepEqual(r.statusCounts, { '200': 4 })
    assert.equal(r.endedAt.length, 4)
    assert.ok(r.bytes > 4 * body.length, 'the bodies were read')
    for (const at of r.endedAt) assert.ok(at > firstBodyWrite, 'timed after the body, not at the head')
    assert.equal(r.answers.length, 0, 'heads are timed only with headersOnly')
  } finally {
    server.close()
  }
})

test('parseHead reads the status and lower-cased headers', () => {
  assert.deepEqual(parseHead('HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\nX-A: b: c'), {
    status: 404,
    headers: { 'content-length': '5', 'x-a': 'b: c' },
  })
  assert.equal(parseHead('garbage'), undefined)
})

test('putLoop times successful PUTs and counts failures on one connection', async () => {
  const remotePorts = new Set<number>()
  let n = 0
  const server = createServer((req, res) => {
    remotePorts.add(req.socket.remotePort!)
    let size = 0
    req.on('data', (d: Buffer) => {
      size += d.length
    })
    req.on('end', () => {
      n++
      res.statusCode = n % 4 === 0 ? 500 : 201
      res.end(String(size))
    })
  })
  const port = await listen(server)
  try {
    const r = await putLoop({
      origin: `http://127.0.0.1:${port}`,
      path: (i) => `/p/${i}`,
      body: () => body,
      count: 20,
    })
    assert.equal(r.latenciesMs.length, 15)
    assert.equal(r.failures, 5)
    assert.deepEqual(r.statusCounts, { '201': 15, '500': 5 })
    assert.match(r.firstFailure ?? '', /PUT \/p\/3: 500 2097152/)
    assert.equal(remotePorts.size, 1, 'one keep-alive connection')
  } finally {
    server.close()
  }
})
