/**
 * Measures the write latency of 2 MB objects through ObjectStore on the Cassandra ring
 * (LOCAL_QUORUM, RF 3), with the time split into chunk writes and the commit. Not a test: run
 * it by hand against a running ring and read the numbers (docs/running-at-scale.md quotes
 * them).
 *
 *   scripts/cassandra/ring.sh start
 *   LIVEORIGIN_TEST_CASSANDRA=127.0.0.1,127.0.0.2,127.0.0.3 \
 *     node --import tsx test/distributed/measure-ring-writes.ts [writes=200] [chunkSize=1048576] [size=2000000]
 */

import { randomUUID } from 'node:crypto'
import { loadavg } from 'node:os'
import { createCassandraDriver } from '../../src/storage/cassandra.js'
import { wrapDriver } from '../../src/storage/instrumented.js'
import { ObjectStore } from '../../src/storage/object-store.js'
import { bodyOf, patternBytes } from '../storage/driver-conformance.js'
import { cassandraContactPoints, cassandraDataCenter, ensureSchema, percentiles } from './env.js'

const [writes = 200, chunkSize = 1024 * 1024, size = 2_000_000] = process.argv.slice(2).map(Number)
const contactPoints = cassandraContactPoints()
if (!contactPoints) {
  console.error('set LIVEORIGIN_TEST_CASSANDRA (e.g. 127.0.0.1,127.0.0.2,127.0.0.3)')
  process.exit(2)
}

await ensureSchema('liveorigin_test')
const driver = createCassandraDriver({
  contactPoints,
  localDataCenter: cassandraDataCenter(),
  keyspace: 'liveorigin_test',
})
const byOp = new Map<string, number[]>()
const timed = wrapDriver(driver, async (op, call) => {
  const started = performance.now()
  try {
    return await call()
  } finally {
    const list = byOp.get(op) ?? []
    list.push(performance.now() - started)
    byOp.set(op, list)
  }
})
const store = new ObjectStore(timed, { chunkSize })
const data = patternBytes(size, 9)
const channel = `measure${randomUUID().slice(0, 8)}`

await driver.ping()
const warmup = 10
const total: number[] = []
const load = loadavg()[0] ?? 0
for (let i = 0; i < writes + warmup; i++) {
  if (i === warmup) byOp.clear()
  const started = performance.now()
  await store.write({ channel, path: `v/${i}.m4s`, pipeline: 'a' }, bodyOf(data, 64 * 1024), {
    contentType: 'video/iso.segment',
    expiresAt: Date.now() + 600_000,
  })
  if (i >= warmup) total.push(performance.now() - started)
}
const fmt = (name: string, samples: number[]) => {
  const p = percentiles(samples)
  return `${name.padEnd(22)} p50 ${p.p50.toFixed(1).padStart(6)} ms  p90 ${p.p90.toFixed(1).padStart(6)} ms  p99 ${p.p99.toFixed(1).padStart(6)} ms  max ${p.max.toFixed(1).padStart(6)} ms`
}
console.log(
  `${writes} writes of ${size} bytes, chunks of ${chunkSize}; load average ${load.toFixed(1)} → ${(loadavg()[0] ?? 0).toFixed(1)}`,
)
console.log(fmt('ObjectStore.write', total))
for (const [op, samples] of byOp) console.log(fmt(`  driver.${op}`, samples))
await store.flushDeletions()
await driver.close()
