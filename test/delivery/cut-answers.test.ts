/**
 * An answer the origin cuts short after its head (its body could not be read from storage) is
 * counted in `liveorigin_requests_total` as the 503 it is, not as a client that left (499);
 * a client that does leave mid-body is still a 499, and no error in the origin's log
 * (docs/architecture.md#one-request-lifecycle).
 * The object is larger than the memory tier keeps, so its body is streamed from storage chunk
 * by chunk after the head has gone out.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { after, before, it } from 'node:test'
import { ChunkReadGate } from '../helpers/chunk-gate.js'
import { createChannel, FakeClock, get, metric, put, waitFor } from '../helpers/http.js'
import { capturedLog } from '../helpers/log-capture.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
const D = 2000
const A = (n: number) => AST + n * D
const clock = new FakeClock(A(10) + 500)
const CHUNK = 64 * 1024
/** Eight chunks; the memory tier keeps objects up to a quarter of its 256 KiB. */
const BODY = randomBytes(8 * CHUNK)

const gate = new ChunkReadGate()
let origin: TestOrigin
/** The origin's error log lines, parsed. */
const { log, lines: errorsLogged } = capturedLog('error')

const counted = (status: string) => metric(origin, 'liveorigin_requests_total', { role: 'delivery', status })

/** A GET that reports its status, the bytes it received and whether the body ended whole; `leave` closes it. */
function streamedGet(path: string) {
  let leave = () => {}
  let received = 0
  const done = new Promise<{ status: number; bytes: number; complete: boolean }>((resolve, reject) => {
    const req = request(`${origin.delivery}${path}`, { agent: false }, (res) => {
      res.on('data', (c: Buffer) => {
        received += c.length
      })
      res.on('close', () => resolve({ status: res.statusCode ?? 0, bytes: received, complete: res.complete }))
    })
    leave = () => req.destroy()
    req.on('error', (err) => (received > 0 ? undefined : reject(err)))
    req.end()
  })
  return { done, leave: () => leave(), received: () => received }
}

before(async () => {
  origin = await startOrigin(
    { 'cache.memoryBytes': 4 * CHUNK, 'storage.chunkSize': CHUNK },
    { now: clock.now, wrapDriver: gate.wrap, log },
  )
  await createChannel(origin, 'ch', {
    media: '$RepresentationID$/$Number$.ts',
    segmentDurationMs: D,
    availabilityStartTime: AST,
  })
  assert.equal((await put(origin, '/ch/v/10.ts', BODY)).status, 201)
})
after(() => gate.open())
after(() => origin.close())

it('a body that fails to stream from storage after the head is counted as a 503, not a 499', async () => {
  const [was503, was499] = [await counted('503'), await counted('499')]
  gate.close(4)
  const answer = streamedGet('/ch/v/10.ts')
  await waitFor('the read of the fifth chunk to wait', () => gate.waiting > 0)
  gate.failing = true
  gate.open()
  const { status, bytes, complete } = await answer.done
  gate.failing = false
  assert.equal(status, 200, 'the head went out before the read failed')
  assert.equal(complete, false, 'the answer does not end as if whole')
  assert.ok(bytes < BODY.length)
  await waitFor('the cut answer to be counted', async () => (await counted('503')) > was503)
  assert.equal(await counted('503'), was503 + 1)
  assert.equal(await counted('499'), was499, 'not counted as a client that left')
  assert.deepEqual(
    errorsLogged.map((e) => [e.msg, (e.err as { code?: string } | undefined)?.code]),
    [['delivery failed', 'LIVEORIGIN_ERR_STORAGE_UNAVAILABLE']],
    'the storage failure is logged as an error, once',
  )
  const again = await get(origin, '/ch/v/10.ts')
  assert.equal(again.status, 200)
  assert.ok(again.body.equals(BODY), 'nothing stored was lost')
})

it('a client that leaves mid-body is still counted as a 499, and logs no error', async () => {
  const [was503, was499] = [await counted('503'), await counted('499')]
  const logged = errorsLogged.length
  gate.close(4)
  const answer = streamedGet('/ch/v/10.ts')
  await waitFor('the first bytes and the read of the fifth chunk waiting', () => {
    return answer.received() > 0 && gate.waiting > 0
  })
  answer.leave()
  await waitFor('the request to be counted', async () => (await counted('499')) > was499)
  gate.open()
  assert.equal(await counted('499'), was499 + 1)
  assert.equal(await counted('503'), was503, 'a client that left is not a storage failure')
  const again = await get(origin, '/ch/v/10.ts')
  assert.ok(again.body.equals(BODY))
  assert.equal(errorsLogged.length, logged, 'nor an error of the origin to log')
  assert.equal((await answer.done).complete, false)
})
