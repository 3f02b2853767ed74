/**
 * The CDN tier end to end: a real `liveorigin serve`, a `simulate` channel with faults (east
 * down for 10 s, defective, late and missing copies), and in front of it the shipped
 * configurations of real Varnish (`deploy/varnish/liveorigin.vcl`) and real nginx
 * (`deploy/nginx/shield.conf`), each reaching the origin through a counting relay (what the
 * origin was asked, per cache). Checked, in one run of about two and a half minutes:
 * - dash.js and hls.js in Chromium play through Varnish and through nginx for 60 s with no
 *   stall longer than a segment;
 * - 200 players' worth of requests through Varnish (manifests, live-edge segments arriving
 *   while they are held, segments asked for before their time): the origin is asked at most
 *   once per object per lifetime the cache was given, at most one held request per segment;
 *   the offload ratio is printed;
 * - a 404 for a future segment cached by Varnish expires at A(N) − H: the cache's expiry
 *   (`X-Cache-Expires`) and the first answer after it are measured and printed as
 *   percentiles;
 * - a shed 503 is kept by Varnish for its 5 s (one origin request) and not by the browser.
 */
import assert from 'node:assert/strict'
import { Agent, request } from 'node:http'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'playwright-core'
import type { CliOrigin } from '../helpers/cli.js'
import {
  type CacheService,
  type Relay,
  startNginx,
  startRelay,
  startServe,
  startSimulate,
  startVarnish,
  type TestServe,
  type TestSimulate,
} from './cdn-services.js'
import type { RelayRecord } from './counting-relay.js'
import {
  launchChromium,
  openPlayer,
  type PageLog,
  type PageResponse,
  type PlayerName,
  readLog,
  startPageServer,
  summarize,
} from './player-pages.js'

const D = 2000
const H = D
const CHANNEL = 'cdn'
const RUN_S = 120
const PLAY_MS = 60_000
const LOAD_PLAYERS = 200
const LOAD_SEGMENTS = 8
const EXPIRY_SAMPLES = 8

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)))
const pad = (n: number) => String(n).padStart(5, '0')
const segPath = (rendition: string, n: number) => `/${CHANNEL}/seg-${rendition}-${pad(n)}.m4s`

interface Got {
  status: number
  headers: Record<string, string | string[] | undefined>
  sentAt: number
  answeredAt: number
  url: string
  /** Why no answer came (status 0). */
  error?: string
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 })

/**
 * A GET through the shared keep-alive agent. A request written on a reused connection that
 * the cache closed meanwhile (its idle timeout) never reached it: it is sent again once, as
 * HTTP clients do for idempotent requests (RFC 9112 §9.3.1).
 */
function get(url: string, retried = false): Promise<Got> {
  const sentAt = Date.now()
  return new Promise((resolve) => {
    const req = request(url, { agent, timeout: 30_000 }, (res) => {
      const answeredAt = Date.now()
      res.resume()
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, sentAt, answeredAt, url }),
      )
      res.on('error', (err) =>
        resolve({ status: 0, headers: {}, sentAt, answeredAt, url, error: err.message }),
      )
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!retried && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
        resolve(get(url, true))
        return
      }
      resolve({ status: 0, headers: {}, sentAt, answeredAt: Date.now(), url, error: err.message })
    })
    req.end()
  })
}

function percentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN
}

function pct(values: readonly number[]): string {
  return `p50 ${percentile(values, 50)} ms, p90 ${percentile(values, 90)} ms, max ${Math.max(...values)} ms (n=${values.length})`
}

/**
 * Requests the origin got from one cache that came sooner than the lifetime the previous
 * answer for the same URL gave that cache (`granularityMs` 1 for Varnish, 1000 for nginx,
 * which keeps whole seconds only).
 */
