/**
 * Real ffmpeg (`-f hls -method PUT`, at real time) pushing to a real `liveorigin serve`
 * through a recording relay: the channel learns its timing from ffmpeg's own playlists
 * (docs/timing.md, "HLS timing"), then HLS segments get what DASH segments get: the next
 * segment is held and released by its PUT (the GET's answer ends after the PUT's body did),
 * a segment 5 ahead gets a 404 whose `Cache-TTL-Ms` is exact, a segment the relay withheld
 * gets the gap policy's answer, stored segments carry the DVR window. Two runs: fMP4 segments
 * anchored on the playlists' arrival, MPEG-TS segments with EXT-X-PROGRAM-DATE-TIME.
 * About 45 s.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type CliOrigin, startCli } from '../helpers/cli.js'
import { request, ttlOf, waitFor } from '../helpers/http.js'

const D = 2000
const DVR = 4 * 3_600_000
/** The segment number the relay answers 201 for without passing it on. */
const WITHHELD = 3
let origin: CliOrigin
let dir: string

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'liveorigin-hls-timing-'))
  origin = await startCli(['--data-dir', join(dir, 'data')])
})
after(async () => {
  origin.child.kill('SIGTERM')
  await origin.exited
  rmSync(dir, { recursive: true, force: true })
})

