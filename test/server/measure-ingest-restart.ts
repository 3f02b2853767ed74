/**
 * Measures how long ingest refuses writes after its worker process dies (`kill -9`): a
 * pipeline PUTs small objects back to back on fresh connections while the ingest worker is
 * killed; prints the gap between the last PUT acknowledged before and the first after, and
 * the PUTs refused in between. A measurement, not a test (numbers depend on the machine):
 * `node --import tsx test/server/measure-ingest-restart.ts [rounds] [no-standby]`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { startCli } from '../helpers/cli.js'

const rounds = Number(process.argv[2] ?? 5)
const standby = process.argv[3] !== 'no-standby'
const dataDir = mkdtempSync(join(tmpdir(), 'liveorigin-restart-'))
const origin = await startCli(['--data-dir', dataDir], {
  LIVEORIGIN_DELIVERY_WORKERS: '1',
  LIVEORIGIN_LOG_LEVEL: 'info',
})
const ingestPid = (): number | undefined => {
  const lines = origin
    .output()
    .split('\n')
    .filter((l) => l.includes('"worker listening"') && l.includes('"role":"ingest"'))
  const last = lines[lines.length - 1]
  return last ? (JSON.parse(last) as { pid: number }).pid : undefined
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
await sleep(1500)

const gaps: number[] = []
const refusedCounts: number[] = []
let n = 0
const standbys = () => origin.output().split('"standby ingest worker ready"').length - 1
for (let round = 0; round < rounds; round++) {
  // Each round starts with a standby ready (when the origin keeps one).
  const deadline = Date.now() + 60_000
  while (standby && standbys() <= round && Date.now() < deadline) await sleep(50)
  const pid = ingestPid()!
  let killed = false
  let lastOk = 0
  let refused = 0
  let gap: number | undefined
  const killAt = performance.now() + 200
  while (gap === undefined) {
    if (!killed && performance.now() >= killAt) {
      process.kill(pid, 'SIGKILL')
      killed = true
    }
    try {
      const r = await request(`${origin.ingest}/m/v/${n++}.bin`, {
        method: 'PUT',
        body: 'x',
        headers: { 'pipeline-id': 'east', connection: 'close' },
      })
      await r.body.dump()
      if (r.statusCode === 201) {
        if (killed && refused > 0) gap = performance.now() - lastOk
        lastOk = performance.now()
      } else if (killed) refused++
    } catch {
      if (killed) refused++
    }
  }
  gaps.push(Math.round(gap))
  refusedCounts.push(refused)
  await sleep(1500)
}
console.log(
  JSON.stringify({ gapsMs: gaps, refused: refusedCounts, loadavg: loadavg().map((l) => l.toFixed(2)) }),
)
origin.child.kill('SIGKILL')
rmSync(dataDir, { recursive: true, force: true })
