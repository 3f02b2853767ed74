/**
 * Load phases with wrk (C, epoll, one event loop per thread), run as a child process. Used by
 * default because autocannon, all JavaScript, is the bottleneck on this class of machine: it
 * decodes every response body into a string (≈ 15 req/s of 2 MiB answers, 30 MiB/s, where
 * nginx serves > 1 GiB/s) and tops out near 37k req/s on small answers where wrk reaches
 * 70–100k. A capped client would report every server as equal.
 *
 * wrk prints nothing while it runs, so progress is estimated from the bytes the wrk process
 * has read (`rchar` in /proc/<pid>/io) divided by the size of one answer; the request cap is
 * enforced the same way (SIGINT makes wrk stop and print its summary). A small Lua `done`
 * hook prints the summary as JSON.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onCleanup } from './cleanup.js'
import type { ProgressLine } from './progress.js'

/** Path of the wrk binary. */
export const WRK_BIN = '/usr/bin/wrk'

const DONE_SCRIPT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"bytes":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"latencyUs":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`

export interface WrkOptions {
  url: string
  connections: number
  threads: number
  durationSec: number
  /** Stop (SIGINT) once about this many answers have been read. */
  maxRequests?: number
  /** Size of one answer (status line, headers, body) for the progress estimate. */
  answerBytes: number
  /** Extra request headers. */
  headers?: Record<string, string>
  /** Lua code run before the `done` hook, e.g. a `request` function choosing the path. */
  script?: string
  progress?: ProgressLine
  /** Progress detail text. */
  detail?: string
}

export interface WrkSummary {
  requests: number
  bytes: number
  durationSec: number
  /** Answers with a status other than 2xx/3xx. */
  non2xx3xx: number
  /** Connect, read and write errors and timeouts. */
  errors: number
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number }
}

/** wrk's version string, or undefined when wrk is not installed. */
export function wrkVersion(): string | undefined {
  const r = spawnSync(WRK_BIN, ['-v'], { encoding: 'utf8' })
  if (r.error) return undefined
  return /wrk (\S+)/.exec(`${r.stdout}${r.stderr}`)?.[1]
}

function readChar(pid: number): number | undefined {
  try {
    const m = /^rchar:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))
    return m?.[1] ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/** Parses the JSON line printed by the `done` hook. Exported for the tests. */
export function parseWrkOutput(stdout: string): WrkSummary {
  const line = stdout.split('\n').find((l) => l.startsWith('WRK_JSON '))
  if (!line) throw new Error(`wrk printed no summary:\n${stdout.slice(-1000)}`)
  const j = JSON.parse(line.slice('WRK_JSON '.length)) as {
    requests: number
    bytes: number
    durationUs: number
    connect: number
    read: number
    write: number
    status: number
    timeout: number
    latencyUs: { mean: number; p50: number; p90: number; p99: number; max: number }
  }
  return {
    requests: j.requests,
    bytes: j.bytes,
    durationSec: j.durationUs / 1e6,
    non2xx3xx: j.status,
    errors: j.connect + j.read + j.write + j.timeout,
    latencyMs: {
      mean: j.latencyUs.mean / 1000,
      p50: j.latencyUs.p50 / 1000,
      p90: j.latencyUs.p90 / 1000,
      p99: j.latencyUs.p99 / 1000,
      max: j.latencyUs.max / 1000,
    },
  }
}

/** Runs wrk once and returns its summary. */
export async function runWrk(o: WrkOptions): Promise<WrkSummary> {
  const dir = mkdtempSync(join(tmpdir(), 'liveorigin-bench-wrk-'))
  const script = join(dir, 'done.lua')
  writeFileSync(script, `${o.script ?? ''}\n${DONE_SCRIPT}`)
  const args = [
    `-t${Math.min(o.threads, o.connections)}`,
    `-c${o.connections}`,
    `-d${o.durationSec}s`,
    '--timeout',
    '30s',
    '-s',
    script,
  ]
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`)
  args.push(o.url)
  const child = spawn(WRK_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const pid = child.pid
  const stop = onCleanup('wrk', () => {
    if (child.exitCode === null && pid !== undefined) child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d
  })
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d
  })
  let capped = false
  const timer = setInterval(() => {
    if (pid === undefined) return
    const read = readChar(pid)
    if (read === undefined) return
    const estimate = Math.floor(read / Math.max(1, o.answerBytes))
    o.progress?.update({ requests: estimate, bytes: read, detail: `≈ (wrk) ${o.detail ?? ''}`.trim() })
    if (o.maxRequests !== undefined && estimate >= o.maxRequests && !capped) {
      capped = true
      child.kill('SIGINT')
    }
  }, 250)
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject)
      child.once('close', (c) => resolve(c))
    })
    if (code !== 0 && !stdout.includes('WRK_JSON')) {
      throw new Error(`wrk exited with ${code}: ${stderr.slice(-500)}`)
    }
    return parseWrkOutput(stdout)
  } finally {
    clearInterval(timer)
    await stop()
  }
}
