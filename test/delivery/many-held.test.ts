/**
 * 2,000 concurrent held GETs of one segment (docs/protocol.md#holds: single flight; docs/benchmarks.md: memory per held
 * request). The origin runs in a child process (`fixtures/held-origin.ts`, every role in
 * it, clock frozen inside the hold window) so that its memory and its storage reads are its
 * own; the client is 2,000 raw keep-alive sockets in this process.
 *
 * Memory method: the child runs with `--expose-gc`; each reading is `heapUsed + external`
 * after four full collections. Three readings: m0 with no client, m1 with 2,000 idle
 * keep-alive connections (each has answered one request), m2 with a held request on each.
 * Per held request = (m2 − m1) / 2,000 (the hold alone: request, response, hold-table entry,
 * timers); (m2 − m0) / 2,000 also counts the connection's own objects. Both are printed; the
 * first is asserted ≤ 10 KB (docs/benchmarks.md). RSS is printed too, not asserted (allocator noise).
 */
import assert from 'node:assert/strict'
import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { after, before, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createChannel, put } from '../helpers/http.js'
import type { TestOrigin } from '../helpers/origin.js'

const CLIENTS = 2000
const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
const D = 2000
const N = 100
const A = (n: number) => AST + n * D
/** Inside segment N's hold window, [A(N) − H, A(N) + R). */
const NOW = A(N) - D / 2

interface RawAnswer {
  status: number
  headers: Map<string, string>
  body: Buffer
  at: number
}

/** A keep-alive HTTP/1.1 connection that sends one GET at a time and parses the answer. */
class RawConnection {
  readonly socket: Socket
  #buf: Buffer = Buffer.alloc(0)
  #waiting: ((a: RawAnswer) => void) | undefined
  #fail: ((e: Error) => void) | undefined

  constructor(socket: Socket) {
    this.socket = socket
    socket.on('data', (d: Buffer) => {
      this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d])
      this.#parse()
    })
    socket.on('error', (e) => this.#fail?.(e))
    socket.on('close', () => this.#fail?.(new Error('connection closed')))
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new RawConnection(s)))
      s.once('error', reject)
    })
  }

  get(path: string): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      this.#waiting = resolve
      this.#fail = reject
      this.socket.write(`GET ${path} HTTP/1.1\r\nHost: origin\r\n\r\n`)
    })
  }

  #parse(): void {
    const end = this.#buf.indexOf('\r\n\r\n')
    if (end === -1) return
    const lines = this.#buf.subarray(0, end).toString('latin1').split('\r\n')
    const headers = new Map<string, string>()
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':')
      headers.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim())
    }
    const length = Number(headers.get('content-length') ?? 0)
    if (this.#buf.length < end + 4 + length) return
    const body = this.#buf.subarray(end + 4, end + 4 + length)
    this.#buf = this.#buf.subarray(end + 4 + length)
    const done = this.#waiting
    this.#waiting = undefined
    this.#fail = undefined
    done?.({ status: Number(lines[0]!.split(' ')[1]), headers, body, at: performance.now() })
  }
}

let child: ChildProcess
let origin: Pick<TestOrigin, 'ingest' | 'delivery' | 'control'>
const conns: RawConnection[] = []

function ask<T>(cmd: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T))
    child.send({ cmd })
  })
}

interface State {
  reads: { list: number; getChunk: number }
  held: number
  heldKeys: number
}
interface Memory {
  memory: NodeJS.MemoryUsage
  gc: boolean
}
const used = (m: Memory) => m.memory.heapUsed + m.memory.external

