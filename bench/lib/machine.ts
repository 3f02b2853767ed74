/**
 * The machine note that goes with every result: benchmark numbers mean little without it.
 */
import { readFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { nginxVersion } from './nginx.js'

export interface MachineInfo {
  /** CPU model from /proc/cpuinfo (`model name`). */
  cpuModel: string
  /** Logical cores the OS reports. */
  cores: number
  memoryBytes: number
  /** Kernel release, e.g. `6.1.0-18-amd64`. */
  kernel: string
  /** OS name from /etc/os-release, e.g. `Debian GNU/Linux 12 (bookworm)`. */
  os: string
  node: string
  nginx: string
  /** 1/5/15-minute load averages when the run started (the machine is shared). */
  loadAverage: [number, number, number]
  /** The same when the run ended. */
  loadAverageEnd?: [number, number, number]
  /** ISO-8601 start of the run. */
  date: string
  /**
   * Milliseconds per MiB of each memory warm-up, in the order of the scenarios
   * (`--warm-mib`, bench/lib/memory.ts): the first says how dear fresh memory was.
   */
  memoryTouchMsPerMib?: number[]
  /** MiB each warm-up touched. */
  warmMib?: number
}

function cpuModel(): string {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8')
    const m = /^model name\s*:\s*(.+)$/m.exec(text)
    if (m?.[1]) return m[1].trim()
  } catch {
    // not Linux: fall back to what node reports
  }
  return cpus()[0]?.model ?? 'unknown'
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))
    if (m?.[1]) return m[1]
  } catch {
    // no os-release
  }
  return process.platform
}

/** The 1/5/15-minute load averages now, rounded to hundredths. */
export function loadAverage(): [number, number, number] {
  const [l1, l5, l15] = loadavg()
  return [round2(l1 ?? 0), round2(l5 ?? 0), round2(l15 ?? 0)]
}

/** Collects the machine note now. */
export function machineInfo(date = new Date()): MachineInfo {
  return {
    cpuModel: cpuModel(),
    cores: cpus().length,
    memoryBytes: totalmem(),
    kernel: release(),
    os: osName(),
    node: process.version,
    nginx: nginxVersion() ?? 'not installed',
    loadAverage: loadAverage(),
    date: date.toISOString(),
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100
}
