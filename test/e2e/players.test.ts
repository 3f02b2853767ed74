/**
 * Real players through the origin: dash.js 5 and Shaka Player 5 (the channel's MPD) and hls.js
 * 1.7 (its HLS playlists), from npm, in Debian's Chromium (driven by playwright-core), all
 * three playing one `liveorigin simulate` channel at once
 * from a real multi-process `liveorigin serve`, while the simulator forces every fault the
 * origin has to hide: east down from 20 s to 40 s, 10 % of copies defective, a segment that no
 * pipeline sends (`--gap 30s`) and a segment whose only copy is cut off (`--cut 50s`). From
 * the players' own events and `video.currentTime`: no stall longer than one segment, no fatal
 * player error, the playback clock advancing through every fault. The players join once the
 * channel holds its presentation delay of media, as viewers of an event join after its slate.
 *
 * Then start-up under shedding: with storage slowed (`storage.inject`) and a storm of cold
 * DVR reads being shed, every player starts within 3 s, and a shed 503 carries headers that
 * make CDNs back off without letting a browser reuse it.
 *
 * About 3 min. Measured stalls, start-up times and errors are printed.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'playwright-core'
import { Pool } from 'undici'
import { MULTIVARIANT_PATH } from '../../src/simulate/hls.js'
import type { Report } from '../../src/simulate/report.js'
import { presentationDelayMs } from '../../src/timing/schedule.js'
import { type CliOrigin, startCli } from '../helpers/cli.js'
import {
  launchChromium,
  openPlayer,
  type PageLog,
  type PageResponse,
  type PlaybackSummary,
  type PlayerName,
  readLog,
  startPageServer,
  summarize,
} from './player-pages.js'

const D = 2000
/** The channel's late allowance R (the default, 2·D) and the least delay a player keeps: R + 2·D. */
const PRESENTATION_DELAY_MS = presentationDelayMs({ segmentDurationMs: D, lateAllowanceMs: 2 * D })
/** When viewers join, after the channel's availabilityStartTime. */
const JOIN_AFTER_MS = PRESENTATION_DELAY_MS + 2 * D
const PLAYERS: readonly PlayerName[] = ['dashjs', 'shaka', 'hlsjs']
/** What each player opens: the channel's MPD, or its multivariant playlist for hls.js. */
const sourceOf = (player: PlayerName, delivery: string, channel: string) =>
  `${delivery}/${channel}/${player === 'hlsjs' ? MULTIVARIANT_PATH : 'manifest.mpd'}`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)))

interface Sim {
  exited: Promise<number | null>
  output(): string
  stop(): void
}

/** `liveorigin simulate` as a child process, from the TypeScript sources. */
function simulate(args: string[]): Sim {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'simulate', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d) => {
    out += d
  })
  child.stderr.on('data', (d) => {
    out += d
  })
  return {
    exited: new Promise((resolve) => child.once('close', resolve)),
    output: () => out,
    stop: () => {
      if (child.exitCode === null) child.kill('SIGINT')
    },
  }
}

/** Waits until the channel's MPD is served (the simulator has published its first one). */
async function waitForManifest(url: string, sim: Sim): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await fetch(url)
    await r.arrayBuffer()
    if (r.status === 200) return
    await sleep(100)
  }
  assert.fail(`no manifest at ${url}:\n${sim.output()}`)
}

async function stopOrigin(origin: CliOrigin | undefined): Promise<void> {
  if (!origin || origin.child.exitCode !== null) return
  const exited = new Promise((r) => origin.child.once('exit', r))
  origin.child.kill('SIGTERM')
  await exited
}

/** One line per player: start-up, stalls, errors, and what the origin answered the page. */
function describePlayback(player: string, s: PlaybackSummary, responses: readonly PageResponse[]): string {
  const statuses = new Map<number, number>()
  for (const r of responses) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
  const stallMs = s.stalls.map((x) => x.ms)
  return [
    `${player}: playing ${s.startupMs} ms after load; currentTime ${s.firstCurrentTime.toFixed(1)} → ${s.lastCurrentTime.toFixed(1)} s${s.latency ? `; behind the wall clock ${s.latency.min.toFixed(2)}–${s.latency.max.toFixed(2)} s` : ''}`,
    `  stalls (clock still ≥ 500 ms): ${s.stalls.length}${stallMs.length ? `, max ${Math.max(...stallMs)} ms, total ${stallMs.reduce((a, b) => a + b, 0)} ms, at currentTime ${s.stalls.map((x) => x.currentTime.toFixed(1)).join(', ')}` : ''}`,
    `  waiting→playing: ${s.waits.length}${s.waits.length ? `, max ${Math.max(...s.waits)} ms` : ''}`,
    `  errors: ${s.errors.length} (${s.fatalErrors.length} fatal)${s.errors.length ? `: ${groupErrors(s.errors)}` : ''}`,
    `  answers from the origin: ${[...statuses].map(([k, v]) => `${v}× ${k}`).join(', ')}; the first 5: ${responses
      .slice(0, 5)
      .map((r) => `${r.url.replace(/^https?:\/\/[^/]+/, '')} ${r.status} in ${r.ms} ms`)
      .join(', ')}`,
  ].join('\n')
}

