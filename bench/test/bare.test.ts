// The bare node:http reference against real sockets: what it stores, serves and refuses.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { Agent, request } from 'undici'
import { type BareServer, startBare } from '../lib/bare.js'
import { putOrThrow, send } from '../lib/http.js'

let bare: BareServer
const body = Buffer.alloc(2 * 1024 * 1024)
for (let i = 0; i < body.length; i++) body[i] = (i * 13) & 0xff

before(async () => {
  bare = await startBare({ workers: 2 })
})
after(async () => {
  await bare.stop()
})

/** GET on a connection of its own, so that the kernel spreads them over both workers. */
async function freshGet(path: string, headers: Record<string, string> = {}) {
  const agent = new Agent({ pipelining: 0 })
  try {
    const res = await request(`${bare.url}${path}`, { dispatcher: agent, headers })
    const buf = Buffer.from(await res.body.arrayBuffer())
    return { status: res.statusCode, headers: res.headers, body: buf }
  } finally {
    await agent.close()
  }
}

/**
 * Waits until both workers know a channel just created: it reaches the other worker through
 * the primary, after the answer. A worker that does not know it answers a segment's 404 with
 * a 1 s lifetime; 20 fresh connections in a row (spread over both workers) must not.
 */
async function untilEveryWorkerKnows(path: string): Promise<void> {
  const deadline = Date.now() + 5000
  for (let known = 0; known < 20; ) {
    const got = await freshGet(path)
    known = got.headers['cache-control'] === 'max-age=1' ? 0 : known + 1
    assert.ok(Date.now() < deadline, `every worker knows the channel of ${path} within 5 s`)
  }
}

test('a stored segment is served by every worker with its length, ETag and lifetime', async () => {
  const first = await putOrThrow(`${bare.url}/ch/v/1.m4s`, body)
  assert.equal(first.status, 201)
  const etag = first.headers.etag!
  assert.match(etag, /^"[0-9a-z]+-[0-9a-z]+"$/)
  // The other worker gets the copy right after the answer: poll briefly, then read many times.
  const deadline = Date.now() + 5000
  let seen = 0
  while (seen < 20) {
    const got = await freshGet('/ch/v/1.m4s')
    if (got.status === 404 && Date.now() < deadline) continue
    assert.equal(got.status, 200)
    assert.ok(got.body.equals(body))
    assert.equal(got.headers['content-length'], String(body.length))
    assert.equal(got.headers['content-type'], 'video/mp4')
    assert.equal(got.headers['cache-control'], 'max-age=14400')
    assert.equal(got.headers.etag, etag)
    seen++
  }
  const again = await putOrThrow(`${bare.url}/ch/v/1.m4s`, body)
  assert.equal(again.status, 204)
  assert.notEqual(again.headers.etag, etag)
  // Every worker answers 304 to the new version's ETag once the copy reached it.
  let notModified = 0
  while (notModified < 10) {
    const got = await freshGet('/ch/v/1.m4s', { 'if-none-match': again.headers.etag! })
    if (got.status === 200 && Date.now() < deadline + 5000) continue
    assert.equal(got.status, 304)
    assert.equal(got.body.length, 0)
    assert.equal(got.headers.etag, again.headers.etag)
    notModified++
  }
})

test('a future segment of a known channel is a JSON 404 that lives until it is due', async () => {
  const now = Date.now()
  await bare.createChannel('fut', { segmentDurationMs: 2000, availabilityStartTime: now })
  // Segment 1000 is due at AST + 1000 × 2 s = 2000 s from now.
  await untilEveryWorkerKnows('/fut/v/1000.m4s')
  const got = await freshGet('/fut/v/1000.m4s')
  assert.equal(got.status, 404)
  assert.equal(got.headers['content-type'], 'application/json')
  assert.deepEqual(JSON.parse(got.body.toString()), {
    error: { code: 'NOT_FOUND', message: 'segment not found' },
  })
  const maxAge = Number(/^max-age=(\d+)$/.exec(String(got.headers['cache-control']))?.[1])
  assert.ok(maxAge > 1990 && maxAge <= 2000, `max-age ${maxAge}`)
  // Far ahead: capped at one hour. Unknown channel: one second.
  const far = await freshGet('/fut/v/100000.m4s')
  assert.equal(far.headers['cache-control'], 'max-age=3600')
  const unknown = await freshGet('/nochannel/v/5.m4s')
  assert.equal(unknown.status, 404)
  assert.equal(unknown.headers['cache-control'], 'max-age=1')
})

