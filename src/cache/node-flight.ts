/**
 * Single flight across the processes of one node (docs/delivery.md#one-read-per-node): the
 * delivery workers of a `serve` each keep their own memory tier, so without this each would
 * read a body it lacks from the shared tier or storage, one read per worker. Before such a
 * read a worker asks the supervisor for the body's key: the first asker leads (it reads,
 * sends its own answers' heads, and writes the body to a file the supervisor named before
 * their bodies go out), and every process that asks while the lead reads, or up to `KEEP_MS`
 * after, reads that file instead of storage. A lead that fails, or whose process dies, sends
 * its waiters to read for themselves; so does a file that cannot be written or read, a body
 * of the wrong length and a supervisor that does not answer.
 *
 * The files live in a directory of the supervisor's in `/dev/shm` (memory) when there is
 * one: handing a 2 MiB body over costs a write and a read of it, 2 to 4 ms, where the same
 * body through the IPC channel costs twice that (it is copied through the supervisor). Both
 * are synchronous: the waiters have nothing else to do with the body meanwhile, and the
 * leader's write goes before its own answers' bodies. The messages themselves are small.
 */

import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlink, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const NODE_FLIGHT_TAG = 'liveorigin:node-flight'

/** How long a worker waits for the supervisor's answer before it reads for itself. */
export const NODE_FLIGHT_WAIT_MS = 10_000
/** How long a body read by one process stays available to the others, as a file. */
export const KEEP_MS = 2_000

/**
 * Messages between a worker and the supervisor, tagged `NODE_FLIGHT_TAG`: `ask` (worker →
 * supervisor: who reads `key`?), `done` (leader → supervisor: the read ended; the body is in
 * `file`, or absent when it is not), `lead` (supervisor → worker: read it, then write it to
 * `file`), `file` (supervisor → worker: the body is in `file`), `self` (supervisor → worker:
 * read it yourself).
 */
export type NodeFlightMessage = { readonly tag: typeof NODE_FLIGHT_TAG } & (
  | { readonly kind: 'ask'; readonly id: number; readonly key: string }
  | { readonly kind: 'done'; readonly key: string; readonly file?: string }
  | { readonly kind: 'lead'; readonly id: number; readonly file: string }
  | { readonly kind: 'file'; readonly id: number; readonly file: string }
  | { readonly kind: 'self'; readonly id: number }
)

function isNodeFlightMessage(m: unknown): m is NodeFlightMessage {
  return typeof m === 'object' && m !== null && (m as { tag?: unknown }).tag === NODE_FLIGHT_TAG
}

/** How a body a process lacked was had: read by it (`lead`, `self`) or from another (`shared`). */
export type NodeFlightOutcome = 'lead' | 'shared' | 'self'

export interface NodeFlight {
  /**
   * The body under `key`: `fetch` runs here when this process leads (or must read for
   * itself); otherwise the body another process read. `valid` rejects a handed-over body
   * (e.g. of the wrong length), which then is read here.
   */
  read(key: string, fetch: () => Promise<Buffer>, valid?: (body: Buffer) => boolean): Promise<Buffer>
}

/** The worker's side, over its IPC channel to the supervisor (`process`). */
export function nodeFlightOverIpc(
  ipc: Pick<NodeJS.Process, 'send' | 'on' | 'connected'>,
  options: { waitMs?: number; outcome?: (o: NodeFlightOutcome) => void } = {},
): NodeFlight {
  const waitMs = options.waitMs ?? NODE_FLIGHT_WAIT_MS
  const pending = new Map<number, (m: NodeFlightMessage) => void>()
  /** Keys of the asks not answered yet, also those this process stopped waiting for. */
  const asked = new Map<number, string>()
  let nextId = 0
  const send = (m: NodeFlightMessage): boolean => {
    if (!ipc.send || !ipc.connected) return false
    try {
      return ipc.send(m)
    } catch {
      return false
    }
  }
  ipc.on('message', (m: unknown) => {
    if (!isNodeFlightMessage(m) || !('id' in m)) return
    const key = asked.get(m.id)
    asked.delete(m.id)
    const answer = pending.get(m.id)
    if (answer) answer(m)
    // A lead this process no longer waits for (it read for itself): its waiters must not
    // wait on it.
    else if (m.kind === 'lead' && key !== undefined) send({ tag: NODE_FLIGHT_TAG, kind: 'done', key })
  })
  return {
    read(key, fetch, valid = () => true) {
      const id = ++nextId
      return new Promise<Buffer>((resolve, reject) => {
        const own = () => {
          options.outcome?.('self')
          fetch().then(resolve, reject)
        }
        const timer = setTimeout(() => {
          pending.delete(id)
          own()
        }, waitMs)
        pending.set(id, (m) => {
          pending.delete(id)
          clearTimeout(timer)
          if (m.kind === 'file') {
            let body: Buffer
            try {
              body = readFileSync(m.file)
            } catch {
              return own()
            }
            if (!valid(body)) return own()
            options.outcome?.('shared')
            resolve(body)
          } else if (m.kind === 'lead') {
            options.outcome?.('lead')
            fetch().then(
              (body) => {
                resolve(body)
                // On the next turn: after this process's answer heads, which go out in the
                // microtasks of `resolve`, before their bodies, which go out on a later turn.
                // The others wait for the file, not for this process's answers.
                setImmediate(() => {
                  let written = true
                  try {
                    writeFileSync(m.file, body)
                  } catch {
                    written = false
                  }
                  send({ tag: NODE_FLIGHT_TAG, kind: 'done', key, ...(written ? { file: m.file } : {}) })
                })
              },
              (err: unknown) => {
                send({ tag: NODE_FLIGHT_TAG, kind: 'done', key })
                reject(err)
              },
            )
          } else own()
        })
        asked.set(id, key)
        if (!send({ tag: NODE_FLIGHT_TAG, kind: 'ask', id, key })) {
          asked.delete(id)
          pending.delete(id)
          clearTimeout(timer)
          own()
        }
      })
    },
  }
}

