/**
 * A held request's answer head goes out as soon as its release has chosen the copy, before
 * the body is read (docs/protocol.md#holds): with the storage driver's chunk reads held shut,
 * every released GET has its 200 and its headers, and its body follows once the read ends.
 * A body that cannot be read then ends each connection short of its `Content-Length`, counted
 * as a 503 (not as a client that left), and the next GET, not held, is answered whole once
 * storage reads again. The origin lists its roles
 * one by one, so that the release reads the body from storage (one read for all waiters).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { type IncomingMessage, request } from 'node:http'
import { after, before, it } from 'node:test'
import { ChunkReadGate } from '../helpers/chunk-gate.js'
import { createChannel, FakeClock, get, metric, put, waitFor, waitForHeld } from '../helpers/http.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
const D = 2000
const A = (n: number) => AST + n * D
const clock = new FakeClock(A(10) - 1000)
const WAITERS = 8

const gate = new ChunkReadGate()
let origin: TestOrigin

interface HeldGet {
  /** Resolves with the answer's head, before its body. */
  readonly head: Promise<IncomingMessage>
  /** Resolves with the body received and whether it ended whole. */
  readonly body: Promise<{ bytes: Buffer; complete: boolean }>
}

function heldGet(path: string): HeldGet {
  let onHead: (res: IncomingMessage) => void = () => {}
  const head = new Promise<IncomingMessage>((resolve) => {
    onHead = resolve
  })
  const body = new Promise<{ bytes: Buffer; complete: boolean }>((resolve, reject) => {
    const req = request(`${origin.delivery}${path}`, { agent: false }, (res) => {
      onHead(res)
      const parts: Buffer[] = []
      res.on('data', (c: Buffer) => parts.push(c))
      res.on('close', () => resolve({ bytes: Buffer.concat(parts), complete: res.complete }))
    })
    req.on('error', reject)
    req.end()
  })
  return { head, body }
}

/** Every head, without waiting for any body (the read is held shut meanwhile). */
async function headsOf(gets: readonly HeldGet[]): Promise<IncomingMessage[]> {
  let arrived = 0
  for (const g of gets) void g.head.then(() => arrived++)
  await waitFor('every head while the body read waits', () => arrived === gets.length)
  return Promise.all(gets.map((g) => g.head))
}

before(async () => {
  origin = await startOrigin(
    { roles: ['ingest', 'delivery', 'control'] },
    { now: clock.now, wrapDriver: gate.wrap },
  )
  await createChannel(origin, 'ch', {
    media: '$RepresentationID$/$Number$.ts',
    segmentDurationMs: D,
    availabilityStartTime: AST,
  })
})
after(() => origin.close())

it('released GETs get their heads while the body is still being read, then the whole body', async () => {
  const body = randomBytes(64 * 1024)
  const gets = Array.from({ length: WAITERS }, () => heldGet('/ch/v/10.ts'))
  await waitForHeld(origin, WAITERS)
  gate.close()
  assert.equal((await put(origin, '/ch/v/10.ts', body)).status, 201)
  const heads = await headsOf(gets)
  assert.ok(gate.waiting > 0, 'the body read is still waiting when every head has arrived')
  for (const res of heads) {
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['content-length'], String(body.length))
    assert.equal(res.headers['segment-pipeline'], 'east')
    assert.match(String(res.headers['cmsd-dynamic']), /ht=\d+/)
  }
  gate.open()
  for (const { bytes, complete } of await Promise.all(gets.map((g) => g.body))) {
    assert.ok(complete, 'the body ended whole')
    assert.ok(bytes.equals(body))
  }
})

it('a body that cannot be read after the heads ends each connection short; the next GET is whole', async () => {
  const body = randomBytes(64 * 1024)
  clock.set(A(11) - 1000)
  const counted = (status: string) =>
    metric(origin, 'liveorigin_requests_total', { role: 'delivery', status })
  const [was503, was499] = [await counted('503'), await counted('499')]
  const gets = Array.from({ length: WAITERS }, () => heldGet('/ch/v/11.ts'))
  await waitForHeld(origin, WAITERS)
  gate.close()
  assert.equal((await put(origin, '/ch/v/11.ts', body)).status, 201)
  await headsOf(gets)
  await waitFor('the body read to start', () => gate.waiting > 0)
  gate.failing = true
  gate.open()
  for (const { bytes, complete } of await Promise.all(gets.map((g) => g.body))) {
    assert.equal(complete, false, 'an answer whose body could not be read does not end as if whole')
    assert.ok(bytes.length < body.length)
  }
  // Counted as the storage failure they are, not as clients that left.
  await waitFor('the cut answers to be counted', async () => (await counted('503')) >= was503 + WAITERS)
  assert.equal(await counted('503'), was503 + WAITERS)
  assert.equal(await counted('499'), was499)
  gate.failing = false
  const again = await get(origin, '/ch/v/11.ts')
  assert.equal(again.status, 200)
  assert.ok(again.body.equals(body))
})
