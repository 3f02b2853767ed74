/**
 * Memory the host has to supply anew. On a virtual machine whose host backs its memory
 * lazily, and takes back what the guest frees (free page reporting), the first touch of a page
 * costs a fault on the host: on the 2-core machine of docs/benchmarks.md, 8 ms per MiB with
 * nothing else running, against 2 ms once the pages were touched shortly before. Every write
 * that grows memory pays it (a stored segment, a tmpfs file, a body kept in a heap), whichever
 * server makes it, so that a PUT's latency would measure the host's supply of pages. Before
 * each scenario the harness therefore touches `--warm-mib` MiB in a child process that then
 * exits, handing fresh pages back to the guest's free lists for the servers to take
 * (docs/benchmarks.md#reading-the-numbers).
 */
import { execFile } from 'node:child_process'

/** What one warm-up took: the MiB touched and the time the touching took, in the child. */
export interface MemoryTouch {
  mib: number
  ms: number
}

const TOUCH = `
const mib = Number(process.argv[1])
const kept = []
const t0 = performance.now()
for (let i = 0; i < mib; i++) kept.push(Buffer.allocUnsafeSlow(1 << 20).fill(1))
process.stdout.write(JSON.stringify({ mib: kept.length, ms: performance.now() - t0 }))
`

/** Touches `mib` MiB in a child process (freed when it exits) and reports how long it took. */
export function touchMemory(mib: number): Promise<MemoryTouch> {
  if (!Number.isInteger(mib) || mib < 1)
    throw new TypeError(`touchMemory: mib must be a positive integer, got ${mib}`)
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [`--max-old-space-size=256`, '-e', TOUCH, String(mib)],
      { maxBuffer: 1 << 16 },
      (err, stdout) => {
        if (err) {
          reject(new Error(`touching ${mib} MiB failed: ${err.message}`))
          return
        }
        try {
          resolve(JSON.parse(stdout) as MemoryTouch)
        } catch {
          reject(new Error(`touching ${mib} MiB: unexpected output ${JSON.stringify(stdout.slice(0, 200))}`))
        }
      },
    )
  })
}

/** Milliseconds per MiB of a touch, two decimals. */
export function msPerMib(t: MemoryTouch): number {
  return Math.round((t.ms / t.mib) * 100) / 100
}
