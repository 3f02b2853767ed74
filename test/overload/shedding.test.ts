import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, it } from 'node:test'
import { Pool } from 'undici'
import { type CliOrigin, startCli } from '../helpers/cli.js'
import { createLiveChannel, D, edge } from './live-channel.js'

// The real multi-process `serve` (ingest and delivery in separate processes), each process
// with storage slowed on purpose: 20 ms added to every operation, 4 at a time.
const dataDir = mkdtempSync(join(tmpdir(), 'liveorigin-shed-'))
let origin: CliOrigin
/** The storm lasts until every outcome below was seen, and at most this long. */
const MAX_STORM_MS = 30_000
/** Segments before the live edge the packager publishes first (the player asks for edge − 1). */
const STARTUP_BACKLOG = 3

before(async () => {
  origin = await startCli(['--data-dir', dataDir], {
    LIVEORIGIN_DELIVERY_WORKERS: '1',
    LIVEORIGIN_STORAGE_INJECT: '{"latencyMs":20,"maxConcurrent":4}',
    // The players' requests name the live edge when they are made; on this busy machine one
    // may reach the origin seconds later (the storm starves everyone). Ten segments keep such
    // a request live class; the storm's segments (1–400, the edge is past 600) stay DVR.
    LIVEORIGIN_DELIVERY_LIVE_EDGE_SEGMENTS: '10',
  })
  // A 10 s late allowance: on a busy machine the packager below may lag the live edge by
  // seconds, and a held live-edge read must then wait for its PUT, not end in a 410.
  await createLiveChannel(origin, ['v', 'a'], 10 * D)
})
after(() => {
  origin.child.kill('SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
})

it('under a flood of cold DVR reads: DVR is shed with 503s, a starting player gets init segments, manifest and the live edge, every PUT succeeds', {
  timeout: 120_000,
}, async (t) => {
  const deadline = Date.now() + MAX_STORM_MS
  const putStatuses: number[] = []
  const liveStatuses: number[] = []
  const dvr = { ok: 0, shed: 0, other: [] as number[], shedHeaders: [] as Record<string, string>[] }
  /** What a player starting while DVR is shed got, object by object. */
  const startup: Array<{ path: string; status: number; ms: number }> = []
  let startupDone = false
  const done = () =>
    Date.now() >= deadline ||
    (startupDone && dvr.shed > 0 && liveStatuses.length >= 5 && putStatuses.length >= 4)

  // A packager: every segment (video and audio) up to the live edge, none skipped even when a PUT is slow.
  // It has been running for a while: it starts a few segments back, so that the segment the
  // starting player asks for (the one before the edge, from its clock) is always published.
  let next = edge() - STARTUP_BACKLOG
  // It stops only once every reader has its answers: a read held for a segment must see it come.
  let readersDone = false
  const publisher = (async () => {
    while (!readersDone) {
      if (next > edge()) {
        await new Promise((res) => setTimeout(res, 50))
        continue
      }
      const n = next++
      for (const rendition of ['v', 'a']) {
        const r = await fetch(`${origin.ingest}/live/${rendition}/${n}.ts`, {
          method: 'PUT',
          body: randomBytes(rendition === 'v' ? 200_000 : 20_000),
          headers: { 'Pipeline-Id': 'east' },
        })
        putStatuses.push(r.status)
        await r.arrayBuffer()
      }
    }
  })()

  // A player at the live edge.
  const player = (async () => {
    await new Promise((res) => setTimeout(res, 300))
    while (!done()) {
      const r = await fetch(`${origin.delivery}/live/v/${edge()}.ts`)
      liveStatuses.push(r.status)
      await r.arrayBuffer()
      await new Promise((res) => setTimeout(res, 100))
    }
  })()

  // A player that starts once DVR reads are being shed: the manifest, then both init
  // segments, then the live-edge segment of both renditions (each pair at once, as players
  // do). Its start-up: from its first request until it holds all five.
  let startupMs = 0
  const starter = (async () => {
    while (dvr.shed === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20))
    const started = Date.now()
    const get = async (path: string) => {
      const asked = Date.now()
      const r = await fetch(`${origin.delivery}/live/${path}`)
      const body = Buffer.from(await r.arrayBuffer())
      startup.push({ path, status: r.status, ms: Date.now() - asked })
      if (r.status !== 200) t.diagnostic(`${path}: ${r.status} ${body.toString('utf8', 0, 300)}`)
    }
    await get('manifest.mpd')
    await Promise.all([get('v/init.mp4'), get('a/init.mp4')])
    // The segment number is taken when it is asked for, as a player does from its clock.
    const n = edge() - 1
    await Promise.all([get(`v/${n}.ts`), get(`a/${n}.ts`)])
    startupMs = Date.now() - started
    t.diagnostic(`start-up took ${startupMs} ms (load average ${loadavg()[0]!.toFixed(1)})`)
    startupDone = true
  })()

  // The storm: 128 connections asking for old segments nobody has read.
  const pool = new Pool(origin.delivery, { connections: 128, pipelining: 1 })
  let n = 1
  const storm = Array.from({ length: 128 }, async () => {
    while (!done()) {
      const { statusCode, headers, body } = await pool.request({
        path: `/live/v/${(n++ % 400) + 1}.ts`,
        method: 'GET',
      })
      await body.arrayBuffer()
      if (statusCode === 503) {
        dvr.shed++
        if (dvr.shedHeaders.length < 3) dvr.shedHeaders.push(headers as Record<string, string>)
      } else if (statusCode === 410 || statusCode === 200) dvr.ok++
      else dvr.other.push(statusCode)
    }
  })
  await Promise.all([player, starter, ...storm])
  readersDone = true
  await publisher
  await pool.close()

  t.diagnostic(
    `DVR: ${dvr.shed} shed, ${dvr.ok} answered; live-edge reads: ${liveStatuses.length}; PUTs: ${putStatuses.length}; start-up: ${JSON.stringify(startup)}`,
  )
  for (const line of origin.output().split('\n')) {
    if (line.includes('requests shed under pressure')) t.diagnostic(line)
  }
  assert.ok(dvr.shed > 0, `DVR reads were shed (shed ${dvr.shed}, answered ${dvr.ok})`)
  assert.deepEqual(dvr.other, [])
  for (const h of dvr.shedHeaders) {
    // A CDN keeps the refusal for 5 s and backs off; a browser may not reuse it.
    assert.equal(h['cache-control'], 'no-store')
    assert.equal(h['cdn-cache-control'], 'max-age=5')
    assert.equal(h['cache-ttl-ms'], '5000')
    assert.equal(h['retry-after'], '5')
    assert.equal(h['cmsd-dynamic'], '"liveorigin";du')
    assert.equal(h['access-control-allow-origin'], '*')
    const exposed = h['access-control-expose-headers']!.split(/,\s*/)
    for (const name of ['Date', 'Retry-After', 'Cache-TTL-Ms', 'CMSD-Dynamic'])
      assert.ok(exposed.includes(name), name)
    assert.match(h['content-type']!, /application\/json/)
  }
  assert.deepEqual(
    startup.map((s) => [s.path, s.status]),
    startup.map((s) => [s.path, 200]),
    'a player starting during the shedding gets manifest, init segments and the live edge',
  )
  assert.equal(startup.length, 5, 'the starting player made every request')
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
  // Shedding is logged, rate-limited: one warn line per class and second, with a count.
  const lines = origin
    .output()
    .split('\n')
    .filter((l) => l.includes('requests shed under pressure'))
    .map((l) => JSON.parse(l) as { class: string; shed: number; dvrInFlight: number; level: number | string })
  assert.ok(lines.length > 0, 'shedding was logged')
  assert.ok(lines.length < dvr.shed, `${lines.length} lines for ${dvr.shed} refusals`)
  assert.ok(lines.every((l) => l.class === 'dvr' && l.shed >= 1))
  // DVR requests beyond overload.maxDvrInFlight (default 16) in progress are refused, not queued.
  assert.ok(
    lines.every((l) => l.dvrInFlight <= 16),
    `DVR requests in progress at refusals: ${lines.map((l) => l.dvrInFlight)}`,
  )
  const m = await (await fetch(`${origin.control}/metrics`)).text()
  assert.match(m, /liveorigin_shed_requests_total\{class="dvr"\} [1-9]/)
  assert.doesNotMatch(m, /liveorigin_shed_requests_total\{class="live"\}/)
})
