/**
 * Requests released together by one commit get their answers' heads before any of them gets
 * a whole body (docs/protocol.md#holds): 200 held GETs of a 1 MiB segment over raw sockets,
 * each recording in what order its head and the end of its body arrived. The origin runs in
 * its own process (`fixtures/held-origin.ts`, clock frozen inside the hold window), so that
 * this client reads while the origin writes. Before, each head went out with its body, and
 * the first answers were whole long before the last head was sent.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { after, before, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createChannel, put } from '../helpers/http.js'
import type { TestOrigin } from '../helpers/origin.js'

const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
const D = 2000
const A = (n: number) => AST + n * D
const WAITERS = 200
const BODY = randomBytes(1024 * 1024)
let child: ChildProcess
let origin: Pick<TestOrigin, 'ingest' | 'delivery' | 'control'>

before(async () => {
  const entry = fileURLToPath(new URL('./fixtures/held-origin.ts', import.meta.url))
  child = fork(entry, [String(A(10) - D / 2)], { execArgv: ['--import', 'tsx'], stdio: 'inherit' })
  origin = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as typeof origin))
    child.once('exit', (code) => reject(new Error(`origin exited with ${code}`)))
  })
  await createChannel(origin as TestOrigin, 'ch', {
    media: '$RepresentationID$/$Number$.ts',
    segmentDurationMs: D,
    availabilityStartTime: AST,
  })
})
after(async () => {
  if (child.exitCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.send({ cmd: 'close' })
  await exited
})

/** Requests held in the origin process, by its own count. */
async function held(): Promise<number> {
  const state = await new Promise<{ held: number }>((resolve) => {
    child.once('message', (m) => resolve(m as { held: number }))
    child.send({ cmd: 'state' })
  })
  return state.held
}

interface Arrival {
  status: number
  /** Order in which this client saw its head, and the end of its body, among all events. */
  headSeq: number
  bodySeq: number
  bytes: number
}

let seq = 0

/** One GET on its own connection; counts the head and the end of the body (Content-Length). */
function rawGet(port: number, path: string): { socket: Socket; done: Promise<Arrival> } {
  const socket = connect(port, '127.0.0.1')
  const done = new Promise<Arrival>((resolve, reject) => {
    let head = ''
    let headSeq = -1
    let status = 0
    let length = -1
    let bytes = 0
    socket.on('data', (chunk: Buffer) => {
      if (headSeq < 0) {
        head += chunk.toString('latin1')
        const end = head.indexOf('\r\n\r\n')
        if (end < 0) return
        headSeq = seq++
        status = Number(head.slice(9, 12))
        length = Number(/\r\ncontent-length: (\d+)/i.exec(head.slice(0, end))?.[1] ?? -1)
        bytes = Buffer.byteLength(head, 'latin1') - end - 4
      } else bytes += chunk.length
      if (length >= 0 && bytes >= length) {
        resolve({ status, headSeq, bodySeq: seq++, bytes })
        socket.destroy()
      }
    })
    socket.on('error', reject)
    socket.on('close', () => reject(new Error(`closed after ${bytes} bytes`)))
  })
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
  return { socket, done }
}

it('200 held GETs released by one PUT: every head arrives before any whole body', async () => {
  const port = new URL(origin.delivery).port
  const gets = Array.from({ length: WAITERS }, () => rawGet(Number(port), '/ch/v/10.ts'))
  for (let i = 0; (await held()) < WAITERS; i++) {
    assert.ok(i < 500, `only ${await held()} of ${WAITERS} requests held`)
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.equal((await put(origin as TestOrigin, '/ch/v/10.ts', BODY)).status, 201)
  const arrivals = await Promise.all(gets.map((g) => g.done))
  for (const a of arrivals) {
    assert.equal(a.status, 200)
    assert.equal(a.bytes, BODY.length)
  }
  const lastHead = Math.max(...arrivals.map((a) => a.headSeq))
  const firstBody = Math.min(...arrivals.map((a) => a.bodySeq))
  assert.ok(
    lastHead < firstBody,
    `the last head was seen at event ${lastHead}, after a whole body at event ${firstBody}`,
  )
})
