/**
 * liveorigin under test: the built CLI (`dist/src/cli/main.js serve`) started on free
 * loopback ports in open ingest mode, with its data directory on tmpfs by default (the same
 * medium as the nginx baseline), stopped by PID at the end.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Child, groupMembers, startChild, waitFor } from './child.js'
import { onCleanup } from './cleanup.js'
import { putChannel } from './http.js'
import { parseMetrics, type Sample } from './metrics.js'
import { LOG_DIR, REPO_ROOT } from './paths.js'
import { freePort } from './ports.js'

/** The built CLI entry point. */
export const ORIGIN_MAIN = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js')

export interface OriginOptions {
  /** Extra CLI arguments, e.g. `['--role', 'all']`. */
  extraArgs?: readonly string[]
  /** Data directory to use (kept unless `removeData`); default: a fresh one under `ramDir`, removed at stop. */
  dataDir?: string
  /** Remove `dataDir` at stop even though it was given (default: only a directory it created). */
  removeData?: boolean
  /** Parent of the fresh data directory (default `/dev/shm`). */
  ramDir?: string
  host?: string
  /** Fixed ports (default: free ones). */
  ports?: { ingest: number; delivery: number; control: number }
  startTimeoutMs?: number
  /**
   * Run under `node --cpu-prof` with the profiles written to this directory (the supervisor's
   * and, through the inherited exec arguments, every worker's) when the processes exit.
   */
  cpuProfDir?: string
}

/** Channel config for the control API (docs/protocol.md#channels-and-segment-templates). */
export interface ChannelConfig {
  segmentDurationMs: number
  availabilityStartTime: number | string
  startNumber?: number
  media?: string
  initialization?: string
  pipelines?: string[]
  dvrWindowMs?: number
  holdWindowMs?: number
  lateAllowanceMs?: number
  selectionGraceMs?: number
  lowLatency?: boolean
}

export interface OriginServer {
  readonly pid: number
  readonly ingestUrl: string
  readonly deliveryUrl: string
  readonly controlUrl: string
  readonly ports: { ingest: number; delivery: number; control: number }
  readonly dataDir: string
  readonly args: readonly string[]
  /** Processes in the origin's process group right after start-up. */
  readonly processes: number
  /** Creates or replaces a channel; throws with the answer on a non-2xx status. */
  createChannel(name: string, config: ChannelConfig): Promise<void>
  /** Scrapes `/metrics` on the control listener. */
  metrics(): Promise<Sample[]>
  /** Last lines of its log. */
  tail(bytes?: number): string
  /** The role of each process by PID (`supervisor`, `ingest`, `delivery`…), from its log (also after its stop). */
  roles(): Map<number, string>
  /** Stops it by PID (SIGTERM, which drains) and removes a data directory it created. */
  stop(options?: { keepData?: boolean }): Promise<void>
}

function newestMtime(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p))
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs)
  }
  return newest
}

/**
 * Makes sure `dist/src/cli/main.js` exists and is not older than any `src/**.ts`, running
 * `npm run build` otherwise. Returns a note when the build reported errors but produced the
 * entry point anyway (tsc emits despite type errors); throws when there is no entry point.
 */
export function ensureBuilt(log: (message: string) => void = () => {}): string | undefined {
  const stale =
    !existsSync(ORIGIN_MAIN) || statSync(ORIGIN_MAIN).mtimeMs < newestMtime(join(REPO_ROOT, 'src'))
  if (!stale) return undefined
  log('building the origin (npm run build)…')
  const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, encoding: 'utf8' })
  if (!existsSync(ORIGIN_MAIN)) {
    throw new Error(
      `origin not built: ${ORIGIN_MAIN} is missing after npm run build\n${tail(r.stdout + r.stderr)}`,
    )
  }
  if (r.status !== 0)
    return `npm run build reported errors; using the emitted dist/ anyway:\n${tail(r.stdout + r.stderr)}`
  return undefined
}

function tail(text: string, lines = 15): string {
  return text.trim().split('\n').slice(-lines).join('\n')
}

/**
 * The role of each process of an origin by PID, from its JSON log: the supervisor is
 * `supervisorPid`; each worker logs `worker listening` with its role, and the supervisor logs
 * `standby ingest worker ready` with the standby's PID (`workerPid`).
 * Exported for the tests.
 */
