/**
 * Where the distributed tests find the real services that `scripts/test-distributed.sh`
 * starts, and how they break them on purpose (by PID, through the scripts that started them).
 *
 * Environment (set by the script; set them yourself to run one file against services you
 * started with `scripts/cassandra/ring.sh start` and `scripts/memcached/zones.sh start`):
 * - LIVEORIGIN_TEST_CASSANDRA: comma-separated contact points, e.g. `127.0.0.1,127.0.0.2,127.0.0.3`
 * - LIVEORIGIN_TEST_CASSANDRA_DC: local datacenter (default `datacenter1`)
 * - LIVEORIGIN_TEST_MEMCACHED_ZONES: `a=host:port,host:port;b=host:port,…`
 * When a variable is missing, the tests that need the service are skipped, saying why.
 */

import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { MemcachedZone } from '../../src/cache/memcached.js'
import { applySchema } from '../../src/storage/cassandra.js'

const run = promisify(execFile)
const repo = join(import.meta.dirname, '..', '..')
const ringScript = join(repo, 'scripts', 'cassandra', 'ring.sh')
const zonesScript = join(repo, 'scripts', 'memcached', 'zones.sh')

/** Contact points of the test ring, or undefined when no ring was started for the tests. */
export function cassandraContactPoints(): string[] | undefined {
  const v = process.env.LIVEORIGIN_TEST_CASSANDRA
  return v ? v.split(',').map((s) => s.trim()) : undefined
}

export function cassandraDataCenter(): string {
  return process.env.LIVEORIGIN_TEST_CASSANDRA_DC ?? 'datacenter1'
}

/** The memcached zones the tests use, or undefined when none were started. */
export function memcachedZones(): MemcachedZone[] | undefined {
  const v = process.env.LIVEORIGIN_TEST_MEMCACHED_ZONES
  if (!v) return undefined
  return v.split(';').map((part) => {
    const [name, servers] = part.split('=')
    return { name: name ?? '', servers: (servers ?? '').split(',') }
  })
}

const schemas = new Map<string, Promise<unknown>>()

/**
 * Applies the declared schema to `keyspace` on the test ring, once per process (as
 * `liveorigin schema apply` does): drivers and nodes start without creating it, as in
 * production.
 */
export async function ensureSchema(keyspace: string): Promise<void> {
  const contactPoints = cassandraContactPoints()
  if (!contactPoints) throw new Error(NO_RING)
  let applied = schemas.get(keyspace)
  if (!applied) {
    applied = applySchema({ contactPoints, localDataCenter: cassandraDataCenter(), keyspace })
    applied.catch(() => schemas.delete(keyspace))
    schemas.set(keyspace, applied)
  }
  await applied
}

export const NO_RING = 'no Cassandra ring: run `npm run test:distributed` (or set LIVEORIGIN_TEST_CASSANDRA)'
export const NO_MEMCACHED =
  'no memcached zones: run `npm run test:distributed` (or set LIVEORIGIN_TEST_MEMCACHED_ZONES)'

async function script(path: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [path, ...args], { cwd: repo, timeout: 300_000 })
  return stdout
}

/** `kill -9` one Cassandra node (1-based), by the PID the ring script recorded. */
export async function killCassandraNode(n: number): Promise<void> {
  await script(ringScript, 'kill-node', String(n))
}

/** Start one Cassandra node again and wait until it accepts CQL. */
export async function startCassandraNode(n: number): Promise<void> {
  await script(ringScript, 'start-node', String(n))
}

/** PID of one Cassandra node (1-based), from the ring script's directory (`ring.sh` writes it). */
export function cassandraNodePid(n: number): number {
  const dir = process.env.LIVEORIGIN_RING_DIR ?? join(repo, '.run', 'cassandra')
  return Number(readFileSync(join(dir, `node${n}`, 'pid'), 'utf8').trim())
}

/**
 * SIGSTOP one Cassandra node, as `ring.sh pause-node N` does: it keeps its connections and
 * answers nothing until resumed (a slow replica, not a dead one). Signalled from here rather
 * than through the script, so that the stop lands at the moment a test chooses.
 */
export function pauseCassandraNode(n: number): void {
  process.kill(cassandraNodePid(n), 'SIGSTOP')
}

/** SIGCONT one Cassandra node stopped by `pauseCassandraNode` (`ring.sh resume-node N`). */
export function resumeCassandraNode(n: number): void {
  process.kill(cassandraNodePid(n), 'SIGCONT')
}

/** `kill -9` every server of one memcached zone. */
export async function killMemcachedZone(name: string): Promise<void> {
  await script(zonesScript, 'kill-zone', name)
}

export async function startMemcachedZone(name: string): Promise<void> {
  await script(zonesScript, 'start-zone', name)
}

/** PIDs of one zone's memcached servers (to stop and continue them: a hung, not dead, server). */
export function memcachedZonePids(name: string): number[] {
  const dir = process.env.LIVEORIGIN_MEMCACHED_DIR ?? join(repo, '.run', 'memcached')
  const zone = memcachedZones()?.find((z) => z.name === name)
  if (!zone) throw new Error(`unknown zone ${name}`)
  return zone.servers.map((_, i) => Number(readFileSync(join(dir, `${name}-${i}.pid`), 'utf8').trim()))
}

/** Latency percentiles (ms) of a list of samples. */
export function percentiles(samples: number[]): { p50: number; p90: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1] ?? Number.NaN }
}