test('bad channel configs and other methods get a JSON 4xx naming the problem', async () => {
  const bad = await send(`${bare.url}/api/v1/channels/x`, {
    method: 'PUT',
    body: Buffer.from('{"segmentDurationMs": 0}'),
    headers: { 'content-type': 'application/json' },
  })
  assert.equal(bad.status, 400)
  assert.equal(JSON.parse(bad.text).error.code, 'BAD_CONFIG')
  const del = await send(`${bare.url}/ch/v/1.m4s`, { method: 'DELETE' })
  assert.equal(del.status, 405)
  assert.equal(del.headers.allow, 'GET, HEAD, PUT')
  assert.match(JSON.parse(del.text).error.message, /DELETE/)
})

/**
 * A channel of 500 ms segments whose segment 1 became available 100 ms ago (segment 2 is the
 * next), known to every worker: a worker that does not know it answers 404 at once.
 */
async function channelAtItsSecondSegment(name: string): Promise<void> {
  const durationMs = 500
  await bare.createChannel(name, {
    segmentDurationMs: durationMs,
    availabilityStartTime: Date.now() - durationMs - 100,
  })
  await untilEveryWorkerKnows(`/${name}/v/1000.m4s`)
}

/** Every held GET was answered 200 with the PUT's body and ETag. */
function answeredWith(answers: Awaited<ReturnType<typeof freshGet>>[], etag: string | undefined): void {
  for (const got of answers) {
    assert.equal(got.status, 200)
    assert.ok(got.body.equals(body))
    assert.equal(got.headers.etag, etag)
  }
}

test('a GET of the next segment is held until its PUT, in every worker, and answered with it', async () => {
  await channelAtItsSecondSegment('hold')
  const order: string[] = []
  const gets = Array.from({ length: 8 }, () =>
    freshGet('/hold/v/2.m4s').then((got) => {
      order.push('answer')
      return got
    }),
  )
  await new Promise((r) => setTimeout(r, 100))
  order.push('put')
  const put = await putOrThrow(`${bare.url}/hold/v/2.m4s`, body)
  answeredWith(await Promise.all(gets), put.headers.etag)
  assert.deepEqual(order, ['put', ...gets.map(() => 'answer')])
  // Not PUT: 404 once the hold (two segment durations) ends.
  const missing = await freshGet('/hold/v/3.m4s')
  assert.equal(missing.status, 404)
  assert.equal(missing.headers['content-type'], 'application/json')
})

test('a PUT to the ingest process is stored there and releases the GETs held by the workers', async () => {
  await channelAtItsSecondSegment('ingest')
  assert.notEqual(bare.ingestUrl, bare.url)
  const gets = Array.from({ length: 8 }, () => freshGet('/ingest/v/2.m4s'))
  await new Promise((r) => setTimeout(r, 100))
  const put = await putOrThrow(`${bare.ingestUrl}/ingest/v/2.m4s`, body)
  assert.equal(put.status, 201)
  answeredWith(await Promise.all(gets), put.headers.etag)
  // The ingest process keeps what it stored and serves it on its own port too.
  const mine = await request(`${bare.ingestUrl}/ingest/v/2.m4s`)
  assert.equal(mine.statusCode, 200)
  assert.equal(mine.headers.etag, put.headers.etag)
  await mine.body.arrayBuffer()
})

test('a PUT sent with the write header is also written whole to a file of its own; others are not', async () => {
  const files = () => new Set(readdirSync(bare.writeDir))
  const before = files()
  await putOrThrow(`${bare.url}/ch/w/1.m4s`, body)
  assert.deepEqual(files(), before, 'a plain PUT writes no file')
  const other = Buffer.from(body).reverse()
  const stored = await putOrThrow(`${bare.url}/ch/w/2.m4s`, other, { ...bare.writeHeaders })
  assert.equal(stored.status, 201)
  const added = [...files()].filter((f) => !before.has(f))
  assert.equal(added.length, 1, 'one new file')
  // Written and synced before the answer: whole by the time the client has it.
  assert.ok(readFileSync(join(bare.writeDir, added[0]!)).equals(other))
})
