/**
 * The 404 and 410 answers segment timing decides are written from prepared bodies and header
 * lists (docs/protocol.md#media-segments): what differs per answer must still differ (the
 * lifetime to the millisecond, `CMSD-Static`, HEAD without a body), and each answer must be
 * the one the general error path writes (the unknown channel's 404 is written by it).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { FakeClock, get, metric, originWithChannel } from '../helpers/http.js'
import type { TestOrigin } from '../helpers/origin.js'

const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
const D = 2000
const H = D
const DVR = 600_000
const A = (n: number) => AST + n * D
const clock = new FakeClock(AST)
let origin: TestOrigin

before(async () => {
  origin = await originWithChannel(clock, {
    segmentDurationMs: D,
    availabilityStartTime: AST,
    dvrWindowMs: DVR,
  })
})
after(() => origin.close())

/** The headers every timing answer carries besides its lifetime and `CMSD-Static`. */
function assertCommon(a: Awaited<ReturnType<typeof get>>, status: number, code: string, head = false) {
  assert.equal(a.status, status)
  assert.equal(a.headers['access-control-allow-origin'], '*')
  assert.match(String(a.headers['access-control-expose-headers']), /CMSD-Static/)
  assert.equal(a.headers['content-type'], 'application/json')
  const body = JSON.stringify({
    error: {
      code,
      message: status === 404 ? 'segment not found' : 'segment will never be available',
    },
  })
  assert.equal(a.headers['content-length'], String(Buffer.byteLength(body)))
  assert.equal(a.body.toString('utf8'), head ? '' : body)
  assert.ok(a.headers.date, 'Date')
}

describe('prepared timing answers', () => {
  it('a future segment: the lifetime runs to A(N) − H, to the millisecond, answer after answer', async () => {
    for (const [t, n] of [
      [A(1), 10],
      [A(1) + 1, 10],
      [A(1) + 999, 10],
      [A(3) + 250, 11],
    ] as const) {
      clock.set(t)
      const a = await get(origin, `/ch/v/${n}.ts`)
      assertCommon(a, 404, 'LIVEORIGIN_ERR_NOT_FOUND')
      const ttl = A(n) - H - t
      assert.equal(a.headers['cache-ttl-ms'], String(ttl))
      assert.equal(a.headers['cache-control'], `max-age=${Math.floor(ttl / 1000)}`)
      assert.equal(a.headers['cmsd-static'], `at=${A(n)}`)
    }
  })

  it('HEAD gets the same head without a body', async () => {
    clock.set(A(1) + 500)
    const g = await get(origin, '/ch/v/10.ts')
    const h = await get(origin, '/ch/v/10.ts', { method: 'HEAD' })
    assertCommon(h, 404, 'LIVEORIGIN_ERR_NOT_FOUND', true)
    for (const name of ['cache-control', 'cache-ttl-ms', 'cmsd-static', 'content-length', 'content-type'])
      assert.equal(h.headers[name], g.headers[name], name)
  })

  it('a number before the start, one out of the DVR window, one the template cannot produce', async () => {
    clock.set(A(1000))
    const before = await get(origin, '/ch/v/0.ts')
    assertCommon(before, 404, 'LIVEORIGIN_ERR_NOT_FOUND')
    assert.equal(before.headers['cache-ttl-ms'], String(DVR))
    assert.equal(before.headers['cmsd-static'], `at=${A(0)}`)
    const expired = await get(origin, '/ch/v/2.ts')
    assertCommon(expired, 410, 'LIVEORIGIN_ERR_GONE')
    assert.equal(expired.headers['cache-ttl-ms'], String(DVR))
    assert.equal(expired.headers['cmsd-static'], `at=${A(2)}`)
    const invalid = await get(origin, '/ch/v/99999999999999999999.ts')
    assertCommon(invalid, 404, 'LIVEORIGIN_ERR_NOT_FOUND')
    assert.equal(invalid.headers['cmsd-static'], undefined)
  })

  it('each answer is counted once, by status and reason, with the request totals', async () => {
    const labels = { status: '404', reason: 'too-early' }
    const early = await metric(origin, 'liveorigin_timing_answers_total', labels)
    const requests = await metric(origin, 'liveorigin_requests_total', {
      role: 'delivery',
      class: 'live',
      status: '404',
    })
    clock.set(A(1))
    for (let i = 0; i < 5; i++) assert.equal((await get(origin, '/ch/v/20.ts')).status, 404)
    assert.equal(await metric(origin, 'liveorigin_timing_answers_total', labels), early + 5)
    assert.equal(
      await metric(origin, 'liveorigin_requests_total', { role: 'delivery', class: 'live', status: '404' }),
      requests + 5,
    )
    assert.equal(await metric(origin, 'liveorigin_in_flight_requests', { class: 'live' }), 0)
  })
})
