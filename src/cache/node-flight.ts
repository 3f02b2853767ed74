/**
 * Single flight across the processes of one node (docs/delivery.md#one-read-per-node): the
 * delivery workers of a `serve` each keep their own memory tier, so without this each would
 * read a body it lacks from the shared tier or storage, one read per worker. Before such a
 * read a worker asks the supervisor for the body's key: the first asker leads (it reads, then
 * hands the body to the supervisor), and every process that asks while the lead reads gets
 * the body from the supervisor instead of reading it. A lead that fails, or whose process
 * dies, sends its waiters to read for themselves; so does a supervisor that does not answer.
 *
 * Bodies travel as bytes over the IPC channel (`serialization: 'advanced'` in `serve.ts`):
 * a 2 MiB body costs two copies through a socket pair and the supervisor, about a
 * millisecond on a quiet machine (docs/benchmarks.md), against a storage read per worker.
 */

export const NODE_FLIGHT_TAG = 'liveorigin:node-flight'

/** How long a worker waits for the supervisor's answer before it reads for itself. */
export const NODE_FLIGHT_WAIT_MS = 10_000

/** Messages between a worker and the supervisor, tagged `NODE_FLIGHT_TAG`. */
export type NodeFlightMessage = { readonly tag: typeof NODE_FLIGHT_TAG } & (
  | { readonly kind: 'ask'; readonly id: number; readonly key: string }
  | { readonly kind: 'done'; readonly key: string; readonly body?: Uint8Array }
  | { readonly kind: 'lead'; readonly id: number }
  | { readonly kind: 'body'; readonly id: number; readonly body: Uint8Array }
  | { readonly kind: 'self'; readonly id: number }
)

function isNodeFlightMessage(m: unknown): m is NodeFlightMessage {
  return typeof m === 'object' && m !== null && (m as { tag?: unknown }).tag === NODE_FLIGHT_TAG
}

/** How a body a process lacked was had: read by it (`lead`, `self`) or handed over (`shared`). */
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
        const own = (outcome: NodeFlightOutcome) => {
          options.outcome?.(outcome)
          fetch().then(resolve, reject)
        }
        const timer = setTimeout(() => {
          pending.delete(id)
          own('self')
        }, waitMs)
        pending.set(id, (m) => {
          pending.delete(id)
          clearTimeout(timer)
          if (m.kind === 'body') {
            const body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength)
            if (valid(body)) {
              options.outcome?.('shared')
              resolve(body)
            } else own('self')
          } else if (m.kind === 'lead') {
            options.outcome?.('lead')
            fetch().then(
              (body) => {
                send({ tag: NODE_FLIGHT_TAG, kind: 'done', key, body })
                resolve(body)
              },
              (err: unknown) => {
                send({ tag: NODE_FLIGHT_TAG, kind: 'done', key })
                reject(err)
              },
            )
          } else own('self')
        })
        asked.set(id, key)
        if (!send({ tag: NODE_FLIGHT_TAG, kind: 'ask', id, key })) {
          asked.delete(id)
          pending.delete(id)
          clearTimeout(timer)
          own('self')
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

/** The supervisor's side: who leads each key's read, and who waits for it. */
export class NodeFlightBroker<W extends FlightWorker = FlightWorker> {
  readonly #leases = new Map<string, { leader: W; waiters: { worker: W; id: number }[] }>()

  /** Handles a worker's message; false when it is not a node-flight message. */
  handle(worker: W, message: unknown): boolean {
    if (!isNodeFlightMessage(message)) return false
    if (message.kind === 'ask') {
      const lease = this.#leases.get(message.key)
      if (lease) lease.waiters.push({ worker, id: message.id })
      else {
        this.#leases.set(message.key, { leader: worker, waiters: [] })
        this.#send(worker, { tag: NODE_FLIGHT_TAG, kind: 'lead', id: message.id })
      }
    } else if (message.kind === 'done') {
      const lease = this.#leases.get(message.key)
      if (lease?.leader === worker) this.#end(message.key, message.body)
    }
    return true
  }

  /** A worker exited: the reads it led end without a body, and it waits for nothing. */
  gone(worker: W): void {
    for (const [key, lease] of [...this.#leases]) {
      if (lease.leader === worker) this.#end(key, undefined)
      else lease.waiters = lease.waiters.filter((w) => w.worker !== worker)
    }
  }

  /** Keys being read. */
  get size(): number {
    return this.#leases.size
  }

  #end(key: string, body: Uint8Array | undefined): void {
    const lease = this.#leases.get(key)!
    this.#leases.delete(key)
    for (const w of lease.waiters) {
      this.#send(
        w.worker,
        body
          ? { tag: NODE_FLIGHT_TAG, kind: 'body', id: w.id, body }
          : { tag: NODE_FLIGHT_TAG, kind: 'self', id: w.id },
      )
    }
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
