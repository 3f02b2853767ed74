import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, it } from 'node:test'
import { Pool } from 'undici'
import { type CliOrigin, startCli } from '../helpers/cli.js'

// The real multi-process `serve` (ingest and delivery in separate processes), each process
// with storage slowed on purpose: 20 ms added to every operation, 4 at a time.
const dataDir = mkdtempSync(join(tmpdir(), 'liveorigin-shed-'))
let origin: CliOrigin
const D = 1000
const ast = Date.now() - 600 * D
const edge = () => Math.floor((Date.now() - ast) / D) // segment N is available at AST + N·D (S = 1)

before(async () => {
  origin = await startCli(['--data-dir', dataDir], {
    LIVEORIGIN_DELIVERY_WORKERS: '1',
    LIVEORIGIN_STORAGE_INJECT: '{"latencyMs":20,"maxConcurrent":4}',
    // The pressure here is the slowed storage; load from other processes on a busy machine
    // (event-loop delay) must not decide what is shed.
    LIVEORIGIN_OVERLOAD_EVENT_LOOP_DELAY_MS: '2000',
    // Delivery at normal priority: niced, it starves on a busy machine and never starts.
    LIVEORIGIN_DELIVERY_NICENESS: '0',
  })
  const r = await fetch(`${origin.control}/api/v1/channels/live`, {
    method: 'PUT',
    // A 10 s late allowance: on a busy machine the packager below may lag the live edge by
    // seconds, and a held live-edge read must then wait for its PUT, not end in a 410.
    body: JSON.stringify({ segmentDurationMs: D, availabilityStartTime: ast, lateAllowanceMs: 10 * D }),
  })
  assert.equal(r.status, 201)
})
after(() => {
  origin.child.kill('SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
})

it('under a flood of cold DVR reads: DVR is shed with 503s, live-edge reads answer 200, every PUT succeeds', async (t) => {
  const putStatuses: number[] = []
  const liveStatuses: number[] = []
  const dvr = { ok: 0, shed: 0, other: 0, shedHeaders: [] as Record<string, string>[] }
  // At least 6 s, and on a busy machine until enough of each kind of request was made
  // (counted, not timed), at most 60 s.
  const started = Date.now()
  let running = true
  const stopCheck = setInterval(() => {
    const enough = liveStatuses.length >= 5 && putStatuses.length >= 4 && dvr.shed > 0
    if ((Date.now() - started >= 6000 && enough) || Date.now() - started >= 60_000) running = false
  }, 50)

  // A packager: every segment up to the live edge, none skipped even when a PUT is slow.
  let next = edge()
  const publisher = (async () => {
    while (running) {
      if (next > edge()) {
        await new Promise((res) => setTimeout(res, 50))
        continue
      }
      const n = next++
      const r = await fetch(`${origin.ingest}/live/v/${n}.m4s`, {
        method: 'PUT',
        body: randomBytes(200_000),
        headers: { 'Pipeline-Id': 'east' },
      })
      putStatuses.push(r.status)
      await r.arrayBuffer()
    }
  })()

  // A player at the live edge.
  const player = (async () => {
    await new Promise((res) => setTimeout(res, 300))
    while (running) {
      const r = await fetch(`${origin.delivery}/live/v/${edge()}.m4s`)
      liveStatuses.push(r.status)
      await r.arrayBuffer()
      await new Promise((res) => setTimeout(res, 100))
    }
  })()

  // The storm: 128 connections asking for old segments nobody has read.
  const pool = new Pool(origin.delivery, { connections: 128, pipelining: 1 })
  let n = 1
  const storm = Array.from({ length: 128 }, async () => {
    while (running) {
      const { statusCode, headers, body } = await pool.request({
        path: `/live/v/${(n++ % 400) + 1}.m4s`,
        method: 'GET',
      })
      await body.arrayBuffer()
      if (statusCode === 503) {
        dvr.shed++
        if (dvr.shedHeaders.length < 3) dvr.shedHeaders.push(headers as Record<string, string>)
      } else if (statusCode === 410 || statusCode === 200) dvr.ok++
      else dvr.other++
    }
  })
  await Promise.all([publisher, player, ...storm])
  clearInterval(stopCheck)
  await pool.close()

  t.diagnostic(
    `${Date.now() - started} ms; DVR: ${dvr.shed} shed, ${dvr.ok} answered; live-edge reads: ${liveStatuses.length}; PUTs: ${putStatuses.length}`,
  )
  assert.ok(dvr.shed > 0, `DVR reads were shed (shed ${dvr.shed}, answered ${dvr.ok})`)
  assert.equal(dvr.other, 0)
  for (const h of dvr.shedHeaders) {
    assert.equal(h['cache-control'], 'max-age=5')
    assert.equal(h['cache-ttl-ms'], '5000')
    assert.equal(h['retry-after'], '5')
    assert.equal(h['cmsd-dynamic'], '"liveorigin";du')
  }
  assert.ok(liveStatuses.length >= 5, `live-edge reads made: ${liveStatuses.length}`)
  assert.deepEqual(
    liveStatuses.filter((s) => s !== 200),
    [],
    'every live-edge read answered 200',
  )
  assert.ok(putStatuses.length >= 4, `PUTs made: ${putStatuses.length}`)
  assert.deepEqual(
    putStatuses.filter((s) => s !== 201 && s !== 204),
    [],
    'every PUT succeeded',
  )
  const m = await (await fetch(`${origin.control}/metrics`)).text()
  assert.match(m, /liveorigin_shed_requests_total\{class="dvr"\} [1-9]/)
  assert.doesNotMatch(m, /liveorigin_shed_requests_total\{class="live"\}/)
})