function tooSoon(records: readonly RelayRecord[], granularityMs: number): string[] {
  const byUrl = new Map<string, RelayRecord[]>()
  for (const r of records) {
    if (r.method !== 'GET') continue
    const list = byUrl.get(r.url) ?? []
    list.push(r)
    byUrl.set(r.url, list)
  }
  const out: string[] = []
  for (const [url, list] of byUrl) {
    list.sort((a, b) => a.sentAt - b.sentAt)
    for (let i = 1; i < list.length; i++) {
      const a = list[i - 1]!
      const b = list[i]!
      if (a.answeredAt === null || a.ttlMs === null || a.status === 0) continue
      const ttl = Math.floor(a.ttlMs / granularityMs) * granularityMs
      if (ttl <= 0) continue
      // 2 ms: the relay's clock reads and the origin's TTL rounded down to the millisecond.
      if (b.sentAt < a.answeredAt + ttl - 2) {
        out.push(`${url}: ${a.status} ttl ${a.ttlMs} answered ${a.answeredAt}, asked again ${b.sentAt}`)
      }
    }
  }
  return out
}

describe('CDN tier: Varnish and nginx in front of a simulated channel with faults', () => {
  let serve: TestServe
  let sim: TestSimulate | undefined
  let origin: CliOrigin
  let relay: Relay
  let varnish: CacheService
  let nginx: CacheService
  let browser: Browser | undefined
  let pages: { url: string; close(): Promise<void> } | undefined

  before(async () => {
    serve = await startServe({
      // One DVR read at a time, and old segments read from storage with 100 ms added (a
      // small in-process cache): a burst of old segments gets shed 503s (the 5 s check below).
      LIVEORIGIN_OVERLOAD_MAX_DVR_IN_FLIGHT: '1',
      LIVEORIGIN_CACHE_MEMORY_BYTES: String(2 * 1024 * 1024),
      LIVEORIGIN_STORAGE_INJECT: JSON.stringify({ latencyMs: 100 }),
      LIVEORIGIN_OVERLOAD_EVENT_LOOP_DELAY_MS: '10000',
      LIVEORIGIN_OVERLOAD_STORAGE_LATENCY_MS: '10000',
    })
    origin = serve.origin
    relay = await startRelay(origin.delivery, ['varnish', 'nginx'])
    varnish = await startVarnish(relay.urls.varnish!)
    nginx = await startNginx(relay.urls.nginx!)
  })

  after(async () => {
    await sim?.stop()
    await browser?.close()
    await pages?.close()
    agent.destroy()
    await varnish?.stop()
    await nginx?.stop()
    await relay?.stop()
    await serve?.stop()
  })

  it('players play through both caches; the origin is asked once per object per lifetime; 404s expire at A(N) − H; a 503 is kept 5 s', {
    timeout: 330_000,
  }, async () => {
    sim = startSimulate(origin, CHANNEL, [
      ...[
        '--delivery',
        varnish.url,
        '--segment-ms',
        String(D),
        '--duration',
        `${RUN_S}s`,
        '--seed',
        'cdn-tier',
      ],
      ...[
        '--outage',
        'east:20s-30s',
        '--defect-rate',
        '0.1',
        '--late-rate',
        '0.05',
        '--missing-rate',
        '0.05',
      ],
    ])
    const config = await sim.config()
    const ast = config.availabilityStartTime
    const S = config.startNumber
    const A = (n: number) => ast + (n - S + 1) * D
    const edgeAt = (t: number) => S + Math.floor((t - ast) / D) - 1

    // Players: dash.js and hls.js, through Varnish and through nginx, in one browser.
    await sleep(A(S + 1) - Date.now())
    pages = await startPageServer()
    browser = await launchChromium()
    const players: Array<{ name: string; player: PlayerName; cache: CacheService }> = [
      { name: 'dash.js via Varnish', player: 'dashjs', cache: varnish },
      { name: 'hls.js via Varnish', player: 'hlsjs', cache: varnish },
      { name: 'dash.js via nginx', player: 'dashjs', cache: nginx },
      { name: 'hls.js via nginx', player: 'hlsjs', cache: nginx },
    ]
    const opened = await Promise.all(
      players.map((p) =>
        openPlayer(
          browser!,
          pages!.url,
          p.player,
          `${p.cache.url}/${CHANNEL}/${p.player === 'dashjs' ? 'manifest.mpd' : 'master.m3u8'}`,
          p.cache.url,
        ),
      ),
    )

    // 200 players' worth of requests through Varnish, segment by segment.
    let clientRequests = 0
    let filteredRequests = 0
    const filteredUrls = new Set<string>()
    const loadAnswers: Got[] = []
    const load = (async () => {
      const first = edgeAt(Date.now()) + 2
      for (let n = first; n < first + LOAD_SEGMENTS; n++) {
        await sleep(A(n) - H - Date.now())
        const batch: Promise<Got>[] = []
        for (let i = 0; i < LOAD_PLAYERS; i++) {
          const rendition = i % 2 === 0 ? '0' : '2'
          // Spread over [A(n) − H, A(n) + D/2): most arrive while segment n is held.
          const at = A(n) - H + ((i * 7919) % (H + D / 2))
          batch.push(
            sleep(at - Date.now()).then(async () => {
              const m = get(
                `${varnish.url}/${CHANNEL}/${i % 4 < 2 ? 'manifest.mpd' : `media-${rendition}.m3u8`}`,
              )
              const s = get(`${varnish.url}${segPath(rendition, n)}`)
              // A quarter of them also ask for a segment before its time (a 404 to absorb), and
              // an eighth for one far beyond the live edge and for a number the template cannot
              // produce (short of its zero padding, a leading zero, past 2^53): what Open
              // Connect drops at the edge.
              const f = i % 4 === 0 ? [get(`${varnish.url}${segPath(rendition, n + 3)}`)] : []
              if (i % 8 === 1) {
                for (const path of [
                  segPath(rendition, first + 1000 + (i % 3)),
                  `/${CHANNEL}/seg-${rendition}-${['0001', '0000000000042', '99999999999999999'][i % 3]}.m4s`,
                ]) {
                  filteredUrls.add(path)
                  filteredRequests++
                  f.push(get(`${varnish.url}${path}`))
                }
              }
              const got = await Promise.all([m, s, ...f])
              clientRequests += got.length
              loadAnswers.push(...got)
              return got[1]!
            }),
          )
        }
        void Promise.all(batch)
      }
      await sleep(A(first + LOAD_SEGMENTS) + D - Date.now())
    })()
    await load

    // 404 expiry at the cache: prime segment n of rendition 1 with a 404 before A(n) − H,
    // then ask every ~2 ms around A(n) − H until the answer is not that 404.
    const expiries: number[] = []
    const firstAnswers: number[] = []
    const earlyAnswers: string[] = []
    for (let k = 0; k < EXPIRY_SAMPLES; k++) {
      const n = edgeAt(Date.now()) + 3
      const due = A(n) - H
      await sleep(due - 700 - Date.now())
      const url = `${varnish.url}${segPath('1', n)}`
      const primed = await get(url)
      assert.equal(primed.status, 404, `segment ${n} before A(N) − H`)
      const expires = Number(primed.headers['x-cache-expires'])
      expiries.push(expires - due)
      await sleep(due - 20 - Date.now())
      for (;;) {
        const g = await get(url)
        if (g.status !== 404) {
          firstAnswers.push(g.sentAt - due)
          break
        }
        if (g.sentAt > due + 2000) {
          firstAnswers.push(Number.POSITIVE_INFINITY)
          break
        }
        await sleep(2)
      }
      // Nothing before the expiry went to the origin: the relay saw one 404 for n, no held request before it.
      const early = (await relay.records()).filter(
        (r) => r.tag === 'varnish' && r.url === segPath('1', n) && r.sentAt < due - 2 && r.status !== 404,
      )
      if (early.length > 0) earlyAnswers.push(`${n}: ${JSON.stringify(early)}`)
    }
    console.log(`404 expiry at Varnish, its own expiry (X-Cache-Expires) − (A(N) − H): ${pct(expiries)}`)
    console.log(
      `404 expiry at Varnish, first request answered other than 404 − (A(N) − H): ${pct(firstAnswers)}`,
    )

    // Players: 60 s of playback each from its start.
    const started = Date.now()
    const logs: PageLog[] = []
    for (const o of opened) {
      for (;;) {
        const log = await readLog(o.page)
        const playing = log.events.find((e) => e.type === 'video:playing')
        if ((playing && Date.now() >= playing.t + PLAY_MS + 1000) || Date.now() - started > PLAY_MS + 60_000)
          break
        await sleep(1000)
      }
    }
    for (const o of opened) logs.push(await readLog(o.page))

    // A shed 503: a burst of old (DVR) segments at once, one admitted at a time by the origin.
    // Segments no cache has asked for yet, well behind the live edge (DVR class).
    const edge = edgeAt(Date.now())
    const asked = new Set((await relay.records()).map((r) => r.url))
    const old: string[] = []
    for (let n = S; n < edge - 8 && old.length < 24; n++) {
      for (const rendition of ['1', '0', '2'])
        if (!asked.has(segPath(rendition, n))) old.push(segPath(rendition, n))
    }
    const burst = await Promise.all(old.map((p) => get(`${varnish.url}${p}`)))
    const shedIndex = burst.findIndex((g) => g.status === 503)
    assert.ok(
      shedIndex >= 0,
      `no DVR read of ${old.length} at once was shed: ${burst.map((g) => g.status)} (edge ${edge})`,
    )
    const shed = burst[shedIndex]!
    const shedPath = old[shedIndex]!
    assert.equal(shed.headers['cache-control'], 'no-store', 'the 503 reaches the browser as no-store')
    assert.equal(shed.headers['retry-after'], '5')
    const shedExpires = Number(shed.headers['x-cache-expires'])
    const again = await get(`${varnish.url}${shedPath}`)
    assert.equal(again.status, 503, 'Varnish answers the kept 503 again')
    assert.equal(again.headers['x-cache'], 'HIT')
    console.log(`shed 503 kept by Varnish for ${shedExpires - shed.answeredAt} ms after it was answered`)
    assert.ok(shedExpires - shed.answeredAt >= 4900 && shedExpires - shed.answeredAt <= 5100)
    // The browser does not keep it: the same URL fetched by a page after Varnish dropped it is 200.
    const page = opened[0]!.page
    const inPage = (url: string) =>
      page.evaluate(async (u) => {
        const r = await fetch(u)
        await r.arrayBuffer()
        return r.status
      }, url)
    await sleep(shedExpires + 50 - Date.now())
    assert.equal(await inPage(`${varnish.url}${shedPath}`), 200, 'after 5 s the page gets the segment')
    const shedAsked = (await relay.records()).filter((r) => r.tag === 'varnish' && r.url === shedPath)
    assert.equal(shedAsked.filter((r) => r.status === 503).length, 1, 'one origin request for the kept 503')

    await sim.stop()

    // What the origin was asked, per cache.
    const records = await relay.records()
    const byTag = (tag: string) => records.filter((r) => r.tag === tag)
    const v = byTag('varnish')
    const soonV = tooSoon(v, 1)
    const soonN = tooSoon(byTag('nginx'), 1000)
    // Held requests collapsed: never two origin requests for one segment in flight at once.
    const overlapping: string[] = []
    const inFlight = new Map<string, RelayRecord[]>()
    for (const r of v) {
      if (!r.url.endsWith('.m4s') || r.answeredAt === null) continue
      const others = inFlight.get(r.url) ?? []
      for (const o of others) {
        if (r.sentAt < o.answeredAt! && o.sentAt < r.answeredAt)
          overlapping.push(`${r.url} ${o.sentAt}–${o.answeredAt} and ${r.sentAt}–${r.answeredAt}`)
      }
      others.push(r)
      inFlight.set(r.url, others)
    }
    // Impossible and far-future numbers: each URL asked of the origin once for the whole run.
    const impossible = v.filter((r) => filteredUrls.has(r.url))
    const held = v.filter((r) => r.held)
    const heldUrls = new Set(held.map((r) => r.url))

    const playerRequests = opened.reduce((sum, o) => sum + o.responses.length, 0)
    const failed = loadAnswers.filter((g) => g.status === 0 || g.status >= 500).length
    const loadOrigin = v.filter((r) => /seg-[02]-|manifest\.mpd|media-[02]\.m3u8/.test(r.url)).length
    console.log(
      `Varnish: ${clientRequests} load requests (${LOAD_PLAYERS} players × ${LOAD_SEGMENTS} segments) and ${playerRequests} ` +
        `requests of the 4 players (half through Varnish); origin asked ${v.length} times by Varnish ` +
        `(${loadOrigin} for the load's segments and manifests, ${held.length} held, for ${heldUrls.size} URLs), ` +
        `${byTag('nginx').length} times by nginx; offload ratio of the load ${(1 - loadOrigin / clientRequests).toFixed(4)}, ` +
        `of all Varnish traffic ${(1 - v.length / (clientRequests + playerRequests / 2)).toFixed(4)}; ` +
        `${failed} load answers failed or 5xx; impossible or far-future numbers: ${filteredRequests} requests ` +
        `for ${filteredUrls.size} URLs, ${impossible.length} origin requests`,
    )

    const lines: string[] = []
    const summaries = logs.map((log, i) => {
      const p = players[i]!
      const playingAt = log.events.find((e) => e.type === 'video:playing')?.t ?? null
      const s = playingAt === null ? null : summarize(log, playingAt + PLAY_MS)
      lines.push(
        s === null
          ? `${p.name}: never played: ${JSON.stringify(log.errors)} ${opened[i]!.console}`
          : `${p.name}: start-up ${s.startupMs} ms, played ${(s.lastCurrentTime - s.firstCurrentTime).toFixed(1)} s of media in 60 s, ` +
              `stalls ${JSON.stringify(s.stalls.map((x) => x.ms))} ms, waits ${JSON.stringify(s.waits)} ms, errors ${s.errors.length} ` +
              `(${[...new Set(s.errors.map((e) => e.code))].join(', ')}), answers ${JSON.stringify(statusCounts(opened[i]!.responses))}`,
      )
      return s
    })
    console.log(lines.join('\n'))

    assert.deepEqual(soonV, [], 'Varnish asked the origin again before the lifetime it was given ran out')
    assert.deepEqual(soonN, [], 'nginx asked the origin again before the (whole-second) lifetime ran out')
    assert.deepEqual(overlapping, [], 'two origin requests for one segment in flight at once')
    assert.equal(
      failed,
      0,
      `every load request got an answer below 500: ${JSON.stringify(
        loadAnswers
          .filter((g) => g.status === 0 || g.status >= 500)
          .map((g) => ({ url: g.url, status: g.status, error: g.error, ms: g.answeredAt - g.sentAt })),
      )}`,
    )
    assert.equal(
      impossible.length,
      filteredUrls.size,
      'an impossible or far-future number asked of the origin more than once',
    )
    assert.ok(impossible.every((r) => r.status === 404))

    // Playback: 60 s, no stall longer than a segment, no fatal error.
    for (const [i, s] of summaries.entries()) {
      const name = players[i]!.name
      assert.ok(s !== null, `${name} never played`)
      assert.deepEqual(s.fatalErrors, [], `${name}: fatal errors`)
      // The sampler reads the clock every 250 ms: a stall is known to ±250 ms.
      assert.ok(
        s.stalls.every((x) => x.ms <= D + 250),
        `${name}: a stall longer than a segment: ${JSON.stringify(s.stalls)}`,
      )
      assert.ok(s.lastCurrentTime - s.firstCurrentTime >= 55, `${name}: played too little`)
    }

    // The 404 expiry: never before A(N) − H, and not a second later.
    assert.deepEqual(earlyAnswers, [], 'a request reached the origin before A(N) − H')
    assert.ok(
      expiries.every((e) => e >= -1 && e < 1000),
      `Varnish kept a 404 outside [A(N) − H, +1 s): ${expiries}`,
    )
    assert.ok(
      percentile(expiries, 50) <= 20,
      `median 404 expiry error ${percentile(expiries, 50)} ms > 20 ms`,
    )
    // Only an upper bound: a request stamped before A(N) − H may reach a busy cache after it
    // (that the cache did not expire early is the relay's check above).
    assert.ok(
      firstAnswers.every((e) => e < 1000),
      `first answer after expiry: ${firstAnswers}`,
    )
  })
})

/** How many answers a page got, by status. */
function statusCounts(responses: readonly PageResponse[]): Record<number, number> {
  const counts: Record<number, number> = {}
  for (const r of responses) counts[r.status] = (counts[r.status] ?? 0) + 1
  return counts
}
