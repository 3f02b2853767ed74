/**
 * The event bus between the processes of one `serve`: commits made by the ingest process
 * release holds and refresh caches in delivery processes; control-plane changes (channels,
 * masks) reach every process. In one process it is an in-memory fan-out; under the
 * multi-process supervisor each worker's events go to the supervisor over IPC and are
 * relayed to every other worker. Nodes of a distributed deployment do not share a bus:
 * they find each other's commits by polling storage while requests wait (see holds).
 * Uploads in progress (`ProgressEvent`) travel the same way, their chunks as base64 between
 * processes.
 */
import type { ProgressEvent } from '../objects/in-progress.js'

export type BusEvent =
  | { type: 'commit'; channel: string; path: string; pipeline: string; token: string; defects: string }
  | { type: 'remove'; channel: string; path: string; pipeline: string }
  | { type: 'channel'; channel: string }
  | ProgressEvent

export type BusListener = (event: BusEvent) => void

export interface Bus {
  publish(event: BusEvent): void
  subscribe(listener: BusListener): () => void
}

const IPC_TAG = 'liveorigin:bus'

interface IpcMessage {
  tag: typeof IPC_TAG
  event: BusEvent
}

function isIpcMessage(m: unknown): m is IpcMessage {
  return typeof m === 'object' && m !== null && (m as IpcMessage).tag === IPC_TAG
}

/** In-memory bus; with `ipc` it also forwards to and receives from the supervisor. */
export function createBus(ipc?: NodeJS.Process): Bus {
  const listeners = new Set<BusListener>()
  const deliver = (event: BusEvent) => {
    for (const l of listeners) l(event)
  }
  if (ipc?.send) {
    ipc.on('message', (m: unknown) => {
      if (isIpcMessage(m)) deliver(m.event)
    })
  }
  return {
    publish(event) {
      deliver(event)
      if (ipc?.send && ipc.connected) ipc.send({ tag: IPC_TAG, event: forIpc(event) } satisfies IpcMessage)
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}

/** An event as IPC carries it: chunk bytes as base64 (IPC messages are JSON). */
function forIpc(event: BusEvent): BusEvent {
  if (event.type !== 'progress-chunk' || typeof event.data === 'string') return event
  const data = event.data
  return { ...event, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') }
}

/** Supervisor side: relays a worker's bus message to every other worker. */
export function relayBusMessage(
  message: unknown,
  from: { send(m: unknown): boolean },
  workers: Iterable<{ send(m: unknown): boolean; isConnected(): boolean }>,
  local?: BusListener,
): boolean {
  if (!isIpcMessage(message)) return false
  for (const w of workers) if (w !== from && w.isConnected()) w.send(message)
  local?.(message.event)
  return true
}

/** Supervisor side: sends an event that originated in the supervisor to every worker. */
export function broadcastBusEvent(
  event: BusEvent,
  workers: Iterable<{ send(m: unknown): boolean; isConnected(): boolean }>,
): void {
  const message: IpcMessage = { tag: IPC_TAG, event }
  for (const w of workers) if (w.isConnected()) w.send(message)
}
