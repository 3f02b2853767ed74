/**
 * Single flight across the processes of a node (src/cache/node-flight.ts), with the broker
 * and its workers joined by message queues that copy each message as IPC does
 * (`structuredClone`, asynchronously) and a real directory for the handed-over bodies: the
 * first asker leads and the others, also those asking shortly after, read its file;
 * a lead that fails or whose process dies, a supervisor that does not answer, and a body of
 * the wrong length send the waiters to read for themselves; a lead that reaches a process
 * which stopped waiting is given up, which releases its waiters.
 */
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import {
  type NodeFlight,
  NodeFlightBroker,
  type NodeFlightOutcome,
  nodeFlightOverIpc,
} from '../../src/cache/node-flight.js'

const later = () => new Promise<void>((r) => setImmediate(r))

interface Proc {
  flight: NodeFlight
  outcomes: NodeFlightOutcome[]
  worker: { send(m: unknown): boolean; isConnected(): boolean }
  /** Messages to the supervisor are kept here, not delivered, while it is set. */
  held: unknown[] | undefined
}

const dirs: string[] = []
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function node(
  count: number,
  waitMs = 10_000,
  keepMs = 2_000,
): { broker: NodeFlightBroker; procs: Proc[]; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'liveorigin-flight-test-'))
  dirs.push(dir)
  const broker = new NodeFlightBroker(dir, { keepMs })
  const procs = Array.from({ length: count }, () => {
    const channel = new EventEmitter()
    const proc = { outcomes: [] as NodeFlightOutcome[], held: undefined } as Proc
    proc.worker = {
      send(m) {
        const copy = structuredClone(m)
        setImmediate(() => channel.emit('message', copy))
        return true
      },
      isConnected: () => true,
    }
    const ipc = {
      connected: true,
      send(m: unknown) {
        const copy = structuredClone(m)
        if (proc.held) proc.held.push(copy)
        else setImmediate(() => broker.handle(proc.worker, copy))
        return true
      },
      on(event: 'message', listener: (m: unknown) => void) {
        channel.on(event, listener)
        return ipc
      },
    }
    proc.flight = nodeFlightOverIpc(ipc as never, { waitMs, outcome: (o) => proc.outcomes.push(o) })
    return proc
  })
  return { broker, procs, dir }
}

/** A read that resolves when the test says so, counting its calls. */
function gatedRead(bytes: Buffer) {
  let open!: () => void
  let fail!: (err: Error) => void
  const gate = new Promise<void>((resolve, reject) => {
    open = resolve
    fail = reject
  })
  const read = {
    calls: 0,
    fetch: async () => {
      read.calls++
      await gate
      return bytes
    },
    open,
    fail,
  }
  return read
}