before(async () => {
  const entry = fileURLToPath(new URL('./fixtures/held-origin.ts', import.meta.url))
  child = fork(entry, [String(NOW)], { execArgv: ['--expose-gc', '--import', 'tsx'], stdio: 'inherit' })
  origin = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as typeof origin))
    child.once('exit', (code) => reject(new Error(`origin exited with ${code}`)))
  })
  await createChannel(origin as TestOrigin, 'ch', {
    segmentDurationMs: D,
    availabilityStartTime: AST,
    startNumber: 1,
    media: '$RepresentationID$/$Number$.ts',
  })
})
after(async () => {
  for (const c of conns) c.socket.destroy()
  if (child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r))
    child.send({ cmd: 'close' })
    await exited
  }
})

it(`${CLIENTS} held GETs of one segment: one commit releases all with the same bytes, one storage read`, async () => {
  const port = Number(new URL(origin.delivery).port)
  const m0 = await ask<Memory>('memory')
  assert.ok(m0.gc, 'the origin process runs with --expose-gc')

  // 2,000 keep-alive connections, each used once for a 404 from template math (no storage).
  for (let i = 0; i < CLIENTS; i += 200) {
    const batch = await Promise.all(Array.from({ length: 200 }, () => RawConnection.open(port)))
    conns.push(...batch)
  }
  const warm = await Promise.all(conns.map((c) => c.get(`/ch/v/${N + 100}.ts`)))
  assert.ok(warm.every((a) => a.status === 404))
  const m1 = await ask<Memory>('memory')
  const before = await ask<State>('state')

  const answers = Promise.all(conns.map((c) => c.get(`/ch/v/${N}.ts`)))
  let held: State
  for (;;) {
    held = await ask<State>('state')
    if (held.held === CLIENTS) break
    await new Promise((r) => setTimeout(r, 10))
  }
  assert.equal(held.heldKeys, 1, 'every waiter shares one hold-table entry')
  const m2 = await ask<Memory>('memory')

  const body = randomBytes(64 * 1024)
  const ack = await put(origin as TestOrigin, `/ch/v/${N}.ts`, body)
  assert.equal(ack.status, 201)
  const got = await answers
  const arrivals = got.map((a) => a.at - ack.headersAt).sort((x, y) => x - y)
  for (const a of got) {
    assert.equal(a.status, 200)
    assert.ok(a.body.equals(body))
    assert.equal(a.headers.get('etag'), ack.headers.etag)
  }
  const afterRelease = await ask<State>('state')
  assert.equal(afterRelease.held, 0)
  assert.equal(afterRelease.heldKeys, 0)

  const listsBeforeHold = held.reads.list - before.reads.list
  const listsAtRelease = afterRelease.reads.list - held.reads.list
  const chunksAtRelease = afterRelease.reads.getChunk - held.reads.getChunk
  const perHold = (used(m2) - used(m1)) / CLIENTS
  const perConnAndHold = (used(m2) - used(m0)) / CLIENTS
  const rssPerHold = (m2.memory.rss - m1.memory.rss) / CLIENTS
  console.log(
    [
      `held ${CLIENTS}: storage lists while the GETs arrived ${listsBeforeHold}, at release ${listsAtRelease}, chunk reads at release ${chunksAtRelease}`,
      `200s arrived after the 201 (ms): first ${arrivals[0]!.toFixed(1)}, median ${arrivals[CLIENTS / 2]!.toFixed(1)}, last ${arrivals[CLIENTS - 1]!.toFixed(1)}`,
      `memory per held request: ${(perHold / 1024).toFixed(2)} KiB (heap+external); with its connection ${(perConnAndHold / 1024).toFixed(2)} KiB; RSS per held request ${(rssPerHold / 1024).toFixed(2)} KiB`,
    ].join('\n'),
  )
  assert.equal(listsAtRelease, 1, 'one candidate listing releases every waiter')
  assert.equal(chunksAtRelease, 1, 'one read of the body (a single chunk)')
  assert.equal(listsBeforeHold, 1, 'GETs joining a segment others wait for do not read storage')
  assert.ok(perHold <= 10 * 1024, `memory per held request ${perHold.toFixed(0)} B ≤ 10 KiB`)
})
