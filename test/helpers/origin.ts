/**
 * Starts an origin in this process on loopback ports chosen by the OS, with a fresh data
 * directory, for tests. Every role runs in this process unless `workers` is set.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/schema.js'
import { createLogger } from '../../src/observability/log.js'
import type { ContextOptions } from '../../src/server/context.js'
import { type Running, serve } from '../../src/server/serve.js'

export interface TestOrigin {
  readonly ingest: string
  readonly delivery: string
  readonly control: string
  readonly dataDir: string
  readonly running: Running
  readonly config: Config
  close(): Promise<void>
}

export async function startOrigin(
  overrides: Record<string, unknown> = {},
  options: ContextOptions & { dataDir?: string; keepData?: boolean } = {},
): Promise<TestOrigin> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'liveorigin-test-'))
  const config = loadConfig({
    overrides: {
      'ingest.port': 0,
      'delivery.port': 0,
      'control.port': 0,
      'delivery.workers': 0,
      'storage.dataDir': dataDir,
      'log.level': 'silent',
      // The test's own client shares this event loop, and a busy machine slows storage: such
      // load must not count as origin pressure unless a test asks for shedding.
      'overload.eventLoopDelayMs': 10_000,
      'overload.storageLatencyMs': 10_000,
      ...overrides,
    },
  })
  const running = await serve(config, { log: createLogger('silent'), defaultMetrics: false, ...options })
  const base = (port: number | undefined) => `http://127.0.0.1:${port}`
  return {
    ingest: base(running.ports.ingest),
    delivery: base(running.ports.delivery),
    control: base(running.ports.control),
    dataDir,
    running,
    config,
    async close() {
      await running.close()
      if (!options.keepData && !options.dataDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Prometheus text → value of one sample (sum over label sets matching `labels`). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line)
    if (!m || m[1] !== name) continue
    const got: Record<string, string> = {}
    for (const kv of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) got[kv[1]!] = kv[2]!
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[4])
  }
  return sum
}