/** A relay between ffmpeg and the ingest listener that records when each PUT's body ended. */
function relay(target: string): Promise<{ server: Server; url: string; bodyEnded: Map<string, number> }> {
  const bodyEnded = new Map<string, number>()
  const server = createServer((req, res) => {
    const path = req.url ?? '/'
    if (new RegExp(`/index${WITHHELD}\\.(ts|m4s)$`).test(path)) {
      req.resume()
      req.on('end', () => res.writeHead(201).end())
      return
    }
    const out = httpRequest(`${target}${path}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    out.on('error', () => res.writeHead(502).end())
    req.on('end', () => bodyEnded.set(path, performance.now()))
    req.pipe(out)
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodyEnded }),
    ),
  )
}

function ffmpeg(args: string[]): { child: ChildProcess; exited: Promise<unknown>; output: () => string } {
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let out = ''
  child.stderr!.on('data', (d) => {
    out += d
  })
  return { child, exited: new Promise((r) => child.once('close', r)), output: () => out }
}

interface Config {
  segmentDurationMs: number
  availabilityStartTime: number
  startNumber: number
  holdWindowMs: number
  lateAllowanceMs: number
  media: string
}

async function channel(name: string): Promise<{ source: string; config: Config | null }> {
  const r = await request(`${origin.control}/api/v1/channels/${name}`)
  return r.status === 200 ? JSON.parse(r.body.toString('utf8')) : { source: 'none', config: null }
}

const A = (c: Config, n: number) => c.availabilityStartTime + (n - c.startNumber + 1) * c.segmentDurationMs

for (const run of [
  { name: 'fmp4', ext: 'm4s', args: ['-hls_segment_type', 'fmp4'], anchor: 'arrival' },
  { name: 'ts', ext: 'ts', args: ['-hls_flags', 'program_date_time'], anchor: 'program-date-time' },
]) {
  describe(`ffmpeg -f hls -method PUT, ${run.name} segments`, () => {
    it('the channel learns its timing from the playlists; segments follow the timing rules', {
      timeout: 60_000,
    }, async () => {
      const { server, url, bodyEnded } = await relay(origin.ingest)
      const ch = `hls-${run.name}`
      const enc = ffmpeg([
        '-hide_banner',
        ...['-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25'],
        ...['-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '20'],
        ...['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0'],
        ...['-c:a', 'aac', '-b:a', '64k'],
        ...['-f', 'hls', '-hls_time', '2', '-hls_list_size', '5', '-method', 'PUT', ...run.args],
        `${url}/${ch}/index.m3u8`,
      ])
      try {
        await waitFor(`channel ${ch} learned`, async () => (await channel(ch)).source === 'hls', 20_000)
        const learned = (await channel(ch)).config!
        assert.equal(learned.segmentDurationMs, D)
        assert.equal(learned.media, `index$Number$.${run.ext}`)

        // The next segment: asked for right after a playlist arrived, before its own PUT.
        const segPath = (n: number) => `/${ch}/index${n}.${run.ext}`
        let held: { n: number; endedAt: number; status: number; cmsd: unknown } | undefined
        for (let attempt = 0; attempt < 4 && !held; attempt++) {
          const stored = () =>
            Math.max(
              -1,
              ...[...bodyEnded.keys()].map((p) =>
                Number(new RegExp(`^/${ch}/index(\\d+)\\.`).exec(p)?.[1] ?? -1),
              ),
            )
          const last = stored()
          await waitFor('the next segment PUT', () => stored() > last, 10_000)
          const n = stored() + 1
          if (n === WITHHELD) continue
          // Asked for once it may be held (A(N) − H), while ffmpeg is still encoding it.
          const c = (await channel(ch)).config!
          const wait = A(c, n) - c.holdWindowMs - Date.now()
          if (wait > 0) await new Promise((r) => setTimeout(r, wait + 20))
          if (bodyEnded.has(segPath(n))) continue
          const a = await request(`${origin.delivery}${segPath(n)}`)
          const endedAt = performance.now()
          if (a.headers['cmsd-dynamic'] !== undefined)
            held = { n, endedAt, status: a.status, cmsd: a.headers['cmsd-dynamic'] }
        }
        assert.ok(held, 'a GET of the next segment was held')
        assert.equal(held.status, 200)
        const putEnded = bodyEnded.get(segPath(held.n))
        assert.ok(
          putEnded !== undefined && held.endedAt > putEnded,
          'the held answer ended after the PUT body did',
        )

        // Five ahead: 404 until A(N) − H, to the ms.
        let checked = false
        for (let attempt = 0; attempt < 5 && !checked; attempt++) {
          const c1 = (await channel(ch)).config!
          const n = held.n + 5
          const sent = Date.now()
          const a = await request(`${origin.delivery}${segPath(n)}`)
          const received = Date.now()
          const c2 = (await channel(ch)).config!
          if (JSON.stringify(c1) !== JSON.stringify(c2)) continue // re-anchored meanwhile
          assert.equal(a.status, 404)
          const ttl = ttlOf(a).ms
          const until = A(c1, n) - c1.holdWindowMs
          assert.ok(
            ttl >= until - received - 20 && ttl <= until - sent + 20,
            `Cache-TTL-Ms ${ttl} within [${until - received}, ${until - sent}] ± 20`,
          )
          checked = true
        }
        assert.ok(checked, 'the channel timing held still long enough to check a 404')

        // The withheld segment: the gap policy's answer once A(N) + R has passed.
        const c = (await channel(ch)).config!
        const wait = A(c, WITHHELD) + c.lateAllowanceMs - Date.now()
        if (wait > 0) await new Promise((r) => setTimeout(r, wait + 50))
        const gap = await request(`${origin.delivery}${segPath(WITHHELD)}`)
        if (run.ext === 'm4s') {
          assert.equal(gap.status, 200)
          assert.equal(gap.headers['segment-defects'], 'filler')
          assert.equal(ttlOf(gap).ms, D)
        } else {
          assert.equal(gap.status, 410, 'MPEG-TS segments get no filler')
          assert.equal(ttlOf(gap).ms, DVR)
        }

        // Stored segments and the init segment live long in caches; playlists do not.
        const stored = await request(`${origin.delivery}${segPath(WITHHELD + 1)}`)
        assert.equal(stored.status, 200)
        assert.equal(ttlOf(stored).ms, DVR)
        if (run.ext === 'm4s') assert.equal(ttlOf(await request(`${origin.delivery}/${ch}/init.mp4`)).ms, DVR)
        assert.equal(ttlOf(await request(`${origin.delivery}/${ch}/index.m3u8`)).ms, D / 2)
      } finally {
        enc.child.kill('SIGINT')
        await enc.exited
        server.close()
      }
    })
  })
}
