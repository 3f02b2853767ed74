/**
 * Measures the write latency of a 2 MB object through ObjectStore on the embedded driver,
 * durability on (each write resolves after fsync). Not a test: run it by hand and read the
 * numbers (docs/storage.md quotes them).
 *
 *   node --import tsx test/storage/measure-commit.ts [writes=300] [chunkSize=1048576] [--reader]
 *
 * `--reader` runs a second process that reads the store in a tight loop meanwhile (the
 * embedded shape: ingest and delivery processes share one store).
 */

import { fork } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEmbeddedDriver } from '../../src/storage/embedded.js'
import { ObjectStore } from '../../src/storage/object-store.js'
import { bodyOf, patternBytes } from './driver-conformance.js'

const args = process.argv.slice(2)
if (args[0] === '--reader-child') {
  const driver = createEmbeddedDriver({ dataDir: args[1]! })
  const objects = new ObjectStore(driver)
  let reads = 0
  let bytes = 0
  process.on('message', async () => {
    process.send!({ reads, bytes })
    await driver.close()
    process.exit(0)
  })
  for (;;) {
    for (const m of await objects.list('bench', `v/${reads % 50}.m4s`))
      bytes += (await objects.readAll(m)).byteLength
    reads++
    if (reads % 20 === 0) await new Promise((r) => setImmediate(r))
  }
}

const writes = Number(args.find((a) => /^\d+$/.test(a)) ?? 300)
const chunkSize = Number(args.filter((a) => /^\d+$/.test(a))[1] ?? 1024 * 1024)
const withReader = args.includes('--reader')
const dataDir = mkdtempSync(join(tmpdir(), 'liveorigin-measure-'))
const driver = createEmbeddedDriver({ dataDir })
const objects = new ObjectStore(driver, { chunkSize, replacedGraceMs: 0 })
const size = 2 * 1000 * 1000
const data = patternBytes(size, 5)
const reader = withReader
  ? fork(import.meta.filename, ['--reader-child', dataDir], { execArgv: ['--import', 'tsx'] })
  : undefined

const latencies: number[] = []
let t = 1_000_000
for (let i = 0; i < writes + 20; i++) {
  t += 2000
  const start = performance.now()
  // 64 KiB pieces, as from a socket; a rolling window of 50 live segments, swept as they expire.
  await objects.write({ channel: 'bench', path: `v/${i % 50}.m4s`, pipeline: 'a' }, bodyOf(data, 64 * 1024), {
    contentType: 'video/mp4',
    expiresAt: t + 50 * 2000,
  })
  const ms = performance.now() - start
  if (i >= 20) latencies.push(ms)
  if (i % 10 === 0) await driver.sweep(t)
}
let readerStats: { reads: number; bytes: number } | undefined
if (reader) {
  readerStats = await new Promise((resolve) => {
    reader.once('message', resolve)
    reader.send('stop')
  })
}
latencies.sort((a, b) => a - b)
const q = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!.toFixed(2)
const file = statSync(join(dataDir, 'lmdb', 'data.mdb')).size
console.log(
  JSON.stringify({
    writes,
    objectBytes: size,
    chunkSize,
    p50ms: q(0.5),
    p90ms: q(0.9),
    p99ms: q(0.99),
    maxMs: latencies.at(-1)!.toFixed(2),
    dataFileMB: (file / 1e6).toFixed(1),
    ...(readerStats
      ? { readerObjectReads: readerStats.reads, readerMB: (readerStats.bytes / 1e6).toFixed(0) }
      : {}),
  }),
)
await driver.close()
rmSync(dataDir, { recursive: true, force: true })
