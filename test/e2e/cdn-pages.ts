/**
 * Player pages for the CDN tests: dash.js (an MPD) and hls.js (a multivariant playlist), each
 * in a page served from loopback with the players' browser builds from npm, recording the
 * same log as the player tests' pages (`test/players/player-pages.ts`, whose Chromium launch,
 * log reader and stall arithmetic are used as they are; hls.js is not one of its players, so
 * the page itself is built here).
 */
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'

export type CdnPlayer = 'dashjs' | 'hlsjs'

const PLAYER_SCRIPT: Record<CdnPlayer, string> = {
  dashjs: `
    const player = dashjs.MediaPlayer().create()
    const E = dashjs.MediaPlayer.events
    player.on(E.ERROR, (e) => {
      const err = e.error || {}
      log.error(err.code, String(err.message || JSON.stringify(e.error)).slice(0, 400), true)
    })
    player.updateSettings({ debug: { logLevel: 1 } })
    player.initialize(video, SRC, true)
    log.loaded()
  `,
  hlsjs: `
    const hls = new Hls({ debug: false })
    hls.on(Hls.Events.ERROR, (_, data) => {
      log.error(data.details, String(data.type + ' ' + data.details + ' ' + (data.response ? data.response.code : '')).slice(0, 400), !!data.fatal)
    })
    hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}) })
    hls.loadSource(SRC)
    hls.attachMedia(video)
    log.loaded()
  `,
}

const LIB: Record<CdnPlayer, string> = { dashjs: '/lib/dash.all.min.js', hlsjs: '/lib/hls.min.js' }

function pageHtml(player: CdnPlayer): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${player}</title><script src="${LIB[player]}"></script></head>
<body><video id="v" muted autoplay playsinline width="320" height="180"></video>
<script>
const SRC = new URLSearchParams(location.search).get('src')
const video = document.getElementById('v')
const log = window.__log = {
  player: ${JSON.stringify(player)}, loadAt: null, events: [], samples: [], errors: [],
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
${PLAYER_SCRIPT[player]}
</script></body></html>`
}

/** A loopback server for the pages and the players' scripts (from node_modules). */
export async function startCdnPageServer(): Promise<{ url: string; close(): Promise<void> }> {
  const modules = fileURLToPath(new URL('../../node_modules/', import.meta.url))
  const files: Record<string, string> = {
    '/lib/dash.all.min.js': join(modules, 'dashjs/dist/modern/umd/dash.all.min.js'),
    '/lib/hls.min.js': join(modules, 'hls.js/dist/hls.min.js'),
  }
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const player = /^\/(dashjs|hlsjs)\.html$/.exec(path)?.[1] as CdnPlayer | undefined
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
    const body = readFileSync(file)
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

/** Opens a page playing `src` (an MPD for dash.js, a multivariant playlist for hls.js). */
export async function openCdnPlayer(
  browser: Browser,
  pages: string,
  player: CdnPlayer,
  src: string,
): Promise<{ page: Page; console: string[]; statuses: Map<number, number> }> {
  const page = await browser.newPage()
  const console: string[] = []
  const statuses = new Map<number, number>()
  page.on('response', (r) => {
    if (r.url().startsWith(pages)) return
    statuses.set(r.status(), (statuses.get(r.status()) ?? 0) + 1)
  })
  page.on('console', (m) => {
    if (m.type() === 'error') console.push(m.text().slice(0, 300))
  })
  await page.goto(`${pages}/${player}.html?src=${encodeURIComponent(src)}`)
  return { page, console, statuses }
}