describe('single flight across processes', () => {
  it('the first asker reads; the others get its bytes, also those asking shortly after', async () => {
    const { broker, procs, dir } = node(3, 10_000, 200)
    const body = Buffer.from('segment body')
    const read = gatedRead(body)
    const results = procs.map((p) => p.flight.read('b:t1', read.fetch))
    await later()
    await later()
    read.open()
    const got = await Promise.all(results)
    assert.equal(read.calls, 1)
    for (const b of got) assert.ok(b.equals(body))
    assert.deepEqual(procs.flatMap((p) => p.outcomes).sort(), ['lead', 'shared', 'shared'])
    // Kept for a while: a process asking now reads the file, not storage.
    const late = gatedRead(body)
    late.open()
    assert.ok((await procs[1]!.flight.read('b:t1', late.fetch)).equals(body))
    assert.equal(late.calls, 0)
    assert.equal(procs[1]!.outcomes.at(-1), 'shared')
    assert.equal(readdirSync(dir).length, 1)
    // Then forgotten: the file is removed and the next asker leads a new read.
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(broker.size, 0)
    assert.deepEqual(readdirSync(dir), [])
    const again = gatedRead(body)
    again.open()
    await procs[2]!.flight.read('b:t1', again.fetch)
    assert.equal(again.calls, 1)
    assert.equal(procs[2]!.outcomes.at(-1), 'lead')
  })

  it('the leader hands the body over after its own answer heads and before their bodies', async () => {
    const { procs, dir } = node(1)
    const order: string[] = []
    const ipc = procs[0]!
    ipc.held = []
    const read = gatedRead(Buffer.from('segment body'))
    read.open()
    const answered = ipc.flight.read('b:t9', read.fetch).then(() => {
      // What a delivery worker does with a released request: the head now, the body on a later turn.
      order.push('head')
      setImmediate(() => order.push('body'))
    })
    // The ask reaches the broker; the lead comes back.
    const ask = ipc.held.shift()
    ipc.held = undefined
    procs[0]!.worker.send({ ...(ask as object), kind: 'lead', file: join(dir, 'lead') })
    // The leader's message that the body is in its file, noted when it is sent.
    const sent: unknown[] = []
    sent.push = (...messages: unknown[]) => {
      if (messages.some((m) => (m as { kind?: string }).kind === 'done')) order.push('handed over')
      return Array.prototype.push.apply(sent, messages)
    }
    ipc.held = sent
    await answered
    for (let i = 0; i < 5; i++) await later()
    assert.deepEqual(order, ['head', 'handed over', 'body'])
  })

  it('a body that cannot be written: the waiters read for themselves', async () => {
    const { procs, dir } = node(2)
    rmSync(dir, { recursive: true, force: true })
    const lead = gatedRead(Buffer.from('lead'))
    const own = gatedRead(Buffer.from('own'))
    own.open()
    const first = procs[0]!.flight.read('b:t7', lead.fetch)
    await later()
    const second = procs[1]!.flight.read('b:t7', own.fetch)
    await later()
    await later()
    lead.open()
    assert.equal((await first).toString(), 'lead', 'the leader answers with what it read')
    assert.equal((await second).toString(), 'own')
    assert.deepEqual(procs[1]!.outcomes, ['self'])
  })

  it('a lead that fails: its caller gets the error, the waiters read for themselves', async () => {
    const { procs } = node(2)
    const failing = gatedRead(Buffer.alloc(0))
    const own = gatedRead(Buffer.from('own'))
    own.open()
    const first = procs[0]!.flight.read('b:t2', failing.fetch)
    await later()
    const second = procs[1]!.flight.read('b:t2', own.fetch)
    await later()
    await later()
    failing.fail(new Error('storage timeout'))
    await assert.rejects(first, /storage timeout/)
    assert.ok((await second).equals(Buffer.from('own')))
    assert.deepEqual(procs[1]!.outcomes, ['self'])
  })

  it('a lead whose process dies: the waiters read for themselves', async () => {
    const { broker, procs } = node(2)
    const stuck = gatedRead(Buffer.alloc(0))
    const own = gatedRead(Buffer.from('own'))
    own.open()
    void procs[0]!.flight.read('b:t3', stuck.fetch)
    await later()
    const second = procs[1]!.flight.read('b:t3', own.fetch)
    await later()
    await later()
    broker.gone(procs[0]!.worker)
    assert.ok((await second).equals(Buffer.from('own')))
    assert.equal(broker.size, 0)
  })

  it('a body of the wrong length is read again', async () => {
    const { procs } = node(2)
    const lead = gatedRead(Buffer.from('short'))
    const own = gatedRead(Buffer.from('the right length'))
    own.open()
    const first = procs[0]!.flight.read('b:t4', lead.fetch)
    await later()
    const second = procs[1]!.flight.read('b:t4', own.fetch, (b) => b.length === 16)
    await later()
    await later()
    lead.open()
    await first
    assert.equal((await second).toString(), 'the right length')
    assert.deepEqual(procs[1]!.outcomes, ['self'])
  })

  it('a supervisor that does not answer: the process reads for itself after the wait; a late lead is given up', async () => {
    const { broker, procs } = node(2, 50)
    const p0 = procs[0]!
    p0.held = []
    const own = gatedRead(Buffer.from('own'))
    own.open()
    assert.ok((await p0.flight.read('b:t5', own.fetch)).equals(Buffer.from('own')))
    assert.deepEqual(p0.outcomes, ['self'])
    // Its ask arrives late and makes it the leader of a read it will not do; another process
    // asks meanwhile and waits on that lead.
    for (const m of p0.held) broker.handle(p0.worker, m)
    p0.held = undefined
    const other = gatedRead(Buffer.from('other'))
    other.open()
    const second = procs[1]!.flight.read('b:t5', other.fetch)
    // The first process gives the lead up at once: the waiter reads for itself.
    assert.equal((await second).toString(), 'other')
    assert.deepEqual(procs[1]!.outcomes, ['self'])
    assert.equal(broker.size, 0)
  })
})
