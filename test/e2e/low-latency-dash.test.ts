/**
 * Low-latency DASH end to end, into a real multi-process `liveorigin serve`, played by
 * dash.js 5 (from npm, in Debian's Chromium) from the delivery listener in its low-latency
 * mode, with segments handed on chunk by chunk while they upload:
 * - `liveorigin simulate --low-latency`: 2 s segments as chunked PUTs of 0.5 s CMAF chunks
 *   at real time, from two pipelines;
 * - Debian's ffmpeg 5.1 with `-ldash 1 -streaming 1` (docs/packagers.md), the channel learned
 *   from its MPD (availabilityTimeOffset, availabilityTimeComplete="false").
 * The player's own latency (`player.getCurrentLiveLatency()`) must be ≤ 3 s at the median,
 * with no stall longer than a segment and no player error. Then the simulated channel again,
 * with the preferred pipeline stopping its upload of some segments halfway (`--abort`): the
 * player, cut off in the middle of those segments, goes on with the other pipeline's copy,
 * and that complete copy is what is stored.
 *
 * About 3 min. The latency, stalls and the origin's answers are printed.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'playwright-core'
import type { Report } from '../../src/simulate/report.js'
import type { CliOrigin } from '../helpers/cli.js'
import { percentile } from '../helpers/http.js'
import { startServe, startSimulate, type TestServe, type TestSimulate } from './cdn-services.js'
import { type Proc, run, SOURCE } from './ffmpeg-encoders.js'
import {
  launchChromium,
  openPlayer,
  type PageResponse,
  readLog,
  startPageServer,
  summarize,
} from './player-pages.js'

const D = 2000
const CHUNK_MS = 500
/** When the viewer joins, after the channel's availabilityStartTime: a few segments in. */
const JOIN_AFTER_MS = 3 * D
/** How long the viewer watches. */
const WATCH_MS = 36_000
/** Latency samples from this long after the start of playback count (dash.js settles first). */
const SETTLE_MS = 6_000
const MAX_LATENCY_P50_S = 3
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)))

/** dash.js 5 in low-latency mode: its mode follows the MPD; the target delay is set here too. */
const DASHJS_LOW_LATENCY = {
  streaming: {
    delay: { liveDelay: D / 1000 },
    liveCatchup: { enabled: true },
  },
}

