/**
 * Peer notices between origin nodes (docs/running-at-scale.md#peer-notices), over real HTTP
 * on loopback: three origins in this process sharing one embedded store (a store the
 * processes of one machine share), peers found through their heartbeat records. A request
 * held on B is released by a PUT on A with B's polling off (only A's notice can release it
 * before its deadline, a minute away); C's clock runs 400 ms ahead, which A measures, shows
 * and alarms on; a peer that does not answer is skipped; bad notices get a 400 naming the
 * problem, and notices without the control token a 401.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createChannel, get, metric, put, request, waitFor, waitForHeld } from '../helpers/http.js'
import { capturedLog } from '../helpers/log-capture.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

const TOKEN = 'control-secret-1'
const SKEW_MS = 400
const D = 2000

interface PeersView {
  id: string
  peers: Array<{
    id: string
    url: string
    live: boolean
    skipped: boolean
    clockOffsetMs: number | null
    rttMs: number | null
    clockAlarm: boolean
    offsets: Record<string, number>
  }>
}

async function peersOf(origin: TestOrigin): Promise<PeersView> {
  const r = await request(`${origin.control}/api/v1/peers`)
  assert.equal(r.status, 200)
  return JSON.parse(r.body.toString('utf8')) as PeersView
}

function postNotice(origin: TestOrigin, body: string, headers: Record<string, string> = {}) {
  return request(`${origin.control}/api/v1/peers/notices`, {
    method: 'POST',
    body,
    headers: {
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(body)),
      Authorization: `Bearer ${TOKEN}`,
      ...headers,
    },
  })
}

describe('commit notices between origin nodes', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'liveorigin-peers-'))
  const ast = Date.now() - 10 * D
  const { log, lines: warnings } = capturedLog('warn')
  let a: TestOrigin
  let b: TestOrigin
  let c: TestOrigin
  const overrides = {
    'peers.enabled': true,
    'peers.heartbeatMs': 100,
    'peers.ttlMs': 2000,
    'delivery.holdPolling': false,
    'control.token': TOKEN,
  }

  before(async () => {
    a = await startOrigin(overrides, { dataDir, log })
    // Created before B starts, so that B loads it at start-up. Segments are held up to a
    // minute before they are due and a minute after, so that only a notice releases them.
    await createChannel(
      a,
      'ch',
      {
        segmentDurationMs: D,
        availabilityStartTime: ast,
        holdWindowMs: 60_000,
        lateAllowanceMs: 60_000,
        media: '$RepresentationID$/$Number$.ts',
      },
      { Authorization: `Bearer ${TOKEN}` },
    )
    b = await startOrigin(overrides, { dataDir })
    c = await startOrigin(overrides, { dataDir, now: () => Date.now() + SKEW_MS })
  })
  after(async () => {
    // Nodes closing while their peers still send to them close at once (no drain grace wait).
    const closing = performance.now()
    await Promise.all([a?.close(), b?.close(), c?.close()])
    assert.ok(performance.now() - closing < 20_000, `closed in ${performance.now() - closing} ms`)
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('nodes find each other through their heartbeat records', async () => {
    const [ia, ib, ic] = await Promise.all([a, b, c].map(async (o) => (await peersOf(o)).id))
    await waitFor('every node lists the two others', async () => {
      for (const [o, others] of [
        [a, [ib, ic]],
        [b, [ia, ic]],
        [c, [ia, ib]],
      ] as const) {
        const ids = (await peersOf(o)).peers.filter((p) => p.live && !p.skipped).map((p) => p.id)
        if (!others.every((id) => ids.includes(id!))) return false
      }
      return true
    })
    const view = await peersOf(a)
    const peerB = view.peers.find((p) => p.id === ib)!
    assert.equal(peerB.url, b.control)
    // A probe that timed out on a busy machine skips a peer until its next heartbeat.
    await waitFor('A sends notices to both', async () => (await metric(a, 'liveorigin_peers')) === 2)
  })

  it('a request held on B is released by a PUT on A, with B polling nothing', async () => {
    // Segment 12 is due in 2 D: held (H = 1 min), its deadline a minute after it is due.
    const n = Math.floor((Date.now() - ast) / D) + 2
    const path = `/ch/video/${n}.ts`
    const held = get(b, path)
    await waitForHeld(b, 1)
    assert.equal(b.running.context!.holds.polls, false, 'B does not poll')
    const received0 = await metric(b, 'liveorigin_peer_notices_total', { direction: 'received' })
    const body = Buffer.from(`segment ${n}`)
    const r = await put(a, path, body)
    assert.equal(r.status, 201, r.body.toString())
    const answer = await held
    assert.equal(answer.status, 200)
    assert.ok(answer.body.equals(body))
    // Released long before its deadline: by A's notice, which B counted.
    assert.ok((await metric(b, 'liveorigin_peer_notices_total', { direction: 'received' })) > received0)
    assert.ok((await metric(a, 'liveorigin_peer_notices_total', { direction: 'sent', result: 'ok' })) >= 1)
  })

  it('a removal on A reaches B: B no longer serves the copy it had cached', async () => {
    const path = '/ch/other/removed.bin'
    const body = Buffer.from('to be removed')
    assert.equal((await put(a, path, body)).status, 201)
    assert.equal((await get(b, path)).status, 200)
    const received0 = await metric(b, 'liveorigin_peer_notices_total', { direction: 'received' })
    const removed = await request(`${a.ingest}${path}`, {
      method: 'DELETE',
      headers: { 'Pipeline-Id': 'east' },
    })
    assert.equal(removed.status, 200)
    await waitFor(
      'the removal notice on B',
      async () => (await metric(b, 'liveorigin_peer_notices_total', { direction: 'received' })) > received0,
    )
    assert.equal((await get(b, path)).status, 404)
  })

  it("A measures C's clock 400 ms ahead, shows it, and raises the alarm", async () => {
    const ic = (await peersOf(c)).id
    const ia = (await peersOf(a)).id
    await waitFor('an offset of C on A', async () =>
      (await peersOf(a)).peers.some((p) => p.id === ic && p.clockAlarm),
    )
    const seen = (await peersOf(a)).peers.find((p) => p.id === ic)!
    // The peer's clock is read between send and answer: the error is at most half the round trip.
    assert.ok(seen.rttMs !== null && seen.clockOffsetMs !== null)
    assert.ok(Math.abs(seen.clockOffsetMs - SKEW_MS) <= seen.rttMs / 2 + 1, JSON.stringify(seen))
    assert.ok(
      Math.abs((await metric(a, 'liveorigin_peer_clock_offset_ms', { peer: ic })) - SKEW_MS) <=
        seen.rttMs / 2 + 1,
    )
    assert.equal(await metric(a, 'liveorigin_peer_clock_skew_alarm', { peer: ic }), 1)
    assert.ok(warnings.some((w) => w.peer === ic && /clock offset/.test(String(w.msg))))
    // B's clock is A's: no alarm, offset within half a round trip of 0.
    const ib = (await peersOf(b)).id
    await waitFor('an offset of B on A', async () =>
      (await peersOf(a)).peers.some((p) => p.id === ib && p.clockOffsetMs !== null),
    )
    const peerB = (await peersOf(a)).peers.find((p) => p.id === ib)!
    assert.equal(peerB.clockAlarm, false)
    assert.ok(Math.abs(peerB.clockOffsetMs!) <= peerB.rttMs! / 2 + 1, JSON.stringify(peerB))
    // C's heartbeat tells the others what C measured: A 400 ms behind.
    await waitFor('C publishes its offsets', async () => {
      const o = (await peersOf(a)).peers.find((p) => p.id === ic)?.offsets[ia]
      return o !== undefined && Math.abs(o + SKEW_MS) <= 50
    })
  })

  it('a peer that does not answer is skipped until its next heartbeat', async () => {
    const driver = a.running.context!.driver
    const at = Date.now()
    // A heartbeat record of a node whose control listener is gone (a port nothing listens on).
    const ghost = {
      id: 'ghost-node',
      url: 'http://127.0.0.1:9',
      startedAt: at,
      at,
      expiresAt: at + 60_000,
      offsets: {},
    }
    await driver.putRecord('peers', ghost.id, ghost)
    try {
      await waitFor('the ghost skipped', async () =>
        (await peersOf(a)).peers.some((p) => p.id === ghost.id && p.skipped),
      )
      assert.ok(warnings.some((w) => w.peer === ghost.id && /skipped/.test(String(w.msg))))
      // The others are still sent notices.
      assert.equal(await metric(a, 'liveorigin_peers'), 2)
    } finally {
      await driver.deleteRecord('peers', ghost.id)
    }
  })

  it('a bad notice gets a 400 naming the problem; without the control token, a 401', async () => {
    const bad = await postNotice(
      a,
      JSON.stringify({ from: 'x', notices: [{ type: 'commit', channel: 'ch' }] }),
    )
    assert.equal(bad.status, 400)
    const error = (JSON.parse(bad.body.toString()) as { error: { code: string; message: string } }).error
    assert.equal(error.code, 'LIVEORIGIN_ERR_BAD_REQUEST')
    assert.match(error.message, /notices\[0\]\.path/)
    const badPath = await postNotice(
      a,
      JSON.stringify({
        from: 'x',
        notices: [{ type: 'remove', channel: 'ch', path: '../etc/passwd', pipeline: 'east' }],
      }),
    )
    assert.equal(badPath.status, 400)
    const noToken = await postNotice(a, JSON.stringify({ from: 'x', notices: [] }), { Authorization: '' })
    assert.equal(noToken.status, 401)
    const form = await postNotice(a, 'from=x', { 'Content-Type': 'application/x-www-form-urlencoded' })
    assert.equal(form.status, 415)
    const probe = await postNotice(a, JSON.stringify({ from: 'x', notices: [] }))
    assert.equal(probe.status, 200)
    const answer = JSON.parse(probe.body.toString()) as { id: string; at: number; accepted: number }
    assert.equal(answer.id, (await peersOf(a)).id)
    assert.equal(answer.accepted, 0)
  })
})

it('a node with peer notices off answers 404 to a notice', async () => {
  const origin = await startOrigin()
  try {
    const body = JSON.stringify({ from: 'x', notices: [] })
    const r = await request(`${origin.control}/api/v1/peers/notices`, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) },
    })
    assert.equal(r.status, 404)
    assert.deepEqual(JSON.parse((await request(`${origin.control}/api/v1/peers`)).body.toString()), {
      enabled: false,
    })
  } finally {
    await origin.close()
  }
})
