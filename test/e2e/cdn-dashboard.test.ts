/**
 * The dashboard's preview player in Chromium: a `simulate` channel on a real `liveorigin
 * serve`; the dashboard (control listener) loads dash.js and hls.js from the control listener
 * itself (no request leaves loopback's two listeners), plays the channel's MPD and its HLS
 * multivariant playlist through the delivery listener, and a screenshot of the page playing is
 * kept in `artifacts/dashboard-preview.png` (CI keeps `artifacts/`).
 */
import assert from 'node:assert/strict'
import { mkdirSync, statSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'playwright-core'
import type { CliOrigin } from '../helpers/cli.js'
import { startServe, startSimulate, type TestServe } from './cdn-services.js'
import { launchChromium } from './player-pages.js'

const CHANNEL = 'preview'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('dashboard preview player', () => {
  let serve: TestServe
  let origin: CliOrigin
  let browser: Browser | undefined

  before(async () => {
    serve = await startServe()
    origin = serve.origin
  })

  after(async () => {
    await browser?.close()
    await serve?.stop()
  })

  it('plays a channel through the delivery listener with dash.js and hls.js from the package', {
    timeout: 180_000,
  }, async () => {
    const lib = await fetch(`${origin.control}/dashboard/lib/hls.min.js`)
    assert.equal(lib.status, 200)
    assert.match(lib.headers.get('content-type') ?? '', /javascript/)
    assert.ok((await lib.arrayBuffer()).byteLength > 100_000)
    const unknown = await fetch(`${origin.control}/dashboard/lib/other.js`)
    assert.equal(unknown.status, 404)
    assert.equal(
      ((await unknown.json()) as { error: { code: string } }).error.code,
      'LIVEORIGIN_ERR_NOT_FOUND',
    )

    const sim = startSimulate(origin, CHANNEL, [
      ...['--delivery', origin.delivery, '--segment-ms', '1000', '--duration', '0', '--defect-rate', '0.05'],
    ])
    try {
      browser = await launchChromium()
      const page = await browser.newPage({ viewport: { width: 1000, height: 700 } })
      const elsewhere: string[] = []
      const allowed = [origin.control, origin.delivery]
      page.on('request', (r) => {
        // blob: URLs are the players' own (media source, workers), made in the page.
        if (!r.url().startsWith('blob:') && !allowed.some((a) => r.url().startsWith(a)))
          elsewhere.push(r.url())
      })
      await page.goto(`${origin.control}/`)
      // The channel appears in the preview's list once the simulator created it.
      const until = async (what: string, ms: number, ok: () => Promise<boolean>) => {
        const deadline = Date.now() + ms
        while (!(await ok())) {
          assert.ok(Date.now() < deadline, `${what} within ${ms} ms (${await page.textContent('#pv-state')})`)
          await sleep(250)
        }
      }
      await until('the channel listed', 60_000, async () =>
        (await page.$$eval('#pv-channel option', (os) => os.map((o) => o.textContent))).includes(CHANNEL),
      )
      await page.selectOption('#pv-channel', CHANNEL)
      const clock = () =>
        page.$eval('#pv-video', (v) => {
          const video = v as unknown as { currentTime: number; paused: boolean }
          return video.paused ? -1 : video.currentTime
        })
      for (const format of ['dash', 'hls'] as const) {
        await page.selectOption('#pv-format', format)
        await page.click('#pv-play')
        // Playing: the clock runs and advances by 3 s of media.
        let t0 = 0
        await until(`${format} playing`, 60_000, async () => {
          t0 = await clock()
          return t0 > 0
        })
        await until(`${format} 3 s played`, 30_000, async () => (await clock()) > t0 + 3)
        const state = await page.textContent('#pv-state')
        assert.match(
          state ?? '',
          new RegExp(`^playing ${origin.delivery}/${CHANNEL}/`),
          `${format}: ${state}`,
        )
        assert.match(state ?? '', format === 'hls' ? /master\.m3u8$/ : /manifest\.mpd$/)
        if (format === 'hls') {
          mkdirSync('artifacts', { recursive: true })
          await page.screenshot({ path: 'artifacts/dashboard-preview.png' })
          assert.ok(statSync('artifacts/dashboard-preview.png').size > 10_000)
        }
      }
      assert.deepEqual(elsewhere, [], 'the dashboard requested something outside the origin')
    } finally {
      await sim.stop()
    }
  })
})