describe('low-latency DASH: dash.js plays a chunked channel through the origin', () => {
  let serve: TestServe | undefined
  let sim: TestSimulate | undefined
  let ffmpeg: Proc | undefined
  let pages: Awaited<ReturnType<typeof startPageServer>>
  let browser: Browser
  before(async () => {
    pages = await startPageServer()
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await pages?.close()
    await sim?.stop()
    if (ffmpeg && ffmpeg.child.exitCode === null) {
      ffmpeg.child.kill('SIGINT')
      await ffmpeg.exited
    }
    await serve?.stop()
  })

  /**
   * Opens dash.js on `mpd` at `ast` + JOIN_AFTER_MS, watches it for WATCH_MS and checks the
   * latency, stalls and errors; `output` adds the publisher's log to a failure. Returns the
   * origin's answers the page got.
   */
  async function watch(
    origin: CliOrigin,
    mpd: string,
    ast: number,
    output: () => string,
  ): Promise<PageResponse[]> {
    await sleep(ast + JOIN_AFTER_MS - Date.now())
    const opened = await openPlayer(browser, pages.url, 'dashjs', mpd, origin.delivery, DASHJS_LOW_LATENCY)
    await sleep(WATCH_MS)
    const log = await readLog(opened.page)
    await opened.page.close()
    const until = Date.now()
    const s = summarize(log, until, ast)

    const counted = log.latencies.filter((l) => s.playingAt !== null && l.t >= s.playingAt + SETTLE_MS)
    const sorted = counted.map((l) => l.latency).sort((a, b) => a - b)
    const p50 = sorted.length > 0 ? percentile(sorted, 50) : Number.NaN
    const segments = opened.responses.filter((r) => /-\d+\.m4s$/.test(r.url) && !/init/.test(r.url))
    const inProgress = segments.filter((r) => r.inProgress).length
    const statuses = new Map<number, number>()
    for (const r of opened.responses) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
    const text = [
      `dash.js on ${mpd}: playing ${s.startupMs} ms after load; currentTime ${s.firstCurrentTime.toFixed(1)} → ${s.lastCurrentTime.toFixed(1)} s`,
      `  live latency (player): p50 ${p50.toFixed(2)} s, min ${sorted[0]?.toFixed(2)} s, max ${sorted.at(-1)?.toFixed(2)} s over ${sorted.length} samples; target ${counted[0]?.target} s; playback rate ${Math.min(...counted.map((l) => l.rate))}–${Math.max(...counted.map((l) => l.rate))}; low-latency mode ${counted.every((l) => l.lowLatency)}`,
      `  latency every 2 s: ${log.latencies
        .filter((_, i) => i % 8 === 0)
        .map((l) => l.latency.toFixed(2))
        .join(' ')}`,
      `  stalls (clock still ≥ 500 ms): ${s.stalls.length}${s.stalls.length ? `, max ${Math.max(...s.stalls.map((x) => x.ms))} ms at ${s.stalls.map((x) => x.currentTime.toFixed(1)).join(', ')}` : ''}`,
      `  errors: ${s.errors.length}${s.errors.length ? `: ${s.errors.map((e) => `${e.code} ${e.message.slice(0, 120)}`).join(' | ')}` : ''}`,
      `  answers: ${[...statuses].map(([k, v]) => `${v}× ${k}`).join(', ')}; media segments ${segments.length}, ${inProgress} answered in progress`,
      ...opened.responses
        .filter((r) => r.status !== 200)
        .slice(0, 8)
        .map((r) => `  ${r.status} ${r.url.replace(/^https?:\/\/[^/]+/, '')} ${r.pipeline}`),
    ].join('\n')
    console.log(text)
    const context = `${text}\n${opened.console.slice(-10).join('\n')}\n${output().slice(-2000)}`

    assert.ok(s.playingAt !== null, `dash.js never played\n${context}`)
    assert.equal(s.errors.length, 0, `dash.js errors\n${context}`)
    assert.ok(
      counted.length > 0 && counted.every((l) => l.lowLatency),
      `dash.js not in low-latency mode\n${context}`,
    )
    assert.ok(sorted.length >= 40, `too few latency samples (${sorted.length})\n${context}`)
    assert.ok(
      p50 <= MAX_LATENCY_P50_S,
      `live latency p50 ${p50.toFixed(2)} s > ${MAX_LATENCY_P50_S} s\n${context}`,
    )
    for (const stall of s.stalls) assert.ok(stall.ms <= D, `a stall of ${stall.ms} ms > D\n${context}`)
    assert.ok(s.lastCurrentTime - s.firstCurrentTime >= 20, `played too little media\n${context}`)
    assert.ok(inProgress > 0, `no segment was answered while in progress\n${context}`)
    return opened.responses
  }

  it('a simulated LL channel: latency ≤ 3 s (p50, the player’s own), no stall over D, no error', {
    timeout: 180_000,
  }, async () => {
    serve = await startServe({ LIVEORIGIN_DELIVERY_WORKERS: '1' })
    const origin = serve.origin
    const channel = 'lldash'
    sim = startSimulate(origin, channel, [
      ...['--delivery', origin.delivery, '--pipelines', 'east,west'],
      ...['--segment-ms', String(D), '--duration', `${(JOIN_AFTER_MS + WATCH_MS) / 1000 + 8}s`],
      ...['--low-latency', '--chunk-ms', String(CHUNK_MS)],
    ])
    const config = (await sim.config()) as Awaited<ReturnType<TestSimulate['config']>> & {
      lowLatency?: boolean
      availabilityTimeOffsetMs?: number
    }
    assert.equal(config.lowLatency, true)
    assert.equal(config.availabilityTimeOffsetMs, D - CHUNK_MS)
    const current = sim
    await watch(origin, `${origin.delivery}/${channel}/manifest.mpd`, config.availabilityStartTime, () =>
      current.output(),
    )
    await sim.stop()
    await serve.stop()
    sim = undefined
    serve = undefined
  })

  it('a pipeline stops its uploads halfway: the player goes on with the other copy, which is stored', {
    timeout: 180_000,
  }, async () => {
    serve = await startServe({ LIVEORIGIN_DELIVERY_WORKERS: '1' })
    const origin = serve.origin
    const channel = 'llabort'
    const dir = mkdtempSync(join(tmpdir(), 'liveorigin-llabort-'))
    const reportFile = join(dir, 'report.json')
    // Segments due while the viewer watches, 8 s apart: east stops each upload after two of
    // its four chunks, while the player reads it in progress.
    const aborts = [14, 22, 30].map((s) => `${s}s`)
    sim = startSimulate(origin, channel, [
      ...['--delivery', origin.delivery, '--pipelines', 'east,west', '--report', reportFile],
      ...['--segment-ms', String(D), '--duration', `${(JOIN_AFTER_MS + WATCH_MS) / 1000 + 8}s`],
      ...['--low-latency', '--chunk-ms', String(CHUNK_MS), ...aborts.flatMap((t) => ['--abort', t])],
    ])
    const config = await sim.config()
    const current = sim
    try {
      const responses = await watch(
        origin,
        `${origin.delivery}/${channel}/manifest.mpd`,
        config.availabilityStartTime,
        () => current.output(),
      )
      await sim.stop()
      const report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report
      const aborted = report.segments.filter((s) => s.copies.east?.forced === 'abort')
      assert.equal(aborted.length, aborts.length * report.renditions.length, current.output())
      const cutOff: string[] = []
      for (const seg of aborted) {
        assert.equal(seg.copies.east!.status, 0, `${seg.path}: east's upload got no answer`)
        // Stored: west's whole copy, east's half upload nowhere.
        const res = await fetch(`${origin.delivery}/${channel}/${seg.path}`)
        const body = Buffer.from(await res.arrayBuffer())
        assert.equal(res.status, 200, seg.path)
        assert.equal(res.headers.get('segment-pipeline'), 'west', seg.path)
        assert.equal(createHash('sha256').update(body).digest('hex'), seg.copies.west!.sha256, seg.path)
        // What the player got for it: a failed (cut-off) answer, then a whole one.
        const got = responses.filter((r) => r.url.endsWith(`/${seg.path}`))
        if (got.some((r) => r.status === 0))
          cutOff.push(`${seg.path}: ${got.map((r) => `${r.status} ${r.pipeline}`).join(', ')}`)
      }
      console.log(`cut off mid-segment and continued: ${cutOff.join('; ') || 'none'}`)
      // The player was reading east's upload when it stopped, at least once; it continued
      // (no error, no stall over D: checked by watch).
      assert.ok(
        cutOff.length > 0,
        `the player was never cut off by a stopped upload\n${current.output().slice(-2000)}`,
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    await serve.stop()
    sim = undefined
    serve = undefined
  })

  it('an ffmpeg -ldash channel: latency ≤ 3 s (p50), no stall over D, no error', {
    timeout: 180_000,
  }, async () => {
    serve = await startServe({ LIVEORIGIN_DELIVERY_WORKERS: '1' })
    const origin = serve.origin
    const channel = 'ffldash'
    ffmpeg = run('ffmpeg', [
      '-hide_banner',
      ...['-loglevel', 'warning'],
      ...SOURCE,
      ...['-t', String((JOIN_AFTER_MS + WATCH_MS) / 1000 + 8)],
      ...['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency'],
      ...['-g', '25', '-keyint_min', '25', '-sc_threshold', '0', '-c:a', 'aac', '-b:a', '64k'],
      ...['-f', 'dash', '-ldash', '1', '-streaming', '1', '-seg_duration', String(D / 1000)],
      ...['-frag_type', 'duration', '-frag_duration', String(CHUNK_MS / 1000)],
      ...['-use_template', '1', '-use_timeline', '0', '-format_options', 'movflags=cmaf'],
      ...['-utc_timing_url', `${origin.delivery}/.well-known/time`, '-target_latency', String(D / 1000)],
      ...['-adaptation_sets', 'id=0,streams=v id=1,streams=a', '-method', 'PUT'],
      `${origin.ingest}/${channel}/manifest.mpd`,
    ])
    // The channel is learned from ffmpeg's MPDs: its AST and D from the first, the offset and
    // lowLatency from the first written once the streams have begun (the very first MPD, written
    // before any fragment, has no availabilityTimeOffset yet).
    type Learned = { availabilityStartTime: number; availabilityTimeOffsetMs: number; lowLatency?: boolean }
    let config: Learned | undefined
    for (let i = 0; i < 300; i++) {
      const r = await fetch(`${origin.control}/api/v1/channels/${channel}`)
      const body = (await r.json()) as { config?: Learned | null }
      config = body.config ?? undefined
      if (config && config.availabilityTimeOffsetMs > 0) break
      await sleep(100)
    }
    const proc = ffmpeg
    assert.ok(config, `no channel learned from ffmpeg's MPD\n${proc.output()}`)
    assert.equal(config.availabilityTimeOffsetMs, D - CHUNK_MS)
    assert.equal(config.lowLatency, true)
    await watch(origin, `${origin.delivery}/${channel}/manifest.mpd`, config.availabilityStartTime, () =>
      proc.output(),
    )
  })
})