/** Errors grouped by code and message (first 160 characters), with counts. */
function groupErrors(errors: PlaybackSummary['errors']): string {
  const groups = new Map<string, number>()
  for (const e of errors) {
    const key = `${e.fatal ? 'fatal ' : ''}${e.code} ${e.message.slice(0, 160)}`
    groups.set(key, (groups.get(key) ?? 0) + 1)
  }
  return [...groups].map(([k, v]) => `${v}× ${k}`).join(' | ')
}

/** With LIVEORIGIN_PLAYERS_DUMP=<dir>: what the pages recorded, as JSON, for a closer look. */
function dump(name: string, data: unknown): void {
  const to = process.env.LIVEORIGIN_PLAYERS_DUMP
  if (to) writeFileSync(join(to, `${name}.json`), JSON.stringify(data, null, 1))
}

/** The answers that are not a clean 200, for the failure messages. */
function oddAnswers(responses: readonly PageResponse[]): string {
  return responses
    .filter((r) => r.status !== 200 || r.defects !== '')
    .map((r) => `${r.status} ${r.url.replace(/^https?:\/\/[^/]+/, '')} ${r.defects} (${r.ms} ms)`.trim())
    .slice(0, 30)
    .join('\n')
}

describe('real players (dash.js, Shaka Player, hls.js in Chromium) through every fault the origin hides', () => {
  let origin: CliOrigin | undefined
  let pages: Awaited<ReturnType<typeof startPageServer>>
  let browser: Browser
  let dir: string
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'liveorigin-players-'))
    pages = await startPageServer()
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await pages?.close()
    await stopOrigin(origin)
    rmSync(dir, { recursive: true, force: true })
  })

  it('play 60 s and more through an outage, defective copies, a gap and a cut: no stall over D, no fatal error', {
    timeout: 300_000,
  }, async () => {
    origin = await startCli(['--data-dir', join(dir, 'data')], { LIVEORIGIN_DELIVERY_WORKERS: '1' }, 60_000)
    const report = join(dir, 'report.json')
    const channel = 'players'
    const sim = simulate([
      '--ingest',
      origin.ingest,
      '--control',
      origin.control,
      '--delivery',
      origin.delivery,
      '--channel',
      channel,
      '--segment-ms',
      String(D),
      '--duration',
      '96s',
      '--outage',
      'east:20s-40s',
      '--defect-rate',
      '0.1',
      '--gap',
      '30s',
      '--cut',
      '50s',
      // A fixed S: with the seed, the same faults on the same segments in every run.
      '--start-number',
      '1000',
      '--seed',
      'players-e2e',
      '--report',
      report,
    ])
    const mpd = `${origin.delivery}/${channel}/manifest.mpd`
    try {
      await waitForManifest(mpd, sim)
      const ast = (
        (await (await fetch(`${origin.control}/api/v1/channels/${channel}`)).json()) as {
          config: { availabilityStartTime: number }
        }
      ).config.availabilityStartTime
      // Viewers join once the channel holds a full presentation delay of media (R + 2·D) and a
      // segment more. A player that joins earlier cannot sit that far behind the live edge (the
      // media is not there yet; dash.js and Shaka Player then keep the shorter delay they started
      // with), and a gap's filler, answered at A(N) + R, can reach it late: docs/timing.md,
      // "Presentation delay".
      await sleep(ast + JOIN_AFTER_MS - Date.now())
      // Every player at once, one page each, on the same channel.
      const opened = await Promise.all(
        PLAYERS.map((p) =>
          openPlayer(browser, pages.url, p, sourceOf(p, origin!.delivery, channel), origin!.delivery),
        ),
      )
      // Watch until 86 s after the start: the last segments are published until 96 s, so the
      // end of the run is not a stall; the faults' media times (18–38 s, 30 s, 50 s) are
      // played by about 60 s.
      const until = ast + 86_000
      await sleep(until - Date.now())
      const logs = await Promise.all(opened.map((o) => readLog(o.page)))
      await Promise.all(opened.map((o) => o.page.close()))
      const summaries = logs.map((l) => summarize(l, until, ast))
      const text = PLAYERS.map((p, i) => describePlayback(p, summaries[i]!, opened[i]!.responses)).join('\n')
      console.log(text)
      dump('players-faults', {
        logs,
        responses: opened.map((x) => x.responses),
        console: opened.map((x) => x.console),
      })

      const code = await sim.exited
      assert.equal(code, 0, sim.output())
      const r = JSON.parse(readFileSync(report, 'utf8')) as Report
      // The faults, in media time (currentTime): segment index i plays in [i·D, (i+1)·D).
      const span = (number: number) =>
        [(number - r.startNumber) * D, (number - r.startNumber + 1) * D] as const
      const noClean = [
        ...new Set(
          r.segments
            .filter(
              (s) => !r.pipelines.some((p) => s.copies[p]!.outcome === 'sent' && !s.copies[p]!.defective),
            )
            .map((s) => s.number),
        ),
      ]
      const outage = r.segments.filter((s) => s.copies.east!.outcome === 'outage').map((s) => s.number)
      const faults = [
        ...r.faults.gaps.map((g) => ({ what: 'gap', at: span(g.number) })),
        ...r.faults.cuts.map((c) => ({ what: 'cut', at: span(c.number) })),
        { what: 'outage', at: [span(Math.min(...outage))[0], span(Math.max(...outage))[1]] as const },
        ...noClean.map((n) => ({ what: `no clean copy of ${n}`, at: span(n) })),
      ]
      assert.ok(noClean.length >= 2, `the gap and the cut have no clean copy: ${noClean}`)
      console.log(
        `faults (media time, s): ${faults.map((f) => `${f.what} ${f.at[0] / 1000}–${f.at[1] / 1000}`).join('; ')}`,
      )

      PLAYERS.forEach((player, i) => {
        const s = summaries[i]!
        const context = `${player}\n${text}\n${oddAnswers(opened[i]!.responses)}\n${opened[i]!.console.slice(-10).join('\n')}`
        assert.ok(s.playingAt !== null, `${player} never played\n${context}`)
        assert.equal(s.fatalErrors.length, 0, `${player}: fatal errors\n${context}`)
        if (player === 'dashjs') {
          // dash.js marks no error as recoverable: every error event counts.
          assert.equal(s.errors.length, 0, `${player}: errors\n${context}`)
        }
        for (const stall of s.stalls) {
          assert.ok(
            stall.ms <= D,
            `${player}: stalled ${stall.ms} ms at currentTime ${stall.currentTime}\n${context}`,
          )
        }
        for (const w of s.waits) assert.ok(w <= D, `${player}: waited ${w} ms\n${context}`)
        assert.ok(
          s.lastCurrentTime - s.firstCurrentTime >= 60,
          `${player}: played ${s.firstCurrentTime} → ${s.lastCurrentTime} s\n${context}`,
        )
        for (const f of faults) {
          assert.ok(
            s.firstCurrentTime * 1000 < f.at[0] && s.lastCurrentTime * 1000 >= f.at[1],
            `${player}: the clock did not play through the ${f.what} (${f.at[0] / 1000}–${f.at[1] / 1000} s): ${s.firstCurrentTime} → ${s.lastCurrentTime}\n${context}`,
          )
        }
      })
    } finally {
      sim.stop()
      await sim.exited
    }
  })

  it('under shedding: every player starts within 3 s; a shed 503 backs CDNs off and is not reused by a browser', {
    timeout: 120_000,
  }, async () => {
    await stopOrigin(origin)
    // Storage slowed on purpose in every process: 20 ms added to each operation, 4 at a time.
    origin = await startCli(
      ['--data-dir', join(dir, 'data-shed')],
      {
        LIVEORIGIN_DELIVERY_WORKERS: '1',
        LIVEORIGIN_STORAGE_INJECT: '{"latencyMs":20,"maxConcurrent":4}',
      },
      60_000,
    )
    const o = origin
    const channel = 'shed'
    const sim = simulate([
      '--ingest',
      o.ingest,
      '--control',
      o.control,
      '--delivery',
      o.delivery,
      '--channel',
      channel,
      '--segment-ms',
      String(D),
      '--duration',
      '40s',
      '--seed',
      'players-shed',
    ])
    // A second channel whose old segments nobody has read: the DVR storm's target.
    const stormAst = Date.now() - 600 * 1000
    const created = await fetch(`${o.control}/api/v1/channels/storm`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ segmentDurationMs: 1000, availabilityStartTime: stormAst }),
    })
    assert.equal(created.status, 201)
    // 32 connections reading back to back: several times what the slowed storage serves (4 at
    // a time, 20 ms each), so DVR reads queue and are shed, without the storm's own request
    // rate taking the shared machine's CPU from the players.
    const STORM = 32
    const pool = new Pool(o.delivery, { connections: STORM, pipelining: 1 })
    let stop = false
    const shed: Array<Record<string, string | string[] | undefined>> = []
    const storm = { ok: 0, shed: 0, other: 0 }
    let n = 0
    const workers = Array.from({ length: STORM }, async () => {
      while (!stop) {
        const { statusCode, headers, body } = await pool.request({
          path: `/storm/v/${(n++ % 500) + 1}.m4s`,
          method: 'GET',
        })
        await body.arrayBuffer()
        if (statusCode === 503) {
          storm.shed++
          if (shed.length < 5) shed.push(headers)
        } else if (statusCode < 500) storm.ok++
        else storm.other++
      }
    })
    const mpd = `${o.delivery}/${channel}/manifest.mpd`
    try {
      await waitForManifest(mpd, sim)
      const cfg = (
        (await (await fetch(`${o.control}/api/v1/channels/${channel}`)).json()) as {
          config: { availabilityStartTime: number; startNumber: number }
        }
      ).config
      // How far behind the live edge (the newest segment due) a request for segment n was.
      const behind = (r: PageResponse) => {
        const n = Number(/\/seg-[^/]*-(\d+)\.m4s$/.exec(r.url)?.[1])
        const edge = cfg.startNumber + Math.floor((r.t - r.ms - cfg.availabilityStartTime) / D) - 1
        return Number.isNaN(n) ? null : edge - n
      }
      // Live segments to start from, and the storm in full swing.
      await sleep(3 * D)
      assert.ok(storm.shed > 0, `the storm was not shed: ${JSON.stringify(storm)}`)
      // One viewer starting at a time, while the storm goes on: each page is watched until it
      // has played for 2 s (or for 8 s at most), then closed before the next one opens.
      const opened: Awaited<ReturnType<typeof openPlayer>>[] = []
      const logs: PageLog[] = []
      for (const p of PLAYERS) {
        const page = await openPlayer(browser, pages.url, p, sourceOf(p, o.delivery, channel), o.delivery)
        const give = Date.now() + 8000
        let log = await readLog(page.page)
        while (
          Date.now() < give &&
          !log.events.some((e) => e.type === 'video:playing' && Date.now() - e.t >= 2000)
        ) {
          await sleep(250)
          log = await readLog(page.page)
        }
        await page.page.close()
        opened.push(page)
        logs.push(log)
      }
      const summaries = logs.map((l) => summarize(l, Date.now()))
      dump('players-shed', {
        logs,
        responses: opened.map((x) => x.responses),
        console: opened.map((x) => x.console),
      })
      console.log(
        `under shedding (storm: ${storm.shed} shed, ${storm.ok} answered, ${storm.other} other 5xx):\n` +
          PLAYERS.map((p, i) => describePlayback(p, summaries[i]!, opened[i]!.responses)).join('\n'),
      )
      PLAYERS.forEach((player, i) => {
        const s = summaries[i]!
        const refused = opened[i]!.responses.filter((r) => r.status === 503)
        const firstSegments = opened[i]!.responses.filter((r) => behind(r) !== null)
          .slice(0, 6)
          .map(
            (r) => `${r.url.replace(/^https?:\/\/[^/]+/, '')} ${r.status}, ${behind(r)} behind the live edge`,
          )
        const context = `${player}: ${groupErrors(s.errors)}\nfirst segment requests:\n${firstSegments.join('\n')}\n${oddAnswers(opened[i]!.responses)}`
        console.log(`${player} first segment requests:\n${firstSegments.join('\n')}`)
        assert.ok(s.startupMs !== null, `${player} did not start\n${context}`)
        assert.ok(s.startupMs <= 3000, `${player} started ${s.startupMs} ms after load\n${context}`)
        // Manifests and init segments are never shed.
        assert.deepEqual(
          refused.filter((r) => /manifest\.mpd|\.m3u8|init-/.test(r.url)).map((r) => r.url),
          [],
          context,
        )
      })
      // A shed answer: CDNs cache the refusal for 5 s and back off; a browser does not reuse it.
      const h = shed[0]!
      assert.equal(h['cdn-cache-control'], 'max-age=5', JSON.stringify(h))
      assert.equal(h['retry-after'], '5', JSON.stringify(h))
      assert.equal(h['cache-ttl-ms'], '5000', JSON.stringify(h))
      const cc = String(h['cache-control'] ?? '')
      assert.ok(
        /\bno-store\b/.test(cc) || /\bno-cache\b/.test(cc) || /\bmax-age=0\b/.test(cc),
        `Cache-Control "${cc}" lets a browser reuse the 503`,
      )
    } finally {
      stop = true
      await Promise.allSettled(workers)
      await pool.close()
      sim.stop()
      await sim.exited
    }
  })
})
