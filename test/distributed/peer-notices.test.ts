/**
 * Commit notices between two origin nodes on the ring (docs/running-at-scale.md#peer-notices),
 * with fallback polling off on both (`delivery.holdPolling: false`): the acceptance of
 * docs/protocol.md#performance-targets, a request held on node B released ≤ 60 ms (p99) after
 * the `2xx` of the PUT on node A. Only A's notice can release it: B polls nothing (its
 * own-zone reads are counted), and the request's deadline is a minute away.
 *
 * The nodes are `liveorigin serve` processes (measure-origin-nodes.ts), B under the
 * supervisor with a delivery worker, as `serve` runs by default: A's ingest commits, A's
 * supervisor sends the notice, B's supervisor receives it and its delivery worker answers.
 * Release is measured as there: from the `2xx` of the PUT on A to the headers of the held
 * answer on B, both on this process's clock. 200 holds, in batches of 20 held at once and
 * released one PUT at a time, so that each sample is one release.
 */

import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { availableParallelism, loadavg } from 'node:os'
import { after, before, describe, it } from 'node:test'
import { request, waitFor } from '../helpers/http.js'
import { metricValue } from '../helpers/origin.js'
import { cassandraContactPoints, memcachedZones, NO_MEMCACHED, NO_RING, percentiles } from './env.js'
import { type OriginNode, putChannel, startOriginNode } from './measure-origin-nodes.js'

const skip = !cassandraContactPoints() ? { skip: NO_RING } : !memcachedZones() ? { skip: NO_MEMCACHED } : {}
/** Its own keyspace: the heartbeat records of these nodes meet no other test's nodes. */
const KEYSPACE = 'liveorigin_notices_test'
const D = 2000
const BATCHES = 10
const PER_BATCH = 20
/**
 * The acceptance bound, checked when the machine has the CPU to meet it: a load average of at
 * most twice its cores during the run. Beyond, other jobs' processes, not the origin, set the
 * tail (three Cassandra JVMs already share the cores), and the release is only checked to
 * beat the hold's deadline by far.
 */
const P99_MS = 60
const BUSY_P99_MS = 1000

async function peersOf(node: OriginNode): Promise<{ id: string; live: string[] }> {
  const view = JSON.parse((await request(`${node.control}/api/v1/peers`)).body.toString()) as {
    id: string
    peers: Array<{ id: string; live: boolean; skipped: boolean }>
  }
  return { id: view.id, live: view.peers.filter((p) => p.live && !p.skipped).map((p) => p.id) }
}

describe('commit notices between two origin nodes on the ring, polling off', skip, () => {
  let a: OriginNode
  let b: OriginNode
  const channel = `notice${randomUUID().slice(0, 8)}`
  const keyPrefix = `lon:${randomUUID().slice(0, 8)}:`
  const ast = Date.now()
  const sections = { delivery: { holdPolling: false } }

  before(async () => {
    a = await startOriginNode({ name: 'A', localZone: 'a', keyPrefix, keyspace: KEYSPACE, sections })
    // H and R of a minute: a request is held from well before its segment is due until long
    // after, so that nothing but a notice answers it within the test's bound.
    await putChannel(a, channel, {
      segmentDurationMs: D,
      availabilityStartTime: ast,
      holdWindowMs: 60_000,
      lateAllowanceMs: 60_000,
      media: '$RepresentationID$/$Number$.ts',
    })
    b = await startOriginNode({
      name: 'B',
      localZone: 'b',
      keyPrefix,
      keyspace: KEYSPACE,
      sections,
      env: { LIVEORIGIN_DELIVERY_WORKERS: '1' },
    })
  })
  after(async () => {
    await Promise.all([a?.close(), b?.close()])
  })

  it('held requests on B are released by PUTs on A: p99 ≤ 60 ms after the 2xx', async (t) => {
    const [ia, ib] = [(await peersOf(a)).id, (await peersOf(b)).id]
    await waitFor('A and B list each other', async () => {
      return (await peersOf(a)).live.includes(ib) && (await peersOf(b)).live.includes(ia)
    })
    const counters = async () => {
      const [ta, tb] = await Promise.all([a.metrics(), b.metrics()])
      return {
        // A poll is the only read of B's own zone alone (`getLocal`).
        polls: metricValue(tb, 'liveorigin_cache_operations_total', { tier: 'memcached', op: 'getLocal' }),
        held: metricValue(tb, 'liveorigin_held_requests'),
        sent: metricValue(ta, 'liveorigin_peer_notices_total', { direction: 'sent', result: 'ok' }),
        failed: metricValue(ta, 'liveorigin_peer_notices_total', { direction: 'sent', result: 'failed' }),
        // B's supervisor receives them; its `/metrics` shows its own peer metrics beside its workers'.
        received: metricValue(tb, 'liveorigin_peer_notices_total', { direction: 'received' }),
      }
    }
    const before = await counters()
    const load0 = loadavg()[0]!
    const releases: number[] = []
    for (let batch = 0; batch < BATCHES; batch++) {
      // A segment due a few seconds from now: every request for it is held (H = 1 min).
      const n = Math.ceil((Date.now() - ast) / D) + 3
      const paths = Array.from({ length: PER_BATCH }, (_, i) => `/${channel}/r${batch}x${i}/${n}.ts`)
      const held = paths.map((path) => request(`${b.delivery}${path}`))
      await waitFor(`${PER_BATCH} requests held on B`, async () => (await counters()).held === PER_BATCH)
      for (const [i, path] of paths.entries()) {
        const body = randomBytes(64 * 1024)
        const r = await request(`${a.ingest}${path}`, {
          method: 'PUT',
          body,
          headers: { 'Pipeline-Id': 'east', 'Content-Length': String(body.length) },
        })
        const ackedAt = performance.now()
        assert.equal(r.status, 201, r.body.toString())
        const answer = await held[i]!
        assert.equal(answer.status, 200, `${path} after the commit on A`)
        assert.ok(answer.body.equals(body))
        releases.push(Math.max(0, answer.headersAt - ackedAt))
      }
    }
    const after = await counters()
    const p = percentiles(releases)
    const load1 = loadavg()[0]!
    const busy = Math.max(load0, load1) > 2 * availableParallelism()
    const line = `held on B, released by A's notice after the PUT's 2xx (polling off): p50 ${p.p50.toFixed(1)} ms, p90 ${p.p90.toFixed(1)} ms, p99 ${p.p99.toFixed(1)} ms, max ${p.max.toFixed(1)} ms (${releases.length} holds, load average ${load0.toFixed(1)} → ${load1.toFixed(1)}${busy ? `: too busy for the ${P99_MS} ms bound, checked against ${BUSY_P99_MS} ms` : ''})`
    t.diagnostic(line)
    console.log(line)
    assert.equal(releases.length, BATCHES * PER_BATCH)
    assert.equal(after.polls - before.polls, 0, 'B polled')
    assert.equal(after.failed - before.failed, 0, 'a notice failed')
    assert.ok(after.sent - before.sent >= BATCHES * PER_BATCH, 'a notice per PUT')
    assert.ok(after.received - before.received >= BATCHES * PER_BATCH, 'B received them')
    assert.ok(p.p99 <= (busy ? BUSY_P99_MS : P99_MS), line)
  })
})
