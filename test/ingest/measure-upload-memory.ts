/**
 * Measures the ingest process's memory under concurrent large uploads: `liveorigin serve`
 * (every role in one process) receives N concurrent PUTs of M MB each (default 12 × 60 MB,
 * objects outside any template, as the finding that set `ingest.maxInFlightBytes` did), and
 * the process's RSS is reported before, at its peak (VmHWM) and after.
 *
 *   node --import tsx test/ingest/measure-upload-memory.ts [--root <checkout>] [--uploads 12] [--mb 60]
 *
 * `--root` runs another checkout's sources (e.g. an export of `main`) for a before/after.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startCli } from '../helpers/cli.js'

const { values } = parseArgs({
  options: {
    root: { type: 'string', default: process.cwd() },
    uploads: { type: 'string', default: '12' },
    mb: { type: 'string', default: '60' },
  },
})
const uploads = Number(values.uploads)
const size = Number(values.mb) * 1_000_000

/** RSS, its peak, and its anonymous part (heap, buffers; the rest is mapped files such as the store's). */
function memory(pid: number): { rss: number; peak: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0)
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024, anon: kb('RssAnon') / 1024 }
}

const dataDir = mkdtempSync(join(tmpdir(), 'liveorigin-mem-'))
const origin = await startCli([], { LIVEORIGIN_STORAGE_DATA_DIR: dataDir }, undefined, values.root)
const { child } = origin
await new Promise((r) => setTimeout(r, 1000))
const pid = child.pid!
const before = memory(pid)
const body = Buffer.alloc(size, 7)
const started = performance.now()
let anonPeak = before.anon
const sampler = setInterval(() => {
  anonPeak = Math.max(anonPeak, memory(pid).anon)
}, 50)
const statuses = await Promise.all(
  Array.from({ length: uploads }, (_, i) =>
    fetch(`${origin.ingest}/mem/object-${i}.bin`, {
      method: 'PUT',
      body,
      headers: { 'Pipeline-Id': `p${i}` },
    }).then(async (r) => {
      await r.arrayBuffer()
      return r.status
    }),
  ),
)
const seconds = (performance.now() - started) / 1000
clearInterval(sampler)
await new Promise((r) => setTimeout(r, 2000))
const after = memory(pid)
console.log(
  JSON.stringify({
    root: values.root,
    uploads,
    mb: size / 1e6,
    statuses: Object.fromEntries(
      [...new Set(statuses)].map((s) => [s, statuses.filter((x) => x === s).length]),
    ),
    seconds: Math.round(seconds * 10) / 10,
    rssBeforeMB: Math.round(before.rss),
    rssPeakMB: Math.round(after.peak),
    rssAfterMB: Math.round(after.rss),
    anonBeforeMB: Math.round(before.anon),
    anonPeakMB: Math.round(anonPeak),
    anonAfterMB: Math.round(after.anon),
  }),
)
child.kill('SIGTERM')
await origin.exited
rmSync(dataDir, { recursive: true, force: true })
