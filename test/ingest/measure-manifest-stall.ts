/**
 * Measures how long a large MPD holds up other pipelines' uploads: `liveorigin serve` (every
 * role in one process) receives an MPD of `--mb` MiB (a long SegmentTimeline) whose timing it
 * learns, while another pipeline PUTs 10-byte objects one after another. Reports the MPD's
 * answer time and the slowest small PUT.
 *
 *   node --import tsx test/ingest/measure-manifest-stall.ts [--root <checkout>] [--mb 4]
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { freePort } from '../helpers/cli.js'

const { values } = parseArgs({
  options: { root: { type: 'string', default: process.cwd() }, mb: { type: 'string', default: '4' } },
})
const bytes = Number(values.mb) * 1024 * 1024
const MPD = readFileSync(new URL('../fixtures/dash/manifest-live.mpd', import.meta.url), 'utf8')
const s = '<S t="1234567890" d="1000000" />\n'
const count = Math.floor((bytes - MPD.length - 40) / s.length)
const xml = MPD.replace(
  /<SegmentTemplate timescale="1000000" duration="1000000"([^>]*)>/,
  `<SegmentTemplate timescale="1000000"$1><SegmentTimeline>${s.repeat(count)}</SegmentTimeline>`,
)

const dataDir = mkdtempSync(join(tmpdir(), 'liveorigin-stall-'))
const [ingest, delivery, control] = [await freePort(), await freePort(), await freePort()]
const child = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    'src/cli/main.ts',
    'serve',
    '--ingest-port',
    String(ingest),
    '--delivery-port',
    String(delivery),
    '--control-port',
    String(control),
  ],
  {
    cwd: values.root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      LIVEORIGIN_DELIVERY_WORKERS: '0',
      LIVEORIGIN_STORAGE_DATA_DIR: dataDir,
      LIVEORIGIN_LOG_LEVEL: 'warn',
      LIVEORIGIN_INGEST_MAX_MANIFEST_BYTES: String(bytes + 4096),
    },
  },
)
await new Promise<void>((resolve, reject) => {
  const t = setInterval(async () => {
    try {
      await fetch(`http://127.0.0.1:${control}/healthz`)
      clearInterval(t)
      resolve()
    } catch {}
  }, 200)
  child.once('exit', (code) => reject(new Error(`origin exited with ${code}`)))
})
const put = (path: string, body: string, pipeline: string) =>
  fetch(`http://127.0.0.1:${ingest}${path}`, { method: 'PUT', body, headers: { 'Pipeline-Id': pipeline } })
await put('/warm/x.bin', 'x', 'west')
const started = performance.now()
let done = false
const mpd = put('/stall/manifest.mpd', xml, 'east').then((r) => {
  done = true
  return { status: r.status, ms: performance.now() - started }
})
let slowest = 0
let small = 0
while (!done) {
  const t = performance.now()
  const r = await put(`/other/obj-${small++}.bin`, '0123456789', 'west')
  await r.arrayBuffer()
  slowest = Math.max(slowest, performance.now() - t)
}
const m = await mpd
console.log(
  JSON.stringify({
    root: values.root,
    mpdBytes: Buffer.byteLength(xml),
    mpdStatus: m.status,
    mpdMs: Math.round(m.ms),
    smallPuts: small,
    slowestSmallPutMs: Math.round(slowest),
  }),
)
child.kill('SIGTERM')
await new Promise((r) => child.once('exit', r))
rmSync(dataDir, { recursive: true, force: true })
