/**
 * The dashboard page served by the control listener: one self-contained HTML document
 * (no external assets) that polls, every second, one page of the channel list and the status
 * of the channels on that page only (never every channel of the origin), and draws, per
 * channel, the live edge, the pipelines' health and a timeline of recent segments coloured
 * by the copy served (valid, defective, waiting, missing). A line above lists the other
 * origin nodes this one sends commit notices to, with each one's clock offset (red beyond
 * `peers.maxClockOffsetMs`).
 *
 * Above it, a preview player: a channel's DASH or HLS manifest played through the delivery
 * listener (what viewers get), with dash.js or hls.js served by the control listener itself
 * from the installed packages (`/dashboard/lib/…`): the page loads nothing from elsewhere.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

export interface DashboardOptions {
  /**
   * Port of the delivery listener: the preview plays from the dashboard's host name on this
   * port unless the page's `?delivery=<url>` says otherwise (a CDN in front, another host).
   */
  readonly deliveryPort?: number
}

export function dashboardHtml(options: DashboardOptions = {}): string {
  return PAGE + PREVIEW.replace('__DELIVERY_PORT__', JSON.stringify(options.deliveryPort ?? null))
}

/** The player scripts the preview loads, by the name under `/dashboard/lib/`. */
const PLAYER_FILES: Record<string, () => string> = {
  // dashjs exports no subpaths: its files are found beside the resolved entry point.
  'dash.all.min.js': () => join(packageDir('dashjs'), 'dist', 'modern', 'umd', 'dash.all.min.js'),
  'hls.min.js': () => createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js'),
}

function packageDir(name: string): string {
  let dir = dirname(createRequire(import.meta.url).resolve(name))
  while (!dir.endsWith(`node_modules/${name}`) && dirname(dir) !== dir) dir = dirname(dir)
  return dir
}

const assets = new Map<string, Buffer>()

/**
 * A preview player script (`dash.all.min.js`, `hls.min.js`) from the installed package, or
 * undefined for any other name.
 */
