/**
 * The players' side of the end-to-end player tests: a loopback static server for dash.js,
 * Shaka Player and hls.js (from npm), and one page per player, Debian's Chromium driven by
 * playwright-core, and the arithmetic that turns what a page recorded (the players' own
 * events, the video element's events and a sample of `video.currentTime` every 250 ms) into
 * start-up time, stalls and errors.
 */
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, chromium, type Page } from 'playwright-core'

/** Debian's package; the tests never download a browser. */
export const CHROMIUM = process.env.LIVEORIGIN_CHROMIUM ?? '/usr/bin/chromium'

/**
 * Flags for a headless Chromium run as root in a container: no sandbox (it needs user
 * namespaces that containers usually lack), autoplay without a gesture, /tmp instead of a
 * small /dev/shm, no GPU, no sound card needed.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--autoplay-policy=no-user-gesture-required',
  '--disable-dev-shm-usage',
  '--disable-gpu',
  '--mute-audio',
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
]

/** dash.js and Shaka Player play an MPD; hls.js a multivariant playlist. */
export type PlayerName = 'dashjs' | 'shaka' | 'hlsjs'

/** One thing a page saw, in epoch ms (`Date.now()` in the page). */
export interface PageEvent {
  readonly t: number
  /** `video:<event>`, `dashjs:<event>`, `shaka:<event>` or `hlsjs:<event>`. */
  readonly type: string
  readonly currentTime: number
  readonly detail?: unknown
}

export interface PageSample {
  readonly t: number
  readonly currentTime: number
  readonly paused: boolean
  readonly readyState: number
  /** Seconds buffered ahead of currentTime. */
  readonly ahead: number
}

export interface PageLog {
  readonly player: PlayerName
  /** When the page called the player's load (epoch ms). */
  readonly loadAt: number | null
  readonly events: PageEvent[]
  readonly samples: PageSample[]
  /** Player errors (Shaka's severity, hls.js's `fatal`; dash.js has none: every error event counts). */
  readonly errors: Array<{ t: number; code: unknown; message: string; fatal: boolean }>
  /**
   * dash.js and hls.js, every 250 ms once playing: the player's live latency (s; dash.js
   * `getCurrentLiveLatency()`, hls.js `latency`), its target (`getTargetLiveDelay()`,
   * `targetLatency`), the playback rate (catch-up), and whether the player ran in low-latency
   * mode; hls.js also `wall`: how far the frame on screen is behind the wall clock (s), by the
   * playlist's program date time (`playingDate`).
   */
  readonly latencies: Array<{
    t: number
    latency: number
    target: number
    rate: number
    lowLatency: boolean
    wall?: number
  }>
}

const PAGE_SCRIPT = {
  dashjs: `
    const player = dashjs.MediaPlayer().create()
    const E = dashjs.MediaPlayer.events
    for (const name of ['PLAYBACK_STALLED', 'PLAYBACK_WAITING', 'PLAYBACK_PLAYING', 'PLAYBACK_STARTED', 'PLAYBACK_SEEKING', 'PLAYBACK_ERROR']) {
      player.on(E[name], (e) => log.event('dashjs:' + name, null))
    }
    player.on(E.ERROR, (e) => {
      const err = e.error || {}
      log.error(err.code, String(err.message || JSON.stringify(e.error)).slice(0, 400), true)
    })
    player.updateSettings({ debug: { logLevel: 1 } })
    if (SETTINGS) player.updateSettings(JSON.parse(SETTINGS))
    player.initialize(video, SRC, true)
    log.loaded()
    // The player's own measure of how far behind live it plays, and whether it runs in low-latency mode.
    setInterval(() => {
      if (log.samples.length === 0) return
      const latency = player.getCurrentLiveLatency()
      if (Number.isFinite(latency) && latency > 0) {
        log.latencies.push({ t: Date.now(), latency, target: player.getTargetLiveDelay(), rate: video.playbackRate, lowLatency: player.getLowLatencyModeEnabled() })
      }
    }, 250)
  `,
  shaka: `
    shaka.polyfill.installAll()
    const player = new shaka.Player()
    player.addEventListener('buffering', (e) => log.event('shaka:buffering', { buffering: e.buffering }))
    player.addEventListener('error', (e) => {
      const err = e.detail || {}
      log.error(err.code, 'category ' + err.category + ' ' + JSON.stringify(err.data || []).slice(0, 400), err.severity === 2)
    })
    ;(async () => {
      await player.attach(video)
      log.loaded()
      try {
        await player.load(SRC)
      } catch (err) {
        log.error(err.code, 'load: category ' + err.category + ' ' + JSON.stringify(err.data || []).slice(0, 400), true)
      }
    })()
  `,
  hlsjs: `
    const hls = new Hls(Object.assign({ debug: false }, SETTINGS ? JSON.parse(SETTINGS) : {}))
    hls.on(Hls.Events.ERROR, (_, data) => {
      log.error(data.details, String(data.type + ' ' + data.details + ' ' + (data.response ? data.response.code : '')).slice(0, 400), !!data.fatal)
    })
    hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}) })
    // LL-HLS: each part hls.js loads (a part of a segment, not the whole segment).
    hls.on(Hls.Events.FRAG_LOADED, (_, data) => {
      if (data.part) log.event('hlsjs:part-loaded', { sn: data.frag.sn, part: data.part.index, type: data.frag.type })
    })
    hls.loadSource(SRC)
    hls.attachMedia(video)
    log.loaded()
    // hls.js's own latency (s behind the playlist's live edge) and its target, once playing.
    setInterval(() => {
      if (log.samples.length === 0 || video.paused) return
      const latency = hls.latency
      if (Number.isFinite(latency) && latency > 0) {
        const date = hls.playingDate
        const wall = date ? (Date.now() - date.getTime()) / 1000 : undefined
        log.latencies.push({ t: Date.now(), latency, target: hls.targetLatency, rate: video.playbackRate, lowLatency: hls.lowLatencyMode, wall })
      }
    }, 250)
  `,
} as const