export function rolesFromLog(log: string, supervisorPid: number): Map<number, string> {
  const roles = new Map<number, string>([[supervisorPid, 'supervisor']])
  for (const line of log.split('\n')) {
    const standby = line.includes('standby ingest worker ready')
    if (!standby && !line.includes('worker listening')) continue
    try {
      const entry = JSON.parse(line) as {
        pid?: unknown
        workerPid?: unknown
        role?: unknown
        standby?: unknown
      }
      if (standby && typeof entry.workerPid === 'number') {
        if (!roles.has(entry.workerPid)) roles.set(entry.workerPid, 'ingest-standby')
      } else if (typeof entry.pid === 'number' && typeof entry.role === 'string') {
        roles.set(entry.pid, entry.standby ? `${entry.role}-standby` : entry.role)
      }
    } catch {
      // not a JSON line
    }
  }
  return roles
}

/** Starts the origin and waits for `/readyz`; registers its stop for cleanup. */
export async function startOrigin(options: OriginOptions = {}): Promise<OriginServer> {
  const host = options.host ?? '127.0.0.1'
  const ports = options.ports ?? {
    ingest: await freePort(host),
    delivery: await freePort(host),
    control: await freePort(host),
  }
  const ownData = options.dataDir === undefined || options.removeData === true
  const dataDir = options.dataDir ?? mkdtempSync(join(options.ramDir ?? '/dev/shm', 'liveorigin-bench-data-'))
  const logDir = mkdtempSync(join(tmpdir(), 'liveorigin-bench-origin-'))
  const args = [
    ORIGIN_MAIN,
    'serve',
    '--data-dir',
    dataDir,
    '--host',
    host,
    '--ingest-port',
    String(ports.ingest),
    '--delivery-port',
    String(ports.delivery),
    '--control-port',
    String(ports.control),
    ...(options.extraArgs ?? []),
  ]
  const nodeArgs = options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : []
  const child: Child = startChild(process.execPath, [...nodeArgs, ...args], {
    logFile: join(logDir, 'origin.log'),
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_ENV: 'production' },
  })
  let keepData = !ownData
  let rolesAtStop: Map<number, string> | undefined
  const readRoles = () => rolesFromLog(readFileSync(child.logFile, 'utf8'), child.pid)
  const stop = onCleanup('liveorigin', async () => {
    await child.stop('SIGTERM', 10_000)
    rolesAtStop = readRoles()
    child.keepTail(join(LOG_DIR, `liveorigin-${child.pid}.log`))
    if (!keepData) rmSync(dataDir, { recursive: true, force: true })
    rmSync(logDir, { recursive: true, force: true })
  })
  const ingestUrl = `http://${host}:${ports.ingest}`
  const deliveryUrl = `http://${host}:${ports.delivery}`
  const controlUrl = `http://${host}:${ports.control}`
  try {
    await waitFor(
      async () => {
        const res = await fetch(`${controlUrl}/readyz`)
        await res.arrayBuffer()
        if (res.status !== 200) return false
        // Every listener must accept connections before a scenario starts.
        for (const url of [ingestUrl, deliveryUrl]) {
          const r = await fetch(`${url}/healthz-probe/x`, { method: 'HEAD' })
          await r.arrayBuffer()
        }
        return true
      },
      {
        timeoutMs: options.startTimeoutMs ?? 30_000,
        intervalMs: 100,
        giveUp: () => child.hasExited(),
        describe: () =>
          `liveorigin did not become ready (${child.hasExited() ? 'it exited' : 'timeout'}):\n${child.tail()}`,
      },
    )
  } catch (err) {
    await stop()
    throw err
  }
  return {
    pid: child.pid,
    ingestUrl,
    deliveryUrl,
    controlUrl,
    ports,
    dataDir,
    args: args.slice(1),
    processes: groupMembers(child.pid).length,
    createChannel: (name, config) => putChannel(controlUrl, name, config),
    async metrics() {
      const res = await fetch(`${controlUrl}/metrics`)
      const text = await res.text()
      if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${text.slice(0, 300)}`)
      return parseMetrics(text)
    },
    tail: (bytes) => child.tail(bytes),
    roles: () => rolesAtStop ?? readRoles(),
    async stop(o) {
      if (o?.keepData) keepData = true
      await stop()
    },
  }
}
