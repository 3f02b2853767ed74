import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { errorOf } from '../helpers/errors.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

// One held request at most: the next one that would be held is refused like a shed request.
const D = 2000
let origin: TestOrigin
const ast = Date.now() - 10 * D

before(async () => {
  origin = await startOrigin({
    'delivery.maxHeldRequests': 1,
    'overload.storageLatencyMs': 10_000,
    'overload.eventLoopDelayMs': 10_000,
  })
  const r = await fetch(`${origin.control}/api/v1/channels/held`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ segmentDurationMs: D, availabilityStartTime: ast }),
  })
  assert.equal(r.status, 201)
})
after(() => origin.close())

it('a request refused because too many are held may be kept by a CDN for 1 s, never by a browser', async () => {
  const edge = Math.floor((Date.now() - ast) / D)
  const abort = new AbortController()
  // The next segment, not stored yet: held until it commits or its deadline.
  const held = fetch(`${origin.delivery}/held/v/${edge + 1}.m4s`, { signal: abort.signal }).catch(
    (err: Error) => err,
  )
  let refused: Response | undefined
  // The first request may not be registered as held yet: ask until the table is full.
  for (let i = 0; i < 200 && refused === undefined; i++) {
    const r = await fetch(`${origin.delivery}/held/v/${edge + 1}.m4s`, {
      signal: AbortSignal.timeout(100),
    }).catch(() => undefined)
    if (r?.status === 503) refused = r
    else await r?.arrayBuffer()
  }
  abort.abort()
  await held
  assert.ok(refused, 'a second held request was refused')
  assert.equal(refused.headers.get('cache-control'), 'no-store')
  assert.equal(refused.headers.get('cdn-cache-control'), 'max-age=1')
  assert.equal(refused.headers.get('retry-after'), '1')
  assert.equal(refused.headers.get('access-control-allow-origin'), '*')
  assert.equal((await errorOf(refused)).code, 'LIVEORIGIN_ERR_OVERLOADED')
})
