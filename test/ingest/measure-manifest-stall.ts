/**
 * Measures how long a large MPD holds up other pipelines' uploads: `liveorigin serve` (every
 * role in one process) receives an MPD of `--mb` MiB (a long SegmentTimeline) whose timing it
 * learns, while another pipeline PUTs 10-byte objects one after another. Reports the MPD's
 * answer time and the slowest small PUT.
 *
 *   node --import tsx test/ingest/measure-manifest-stall.ts [--root <checkout>] [--mb 4]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startCli } from '../helpers/cli.js'

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
const origin = await startCli(
  [],
  { LIVEORIGIN_STORAGE_DATA_DIR: dataDir, LIVEORIGIN_INGEST_MAX_MANIFEST_BYTES: String(bytes + 4096) },
  undefined,
  values.root,
)
const { child } = origin
const put = (path: string, body: string, pipeline: string) =>
  fetch(`${origin.ingest}${path}`, { method: 'PUT', body, headers: { 'Pipeline-Id': pipeline } })
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
await origin.exited
rmSync(dataDir, { recursive: true, force: true })
