/**
 * Child processes of the harness (nginx, the origin): started in their own process group with
 * output to a log file, and stopped by PID — a polite signal first, then SIGKILL to the whole
 * group if they do not exit in time, so that no worker is left behind.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  writeFileSync,
} from 'node:fs'
import { dirname } from 'node:path'

export interface Child {
  readonly pid: number
  readonly process: ChildProcess
  /** Where its stdout and stderr go. */
  readonly logFile: string
  /** Resolves with the exit code (or signal name) once it has exited. */
  readonly exited: Promise<number | string>
  /** True once it has exited. */
  hasExited(): boolean
  /** Stops it: `signal` to the process, then SIGKILL to its group after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>
  /** The last `bytes` of its log, for error messages. */
  tail(bytes?: number): string
  /** Copies the last `bytes` (default 256 KiB) of its log to `file`, creating the directory. */
  keepTail(file: string, bytes?: number): void
}

/** How much of a server's log is kept in `.bench/logs/` (the last 256 KiB). */
export const LOG_TAIL_BYTES = 256 * 1024

/** The last `bytes` of `file` ('' when it cannot be read). */
export function fileTail(file: string, bytes: number): string {
  try {
    const fd = openSync(file, 'r')
    try {
      const size = fstatSync(fd).size
      const len = Math.min(size, bytes)
      const buf = Buffer.alloc(len)
      readSync(fd, buf, 0, len, size - len)
      return buf.toString('utf8')
    } finally {
      closeSync(fd)
    }
  } catch {
    return ''
  }
}

/** Copies the last `bytes` of `from` to `to`, creating its directory; nothing when `from` is absent. */
export function keepFileTail(from: string, to: string, bytes: number): void {
  if (!existsSync(from)) return
  mkdirSync(dirname(to), { recursive: true })
  writeFileSync(to, fileTail(from, bytes))
}

/** Starts `command` with `args`, output appended to `logFile`. */
export function startChild(
  command: string,
  args: readonly string[],
  options: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv },
): Child {
  const fd = openSync(options.logFile, 'a')
  const proc = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', fd, fd],
    detached: true,
  })
  closeSync(fd)
  let done = false
  const exited = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => {
      done = true
      resolve(code ?? signal ?? 'unknown')
    })
    proc.once('error', (err) => {
      done = true
      resolve(`spawn error: ${err.message}`)
    })
  })
  if (proc.pid === undefined) {
    throw new Error(`could not start ${command}`)
  }
  const pid = proc.pid
  const tail = (bytes = 2000): string => fileTail(options.logFile, bytes)
  return {
    pid,
    process: proc,
    logFile: options.logFile,
    exited,
    hasExited: () => done,
    tail,
    keepTail(file, bytes = LOG_TAIL_BYTES) {
      keepFileTail(options.logFile, file, bytes)
    },
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (done && groupMembers(pid).length === 0) return
      try {
        process.kill(pid, signal)
      } catch {
        // already gone
      }
      const timeout = new Promise<'timeout'>((resolve) =>
        setTimeout(() => resolve('timeout'), graceMs).unref(),
      )
      if ((await Promise.race([exited, timeout])) === 'timeout') killGroup(pid)
      await exited
      // Workers may outlive their parent; the group id stays ours while any of them is alive.
      const deadline = Date.now() + graceMs
      while (groupMembers(pid).length > 0) {
        if (Date.now() > deadline) {
          killGroup(pid)
          break
        }
        await new Promise((r) => setTimeout(r, 50))
      }
    },
  }
}

/**
 * Polls `check` every `intervalMs` until it returns true; throws `describe()` after
 * `timeoutMs`, or at once when `giveUp()` turns true (e.g. the server process exited).
 */
export async function waitFor(
  check: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; describe: () => string; giveUp?: () => boolean },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    if (options.giveUp?.()) break
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50))
  }
  throw new Error(options.describe())
}

/**
 * The fields of `/proc/<pid>/stat` after the parenthesised command name (which may hold spaces
 * and parentheses): state ppid pgrp … (`proc(5)`'s field 3 is index 0). Undefined when the
 * process is gone or there is no /proc.
 */
export function procStatFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** PIDs of live processes whose process group is `pgid` (read from /proc). */
export function groupMembers(pgid: number): number[] {
  const out: number[] = []
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return out
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue
    // Undefined: exited while we looked.
    const fields = procStatFields(name)
    if (fields && fields[0] !== 'Z' && Number(fields[2]) === pgid) out.push(Number(name))
  }
  return out
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL')
  } catch {
    // group already gone
  }
}
