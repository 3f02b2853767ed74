/**
 * The bare `node:http` reference (bench/bare/server.ts) started as a child process on a free
 * loopback port, like the origin, and stopped by PID at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startChild, waitFor } from './child.js'
import { onCleanup } from './cleanup.js'
import { putChannel } from './http.js'
import { LOG_DIR, REPO_ROOT } from './paths.js'
import { freePort } from './ports.js'

/** The reference server's entry point. */
export const BARE_MAIN = join(REPO_ROOT, 'bench', 'bare', 'server.ts')

export interface BareServer {
  /** Where GETs go: the worker processes' port. */
  readonly url: string
  /** Where PUTs go: the port of its ingest process, apart from the workers (as the origin's). */
  readonly ingestUrl: string
  readonly pid: number
  readonly workers: number
  /** Where it writes the bodies of PUTs sent with `writeHeaders` (on tmpfs by default). */
  readonly writeDir: string
  /** Headers of a PUT whose body it writes to a file as it arrives instead of keeping it (`--write-dir`). */
  readonly writeHeaders: Readonly<Record<string, string>>
  /** Gives it a channel's timing (for the lifetime of 404s of future segments). */
  createChannel(
    name: string,
    timing: { segmentDurationMs: number; availabilityStartTime: number; startNumber?: number },
  ): Promise<void>
  /** Stops it by PID and keeps the tail of its log in `.bench/logs/`. */
  stop(): Promise<void>
}

/** Starts the reference server with `workers` processes and waits until every one listens. */
export async function startBare(options: { workers: number; host?: string }): Promise<BareServer> {
  const host = options.host ?? '127.0.0.1'
  const port = await freePort(host)
  const ingestPort = await freePort(host)
  const logDir = mkdtempSync(join(tmpdir(), 'liveorigin-bench-bare-'))
  // On tmpfs, as nginx's root: the bodies it is asked to write go to RAM, as nginx's do.
  const writeDir = mkdtempSync(join('/dev/shm', 'liveorigin-bench-bare-files-'))
  const child = startChild(
    process.execPath,
    [
      '--import',
      'tsx',
      BARE_MAIN,
      '--host',
      host,
      '--port',
      String(port),
      '--workers',
      String(options.workers),
      '--ingest-port',
      String(ingestPort),
      '--write-dir',
      writeDir,
    ],
    { logFile: join(logDir, 'bare.log'), cwd: REPO_ROOT, env: { ...process.env, NODE_ENV: 'production' } },
  )
  const stop = onCleanup('bare node', async () => {
    await child.stop('SIGTERM', 5000)
    child.keepTail(join(LOG_DIR, `bare-${child.pid}.log`))
    rmSync(logDir, { recursive: true, force: true })
    rmSync(writeDir, { recursive: true, force: true })
  })
  const url = `http://${host}:${port}`
  try {
    await waitFor(async () => child.tail().includes('bare node ready'), {
      timeoutMs: 30_000,
      intervalMs: 100,
      giveUp: () => child.hasExited(),
      describe: () => `bare node server did not start on ${url}:\n${child.tail()}`,
    })
  } catch (err) {
    await stop()
    throw err
  }
  const ingestUrl = `http://${host}:${ingestPort}`
  return {
    url,
    ingestUrl,
    pid: child.pid,
    workers: options.workers,
    writeDir,
    writeHeaders: { 'Bare-Write': 'file' },
    createChannel: (name, timing) => putChannel(ingestUrl, name, timing),
    stop,
  }
}