/** A worker as the broker sees it. */
export interface FlightWorker {
  send(m: unknown): boolean
  isConnected(): boolean
}

interface Lease<W> {
  leader: W
  file: string
  waiters: { worker: W; id: number }[]
  /** Set once the leader is done: whether its file holds the body. */
  written?: boolean
}

/**
 * A directory for handed-over bodies, in memory (`/dev/shm`) when the system has it; those
 * that supervisors no longer running left behind (killed with SIGKILL) are removed.
 */
export function flightDirectory(): string {
  let parent = tmpdir()
  try {
    if (statSync('/dev/shm').isDirectory()) parent = '/dev/shm'
  } catch {
    // No /dev/shm (not Linux): the temporary directory.
  }
  for (const name of readdirSync(parent)) {
    const pid = /^liveorigin-flight-(\d+)-/.exec(name)?.[1]
    if (pid !== undefined && !alive(Number(pid))) rmSync(join(parent, name), { recursive: true, force: true })
  }
  return mkdtempSync(join(parent, `liveorigin-flight-${process.pid}-`))
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The supervisor's side: who leads each key's read, who waits for it, and its file. */
export class NodeFlightBroker<W extends FlightWorker = FlightWorker> {
  readonly #leases = new Map<string, Lease<W>>()
  readonly #dir: string
  readonly #keepMs: number
  #files = 0

  constructor(dir: string, options: { keepMs?: number } = {}) {
    this.#dir = dir
    this.#keepMs = options.keepMs ?? KEEP_MS
  }

  /** Handles a worker's message; false when it is not a node-flight message. */
  handle(worker: W, message: unknown): boolean {
    if (!isNodeFlightMessage(message)) return false
    if (message.kind === 'ask') this.#ask(worker, message.id, message.key)
    else if (message.kind === 'done') {
      const lease = this.#leases.get(message.key)
      if (lease?.leader === worker && lease.written === undefined)
        this.#done(message.key, lease, message.file)
    }
    return true
  }

  /** A worker exited: the reads it led end without a body, and it waits for nothing. */
  gone(worker: W): void {
    for (const [key, lease] of [...this.#leases]) {
      if (lease.leader === worker && lease.written === undefined) this.#done(key, lease, undefined)
      else lease.waiters = lease.waiters.filter((w) => w.worker !== worker)
    }
  }

  /** Keys being read or kept. */
  get size(): number {
    return this.#leases.size
  }

  /** Removes the directory and every file in it. */
  close(): void {
    this.#leases.clear()
    rmSync(this.#dir, { recursive: true, force: true })
  }

  #ask(worker: W, id: number, key: string): void {
    const lease = this.#leases.get(key)
    if (lease?.written === undefined && lease) {
      lease.waiters.push({ worker, id })
      return
    }
    if (lease?.written) {
      this.#send(worker, { tag: NODE_FLIGHT_TAG, kind: 'file', id, file: lease.file })
      return
    }
    const file = join(this.#dir, String(++this.#files))
    this.#leases.set(key, { leader: worker, file, waiters: [] })
    this.#send(worker, { tag: NODE_FLIGHT_TAG, kind: 'lead', id, file })
  }

  #done(key: string, lease: Lease<W>, file: string | undefined): void {
    const written = file === lease.file
    lease.written = written
    for (const w of lease.waiters) {
      this.#send(
        w.worker,
        written
          ? { tag: NODE_FLIGHT_TAG, kind: 'file', id: w.id, file: lease.file }
          : { tag: NODE_FLIGHT_TAG, kind: 'self', id: w.id },
      )
    }
    lease.waiters = []
    const forget = () => {
      if (this.#leases.get(key) === lease) this.#leases.delete(key)
      unlink(lease.file, () => {})
    }
    // A body kept for later askers; a failed lead is forgotten at once (the next asker leads).
    if (written) setTimeout(forget, this.#keepMs).unref()
    else forget()
  }

  #send(worker: W, m: NodeFlightMessage): void {
    if (!worker.isConnected()) return
    try {
      worker.send(m)
    } catch {
      // The worker is dying: its exit reaches `gone`.
    }
  }
}