export function dashboardAsset(name: string): Buffer | undefined {
  const locate = Object.hasOwn(PLAYER_FILES, name) ? PLAYER_FILES[name] : undefined
  if (locate === undefined) return undefined
  let body = assets.get(name)
  if (body === undefined) {
    body = readFileSync(locate())
    assets.set(name, body)
  }
  return body
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>liveorigin</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --bg:#0f1419; --panel:#171e26; --text:#d8dee6; --muted:#8a96a3; --ok:#2ea86b; --bad:#d9822b; --wait:#3d7bd9; --miss:#c23b3b; --grid:#232c36; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; align-items:baseline; gap:16px; padding:14px 20px; border-bottom:1px solid var(--grid); }
  header h1 { font-size:18px; margin:0; }
  header .clock { color:var(--muted); font-variant-numeric:tabular-nums; }
  main { padding:16px 20px; display:grid; gap:16px; }
  section.channel { background:var(--panel); border-radius:8px; padding:14px 16px; }
  .row { display:flex; gap:24px; flex-wrap:wrap; align-items:baseline; }
  .name { font-size:16px; font-weight:600; }
  .muted { color:var(--muted); }
  table { border-collapse:collapse; margin-top:10px; font-variant-numeric:tabular-nums; }
  th, td { text-align:left; padding:3px 12px 3px 0; }
  th { color:var(--muted); font-weight:500; }
  .pill { display:inline-block; padding:0 8px; border-radius:10px; font-size:12px; }
  .pill.ok { background:var(--ok); color:#fff; } .pill.down { background:var(--miss); color:#fff; }
  .timeline { margin-top:12px; display:grid; gap:4px; }
  .lane { display:flex; align-items:center; gap:8px; }
  .lane .label { width:90px; color:var(--muted); overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
  .cells { display:flex; gap:2px; }
  .cell { width:22px; height:22px; border-radius:3px; font-size:10px; display:flex; align-items:center; justify-content:center; color:#fff; cursor:default; }
  .valid { background:var(--ok); } .defective { background:var(--bad); } .waiting { background:var(--wait); } .missing { background:var(--miss); }
  .future { background:var(--grid); color:var(--muted); }
  .legend { display:flex; gap:12px; margin-top:8px; font-size:12px; color:var(--muted); }
  .legend span::before { content:''; display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; vertical-align:-1px; background:var(--c); }
  .empty { color:var(--muted); padding:40px; text-align:center; }
  .error { color:var(--miss); }
  section.preview { margin:12px 20px 0; background:var(--panel); border-radius:8px; padding:10px 16px; display:grid; gap:8px; }
  section.preview video { background:#000; max-width:100%; }
</style>
</head>
<body>
<header><h1>liveorigin</h1><span class="clock" id="clock"></span><span id="err" class="error"></span></header>
<div class="row" id="peers" style="padding:8px 20px 0"></div>
<nav class="row" id="pager" style="padding:8px 20px 0"><button id="prev" disabled>‹ previous</button><span id="range" class="muted"></span><button id="next" disabled>next ›</button></nav>
<section class="preview" id="preview"><div class="row"><b>Preview</b>
<select id="pv-channel" aria-label="channel"></select>
<select id="pv-format" aria-label="format"><option value="dash">DASH (dash.js)</option><option value="hls">HLS (hls.js)</option></select>
<input id="pv-manifest" aria-label="manifest" value="manifest.mpd" size="14">
<button id="pv-play">play</button><span id="pv-state" class="muted"></span></div>
<video id="pv-video" muted playsinline controls width="480" height="270"></video></section>
<main id="main"><div class="empty">Loading…</div></main>
<script>
const main = document.getElementById('main')
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&':'&amp;', '<':'&lt;', '>':'&gt;', '"':'&quot;', "'":'&#39;' }[c]))
function lane(rendition, segments, now) {
  const cells = segments.map((s) => {
    const future = s.availableAt > now && !s.served
    const cls = future ? 'future' : s.outcome
    const tip = 'segment ' + s.number + ' · ' + s.outcome + (s.served ? ' from ' + s.served : '') + '\\n' +
      s.copies.map((c) => c.pipeline + (c.defects ? ' [' + c.defects + ']' : ' clean') + (c.lateMs ? ' late ' + c.lateMs + ' ms' : '')).join('\\n')
    const mark = s.served ? esc(s.served.slice(0, 2)) : ''
    return '<div class="cell ' + cls + '" title="' + esc(tip) + '">' + mark + '</div>'
  }).join('')
  return '<div class="lane"><div class="label">' + esc(rendition) + '</div><div class="cells">' + cells + '</div></div>'
}
function channel(st) {
  const now = st.live ? st.live.now : Date.now()
  const rows = (st.pipelines || []).map((p) =>
    '<tr><td>' + esc(p.pipeline) + '</td><td><span class="pill ' + (p.healthy ? 'ok' : 'down') + '">' + (p.healthy ? 'healthy' : 'unhealthy') + '</span></td>' +
    '<td>' + (p.lastNumber ?? '–') + '</td><td>' + (p.delivered ?? 0) + '</td><td>' + (p.late ?? 0) + '</td><td>' + (p.missing ?? 0) + '</td><td>' + (p.defective ?? 0) + '</td><td class="muted">' + esc(Object.entries(p.defects || {}).map(([k, v]) => k + ' ' + v).join(', ')) + '</td></tr>').join('')
  const lanes = (st.timeline || []).map((t) => lane(t.rendition, t.segments, now)).join('')
  return '<section class="channel"><div class="row"><span class="name">' + esc(st.name) + '</span>' +
    (st.broken ? '<span class="error">broken: ' + esc(st.broken) + '</span>' : '') +
    (st.live ? '<span>live edge <b>' + st.live.liveEdge + '</b></span>' : '<span class="muted">no template</span>') +
    '<span class="muted">' + esc(st.source) + '</span>' +
    (st.masks && st.masks.length ? '<span class="muted">masks: ' + st.masks.map((m) => esc(m.pipeline) + ' ' + m.from + '–' + m.to).join(', ') + '</span>' : '') +
    '</div>' +
    (rows ? '<table><tr><th>pipeline</th><th>health</th><th>last segment</th><th>delivered</th><th>late</th><th>missing</th><th>defective</th><th>defects</th></tr>' + rows + '</table>' : '') +
    (lanes ? '<div class="timeline">' + lanes + '</div><div class="legend"><span style="--c:var(--ok)">valid</span><span style="--c:var(--bad)">defective</span><span style="--c:var(--wait)">waiting for a valid copy</span><span style="--c:var(--miss)">missing</span><span style="--c:var(--grid)">not yet due</span></div>' : '') +
    '</section>'
}
const PAGE = 20
// Cursors of the pages before the one shown (a cursor is the last name of the page before).
const cursors = []
let cursor = null
let nextCursor = null
document.getElementById('next').onclick = () => { if (nextCursor) { cursors.push(cursor); cursor = nextCursor; refresh() } }
document.getElementById('prev').onclick = () => { if (cursors.length) { cursor = cursors.pop(); refresh() } }
function peers(p) {
  if (!p.enabled) return '<span class="muted">peer notices off</span>'
  const items = p.peers.map((q) => '<span title="' + esc(q.url + (q.rttMs !== null ? ' · round trip ' + q.rttMs + ' ms' : '')) + '"><span class="pill ' + (q.live && !q.skipped ? 'ok' : 'down') + '">' + esc(q.id) + '</span> ' +
    (q.clockOffsetMs === null ? '<span class="muted">offset –</span>' : '<span class="' + (q.clockAlarm ? 'error' : 'muted') + '">offset ' + (q.clockOffsetMs > 0 ? '+' : '') + q.clockOffsetMs + ' ms</span>') + '</span>')
  return '<b>Peers</b>' + (items.length ? items.join('') : '<span class="muted">none</span>') + '<span class="muted">alarm beyond ±' + p.maxClockOffsetMs + ' ms</span>'
}
async function refresh() {
  document.getElementById('clock').textContent = new Date().toISOString()
  try {
    document.getElementById('peers').innerHTML = peers(await (await fetch('/api/v1/peers')).json())
    const list = await (await fetch('/api/v1/channels?limit=' + PAGE + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''))).json()
    nextCursor = list.next
    document.getElementById('next').disabled = !list.next
    document.getElementById('prev').disabled = cursors.length === 0
    const first = cursors.length * PAGE
    document.getElementById('range').textContent = list.total ? 'channels ' + (first + 1) + '–' + (first + list.channels.length) + ' of ' + list.total : ''
    const statuses = await Promise.all(list.channels.map((c) => fetch('/api/v1/channels/' + encodeURIComponent(c.name) + '/status').then((r) => r.json())))
    main.innerHTML = statuses.length ? statuses.map(channel).join('') : '<div class="empty">No channels yet. PUT a segment or create a channel through the API.</div>'
    document.getElementById('err').textContent = ''
  } catch (e) {
    document.getElementById('err').textContent = 'status unavailable: ' + e.message
  }
}
refresh()
setInterval(refresh, 1000)
</script>
`

/** The preview player's script: its own block, independent of the status script above. */
const PREVIEW = `<script>
(() => {
  const DELIVERY_PORT = __DELIVERY_PORT__
  const given = new URLSearchParams(location.search).get('delivery')
  const delivery = (given || (location.protocol + '//' + location.hostname + ':' + (DELIVERY_PORT || location.port))).replace(/\\/+$/, '')
  const $ = (id) => document.getElementById(id)
  const video = $('pv-video')
  const state = (text) => { $('pv-state').textContent = text }
  let stop = () => {}
  const loaded = {}
  const load = (file) => loaded[file] ??= new Promise((resolve, reject) => {
    const s = document.createElement('script')
    s.src = '/dashboard/lib/' + file
    s.onload = resolve
    s.onerror = () => reject(new Error('cannot load ' + file))
    document.head.appendChild(s)
  })
  $('pv-format').onchange = () => { $('pv-manifest').value = $('pv-format').value === 'hls' ? 'master.m3u8' : 'manifest.mpd' }
  async function channels() {
    try {
      const list = await (await fetch('/api/v1/channels?limit=100')).json()
      const select = $('pv-channel')
      const chosen = select.value
      select.innerHTML = list.channels.map((c) => '<option>' + c.name.replace(/[&<>"']/g, '') + '</option>').join('')
      if (chosen) select.value = chosen
    } catch {}
  }
  async function play() {
    stop()
    const url = delivery + '/' + encodeURIComponent($('pv-channel').value) + '/' + $('pv-manifest').value
    state('loading ' + url)
    try {
      if ($('pv-format').value === 'hls') {
        await load('hls.min.js')
        const hls = new Hls()
        hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) state('error: ' + d.details) })
        hls.loadSource(url)
        hls.attachMedia(video)
        stop = () => hls.destroy()
      } else {
        await load('dash.all.min.js')
        const player = dashjs.MediaPlayer().create()
        player.on(dashjs.MediaPlayer.events.ERROR, (e) => state('error: ' + ((e.error && e.error.message) || 'player error')))
        player.initialize(video, url, true)
        stop = () => player.destroy()
      }
      await video.play().catch(() => {})
      state('playing ' + url)
    } catch (e) {
      state('error: ' + e.message)
    }
  }
  $('pv-play').onclick = play
  channels()
  setInterval(channels, 5000)
})()
</script>
</body>
</html>
`
