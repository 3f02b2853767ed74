/**
 * Low-latency DASH end to end: `liveorigin simulate --low-latency` publishes 2 s segments as
 * chunked PUTs of 0.5 s CMAF chunks at real time into a real multi-process `liveorigin serve`,
 * and dash.js 5 (from npm, in Debian's Chromium) plays the channel's MPD from the delivery
 * listener in its low-latency mode, with segments handed on chunk by chunk while they
 * upload. The player's own latency (`player.getCurrentLiveLatency()`) must be ≤ 3 s at the
 * median, with no stall longer than a segment and no player error.
 *
 * About 1 min. The latency, stalls and the origin's answers are printed.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'playwright-core'
import { percentile } from '../helpers/http.js'
import { startServe, startSimulate, type TestServe, type TestSimulate } from './cdn-services.js'
import { launchChromium, openPlayer, readLog, startPageServer, summarize } from './player-pages.js'

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
    await serve?.stop()
  })

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
    const ast = config.availabilityStartTime
    await sleep(ast + JOIN_AFTER_MS - Date.now())

    const mpd = `${origin.delivery}/${channel}/manifest.mpd`
    const opened = await openPlayer(browser, pages.url, 'dashjs', mpd, origin.delivery, DASHJS_LOW_LATENCY)
    await sleep(WATCH_MS)
    const log = await readLog(opened.page)
    await opened.page.close()
    const until = Date.now()
    const s = summarize(log, until, ast)

    const counted = log.latencies.filter((l) => s.playingAt !== null && l.t >= s.playingAt + SETTLE_MS)
    const sorted = counted.map((l) => l.latency).sort((a, b) => a - b)
    const p50 = sorted.length > 0 ? percentile(sorted, 50) : Number.NaN
    const segments = opened.responses.filter((r) => /\/seg-\d+-\d+\.m4s$/.test(r.url))
    const inProgress = segments.filter((r) => r.inProgress).length
    const statuses = new Map<number, number>()
    for (const r of opened.responses) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
    const text = [
      `dash.js: playing ${s.startupMs} ms after load; currentTime ${s.firstCurrentTime.toFixed(1)} → ${s.lastCurrentTime.toFixed(1)} s`,
      `  live latency (player): p50 ${p50.toFixed(2)} s, min ${sorted[0]?.toFixed(2)} s, max ${sorted.at(-1)?.toFixed(2)} s over ${sorted.length} samples; target ${counted[0]?.target} s; playback rate ${Math.min(...counted.map((l) => l.rate))}–${Math.max(...counted.map((l) => l.rate))}; low-latency mode ${counted.every((l) => l.lowLatency)}`,
      `  latency every 2 s: ${log.latencies
        .filter((_, i) => i % 8 === 0)
        .map((l) => l.latency.toFixed(2))
        .join(' ')}`,
      `  stalls (clock still ≥ 500 ms): ${s.stalls.length}${s.stalls.length ? `, max ${Math.max(...s.stalls.map((x) => x.ms))} ms at ${s.stalls.map((x) => x.currentTime.toFixed(1)).join(', ')}` : ''}`,
      `  errors: ${s.errors.length}${s.errors.length ? `: ${s.errors.map((e) => `${e.code} ${e.message.slice(0, 120)}`).join(' | ')}` : ''}`,
      `  answers: ${[...statuses].map(([k, v]) => `${v}× ${k}`).join(', ')}; media segments ${segments.length}, ${inProgress} answered in progress`,
    ].join('\n')
    console.log(text)
    const context = `${text}\n${opened.console.slice(-10).join('\n')}\n${sim.output().slice(-2000)}`

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
  })
})
