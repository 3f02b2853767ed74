/**
 * Resident memory of a process group (the origin and any workers it forks), from /proc.
 */
import { readFileSync } from 'node:fs'
import { groupMembers } from './child.js'

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