const LIBRARY: Record<PlayerName, string> = {
  dashjs: '/lib/dash.all.min.js',
  shaka: '/lib/shaka-player.compiled.js',
  hlsjs: '/lib/hls.min.js',
}

function pageHtml(player: PlayerName): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${player}</title><script src="${LIBRARY[player]}"></script></head>
<body><video id="v" muted autoplay playsinline width="320" height="180"></video>
<script>
const SRC = new URLSearchParams(location.search).get('src')
const SETTINGS = new URLSearchParams(location.search).get('settings')
const video = document.getElementById('v')
const log = window.__log = {
  player: ${JSON.stringify(player)}, loadAt: null, events: [], samples: [], errors: [], latencies: [],
  event(type, detail) { this.events.push({ t: Date.now(), type, currentTime: video.currentTime, detail }) },
  error(code, message, fatal) { this.errors.push({ t: Date.now(), code, message, fatal }); this.event('error', { code, fatal }) },
  loaded() { this.loadAt = Date.now() },
}
for (const name of ['waiting', 'playing', 'stalled', 'seeking', 'seeked', 'pause', 'ended']) {
  video.addEventListener(name, () => log.event('video:' + name, null))
}
video.addEventListener('error', () => {
  const e = video.error
  log.error('media-' + (e && e.code), 'video element: ' + (e && e.message), true)
})
setInterval(() => {
  let ahead = 0
  for (let i = 0; i < video.buffered.length; i++) {
    if (video.buffered.start(i) <= video.currentTime + 0.1 && video.buffered.end(i) > video.currentTime) ahead = video.buffered.end(i) - video.currentTime
  }
  log.samples.push({ t: Date.now(), currentTime: video.currentTime, paused: video.paused, readyState: video.readyState, ahead })
}, 250)
${PAGE_SCRIPT[player]}
</script></body></html>`
}

/** The files the pages load: the players' browser builds, from their npm packages. */
function libraries(): Record<string, string> {
  const modules = fileURLToPath(new URL('../../node_modules/', import.meta.url))
  return {
    '/lib/dash.all.min.js': join(modules, 'dashjs/dist/modern/umd/dash.all.min.js'),
    '/lib/shaka-player.compiled.js': join(modules, 'shaka-player/dist/shaka-player.compiled.js'),
    '/lib/hls.min.js': join(modules, 'hls.js/dist/hls.min.js'),
  }
}

/** A loopback server for the pages and the players' scripts. */
export async function startPageServer(): Promise<{ url: string; close(): Promise<void> }> {
  const files = libraries()
  const cache = new Map<string, Buffer>()
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const player = /^\/(dashjs|shaka|hlsjs)\.html$/.exec(path)?.[1] as PlayerName | undefined
    if (player) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' })
      res.end(pageHtml(player))
      return
    }
    const file = files[path]
    if (!file) {
      res.writeHead(404).end()
      return
    }
    let body = cache.get(file)
    if (!body) {
      body = readFileSync(file)
      cache.set(file, body)
    }
    res.writeHead(200, { 'Content-Type': 'text/javascript', 'Content-Length': body.length })
    res.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
}

/** A response a page got from the origin (status and the headers that matter). */
export interface PageResponse {
  readonly t: number
  readonly url: string
  readonly status: number
  /** The answer's `Segment-Defects` and `Segment-Pipeline` ('' when none). */
  readonly defects: string
  readonly pipeline: string
  /** Whether it was answered while its upload was in progress (`Segment-In-Progress: ?1`). */
  readonly inProgress: boolean
  /** From the request to the answer's headers (ms; -1 when unknown). */
  readonly ms: number
}

/**
 * Opens a page playing `src` (an MPD, or a multivariant playlist for hls.js) with `player`;
 * records every response from `originPrefix`. `settings`: dash.js settings applied before it
 * loads (`player.updateSettings`), or hls.js's configuration (`new Hls(settings)`).
 */
export async function openPlayer(
  browser: Browser,
  pages: string,
  player: PlayerName,
  src: string,
  originPrefix: string,
  settings?: Record<string, unknown>,
): Promise<{ page: Page; responses: PageResponse[]; console: string[] }> {
  const page = await browser.newPage()
  const responses: PageResponse[] = []
  const console: string[] = []
  page.on('response', (r) => {
    if (r.url().startsWith(originPrefix)) {
      const h = r.headers()
      responses.push({
        t: Date.now(),
        url: r.url(),
        status: r.status(),
        defects: h['segment-defects'] ?? '',
        pipeline: h['segment-pipeline'] ?? '',
        inProgress: h['segment-in-progress'] === '?1',
        ms: Math.round(r.request().timing().responseStart),
      })
    }
  })
  page.on('requestfailed', (r) => {
    if (r.url().startsWith(originPrefix)) {
      responses.push({
        t: Date.now(),
        url: r.url(),
        status: 0,
        defects: '',
        pipeline: r.failure()?.errorText ?? '',
        inProgress: false,
        ms: -1,
      })
    }
  })
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.push(`${m.type()}: ${m.text()}`.slice(0, 300))
  })
  const extra = settings === undefined ? '' : `&settings=${encodeURIComponent(JSON.stringify(settings))}`
  await page.goto(`${pages}/${player}.html?src=${encodeURIComponent(src)}${extra}`)
  return { page, responses, console }
}

export async function readLog(page: Page): Promise<PageLog> {
  return page.evaluate(() => (globalThis as unknown as { __log: PageLog }).__log)
}

/** A time the playback clock stood still while the page waited to play on. */
export interface Stall {
  /** Epoch ms when the clock stopped, and how long it stood. */
  readonly at: number
  readonly ms: number
  /** `video.currentTime` where it stood. */
  readonly currentTime: number
}

export interface PlaybackSummary {
  /** First `playing` of the video element (epoch ms), and ms from the player's load. */
  readonly playingAt: number | null
  readonly startupMs: number | null
  /** Stalls after the start: the clock still for about 500 ms or more (±250 ms). */
  readonly stalls: Stall[]
  /** `waiting` → `playing` of the video element after the start, with their durations (ms). */
  readonly waits: number[]
  /** The last sampled `video.currentTime` within the window. */
  readonly lastCurrentTime: number
  /** currentTime at the first and last sample of the window. */
  readonly firstCurrentTime: number
  readonly fatalErrors: PageLog['errors']
  readonly errors: PageLog['errors']
  /**
   * How far the playback clock ran behind the wall clock (s): (t − availabilityStartTime) −
   * currentTime over the window's samples; undefined without the channel's start.
   */
  readonly latency?: { readonly min: number; readonly max: number }
}

/**
 * Start-up, stalls and errors from a page's log, in [playing, until). A stall is read off the
 * clock itself: the time between the last sample in which `currentTime` had advanced and the
 * next sample in which it advanced again, when that is 500 ms or more (samples are 250 ms
 * apart, so a smooth clock never shows one).
 */
export function summarize(log: PageLog, until: number, availabilityStartTime?: number): PlaybackSummary {
  const playing = log.events.find((e) => e.type === 'video:playing')
  const playingAt = playing?.t ?? null
  const startupMs = playingAt !== null && log.loadAt !== null ? playingAt - log.loadAt : null
  const samples = log.samples.filter((s) => playingAt !== null && s.t >= playingAt && s.t <= until)
  const stalls: Stall[] = []
  let moved = samples[0]
  for (let i = 1; i < samples.length; i++) {
    const s = samples[i]!
    const prev = samples[i - 1]!
    if (s.currentTime !== prev.currentTime) {
      // Still from about `moved` (it stopped within the sample before) until between `prev`
      // and `s`: the midpoint estimate is s.t − moved.t, ±250 ms.
      if (moved && prev !== moved) {
        const ms = s.t - moved.t
        if (ms >= 500) stalls.push({ at: moved.t, ms, currentTime: moved.currentTime })
      }
      moved = s
    }
  }
  const last = samples.at(-1)
  if (moved && last && last !== moved && last.t - moved.t >= 500) {
    stalls.push({ at: moved.t, ms: last.t - moved.t, currentTime: moved.currentTime })
  }
  const waits: number[] = []
  let waitingAt: number | null = null
  for (const e of log.events) {
    if (playingAt === null || e.t <= playingAt || e.t > until) continue
    if (e.type === 'video:waiting' && waitingAt === null) waitingAt = e.t
    if (e.type === 'video:playing' && waitingAt !== null) {
      waits.push(e.t - waitingAt)
      waitingAt = null
    }
  }
  if (waitingAt !== null) waits.push(until - waitingAt)
  const behind = samples.map((s) => (s.t - (availabilityStartTime ?? 0)) / 1000 - s.currentTime)
  return {
    ...(availabilityStartTime !== undefined && behind.length > 0
      ? { latency: { min: Math.min(...behind), max: Math.max(...behind) } }
      : {}),
    playingAt,
    startupMs,
    stalls,
    waits,
    firstCurrentTime: samples[0]?.currentTime ?? 0,
    lastCurrentTime: last?.currentTime ?? 0,
    fatalErrors: log.errors.filter((e) => e.fatal),
    errors: log.errors,
  }
}
