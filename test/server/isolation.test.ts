import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from 'undici'
import { type CliOrigin, startCli } from '../helpers/cli.js'
import { createChannel } from '../helpers/http.js'

// The multi-process `serve`: a supervisor (control), one ingest process, two delivery processes.
const dataDir = mkdtempSync(join(tmpdir(), 'liveorigin-iso-'))
let origin: CliOrigin

function workerPids(output: string, role: string): number[] {
  return output
    .split('\n')
    .filter((l) => l.includes('"worker listening"') && l.includes(`"role":"${role}"`))
    .map((l) => (JSON.parse(l) as { pid: number }).pid)
}

async function heldRequests(): Promise<number> {
  const m = await (await fetch(`${origin.control}/metrics`)).text()
  return Number(/^liveorigin_held_requests (\d+)/m.exec(m)?.[1] ?? 0)
}

before(async () => {
  // The test's client runs on this machine: delivery processes must not yield the CPU to it.
  origin = await startCli(['--data-dir', dataDir], {
    LIVEORIGIN_DELIVERY_WORKERS: '2',
    LIVEORIGIN_DELIVERY_NICENESS: '0',
  })
  // Bounded waits are generous: on a busy machine start-up takes seconds; they end at once when done.
  const deadline = Date.now() + 30_000
  while (
    (workerPids(origin.output(), 'delivery').length < 2 ||
      workerPids(origin.output(), 'ingest').length < 1) &&
    Date.now() < deadline
  ) {
    await new Promise((res) => setTimeout(res, 50))
  }
})
after(() => {
  origin.child.kill('SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
})

describe('role isolation on one machine', () => {
  it('runs ingest and delivery in separate processes', () => {
    const ingest = workerPids(origin.output(), 'ingest')
    const delivery = workerPids(origin.output(), 'delivery')
    assert.equal(ingest.length, 1, origin.output().slice(0, 2000))
    assert.equal(delivery.length, 2)
    assert.ok(!delivery.includes(ingest[0]!))
    assert.ok(!delivery.includes(origin.child.pid!))
  })

  it('a held GET in a delivery process is released by the PUT in the ingest process', async (t) => {
    const D = 1000
    const ast = Date.now() - 3 * D
    // Not fMP4 (no inspection): the bodies here are random bytes.
    await createChannel(origin, 'hold', {
      segmentDurationMs: D,
      availabilityStartTime: ast,
      holdWindowMs: 60_000,
      lateAllowanceMs: 60_000,
      dvrWindowMs: 600_000,
      media: '$RepresentationID$/$Number$.dat',
    })
    const gaps: number[] = []
    // Segment n is due at ast + n·D; from A(n) − H (H = 60 s) until A(n) + R a GET is held.
    const first = Math.floor((Date.now() - ast) / D) + 1
    for (let i = 0; i < 20; i++) {
      const n = first + i
      const held = Array.from({ length: 4 }, async () => {
        const g = await fetch(`${origin.delivery}/hold/v/${n}.dat`)
        const at = performance.now()
        const atWall = Date.now()
        await g.arrayBuffer()
        return { at, atWall, status: g.status, ht: g.headers.get('cmsd-dynamic') }
      })
      const wait = Date.now() + 10_000
      while ((await heldRequests()) < 4 && Date.now() < wait) await new Promise((res) => setTimeout(res, 5))
      const p = await fetch(`${origin.ingest}/hold/v/${n}.dat`, {
        method: 'PUT',
        body: randomBytes(50_000),
        headers: { 'Pipeline-Id': 'east' },
      })
      const acked = performance.now()
      assert.equal(p.status, 201)
      for (const { at, atWall, status, ht } of await Promise.all(held)) {
        assert.equal(status, 200)
        assert.match(ht ?? '', /^"liveorigin";ht=\d+$/, `segment ${n}, trial ${i}`)
        // Released by the commit on the bus: without it the hold would last until A(n) + R (60 s).
        assert.ok(atWall < ast + n * D + 60_000, `segment ${n} was answered only when its hold ended`)
        gaps.push(Math.max(0, at - acked))
      }
    }
    gaps.sort((a, b) => a - b)
    const q = (x: number) => gaps[Math.min(gaps.length - 1, Math.floor(x * gaps.length))]!
    t.diagnostic(
      `release after the PUT's 201 (ms): p50 ${q(0.5).toFixed(2)}, p99 ${q(0.99).toFixed(2)}, max ${gaps.at(-1)!.toFixed(2)}`,
    )
    // The 20 ms p99 target is measured by the benchmark; here the outcome is asserted (every
    // held GET answered 200 before its hold ended), so that a busy machine cannot fail it.
  })

  it('kill -9 of a delivery worker: it is started again, and ingest is not interrupted', async () => {
    const [victim] = workerPids(origin.output(), 'delivery')
    // PUTs run until the worker has been replaced and at least 10 were made after the kill
    // (counted, not timed: on a busy machine a PUT may take long).
    let stop = false
    // A failed PUT is recorded with its cause (so that the assertion below names it).
    const statuses: (number | string)[] = []
    const writes = (async () => {
      let i = 0
      while (!stop) {
        try {
          const r = await fetch(`${origin.ingest}/iso/v/${i++}.m4s`, {
            method: 'PUT',
            body: randomBytes(100_000),
            headers: { 'Pipeline-Id': 'east' },
          })
          statuses.push(r.status)
          await r.arrayBuffer()
        } catch (err) {
          const cause = (err as Error & { cause?: Error & { code?: string } }).cause
          statuses.push(`PUT ${i - 1}: ${(err as Error).message} (${cause?.code ?? cause?.message})`)
        }
      }
    })()
    const waitUntil = async (check: () => boolean, ms: number) => {
      const deadline = Date.now() + ms
      while (!check() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20))
    }
    await waitUntil(() => statuses.length >= 3, 30_000)
    process.kill(victim!, 'SIGKILL')
    const atKill = statuses.length
    await waitUntil(
      () => workerPids(origin.output(), 'delivery').length >= 3 && statuses.length >= atKill + 10,
      60_000,
    )
    stop = true
    await writes
    assert.ok(statuses.length >= atKill + 10, `${statuses.length - atKill} PUTs after the kill`)
    const failed = statuses.filter((s) => s !== 201)
    // On failure, show what the supervisor and workers logged (restarts, errors).
    const log = origin
      .output()
      .split('\n')
      .filter((l) => /worker|error|"level":[4-6]0/.test(l))
      .slice(-20)
      .join('\n')
    assert.deepEqual(failed, [], `victim ${victim}; ${failed.length} PUTs failed; log:\n${log}`)
    const now = workerPids(origin.output(), 'delivery')
    assert.equal(now.length, 3, 'a new delivery worker started')
    assert.match(origin.output(), /worker died; starting a new one/)
    // Every delivery process answers: fresh connections, spread over them by the kernel (a
    // kept-alive connection of the killed worker would be reset, as for any client).
    for (let i = 0; i < 10; i++) {
      const client = new Client(origin.delivery)
      const g = await client.request({ path: '/iso/v/1.m4s', method: 'GET' })
      assert.equal(g.statusCode, 200)
      await g.body.arrayBuffer()
      await client.close()
    }
  })
})
