/**
 * Resident memory of a process group (the origin and any workers it forks), and the page
 * faults of one process, from /proc.
 */
import { readFileSync } from 'node:fs'
import { groupMembers, procStatFields } from './child.js'

/** Sum of VmRSS (bytes) of every live process in group `pgid`. */
export function groupRss(pgid: number): number {
  let sum = 0
  for (const pid of groupMembers(pgid)) {
    try {
      const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (m?.[1]) sum += Number(m[1]) * 1024
    } catch {
      // exited meanwhile
    }
  }
  return sum
}

/**
 * Minor page faults a live process (every thread of it) has taken so far: field 10 of
 * `/proc/<pid>/stat`, after the command name (which may hold spaces). Undefined when the
 * process is gone or there is no /proc.
 */
export function minorFaults(pid: number): number | undefined {
  const fields = procStatFields(pid)
  if (fields === undefined) return undefined
  const faults = Number(fields[7])
  return Number.isSafeInteger(faults) ? faults : undefined
}
