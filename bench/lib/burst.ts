/**
 * A burst of truly concurrent GETs: one TCP connection per request, all connected first,
 * then every request written in the same tick. Used for "5,000 concurrent GETs of one
 * segment", where a connection pool would serialise requests and hide the concurrency.
 */
import { connect, type Socket } from 'node:net'
import type { ProgressLine } from './progress.js'

export interface BurstOptions {
  host: string
  port: number
  /** Request path; a function is called once every connection is open. */
  path: string | (() => string)
  count: number
  /** Connections opened at once while setting up (default 250). */
  connectBatch?: number
  /** Per-answer time limit (default 30 s). */
  timeoutMs?: number
  /**
   * Stop at the end of each answer's header block: record when it arrived (`answers`) and
   * close the connection without reading the body. For timing when answers start, which
   * reading other answers' bodies in the same thread would blur.
   */
  headersOnly?: boolean
  /** Awaited once every connection is open, before any request is written. */
  onConnected?: () => Promise<void> | void
  /**
   * Called once every request has been written; runs while the answers are awaited (e.g. to
   * PUT the object that held requests wait for). The burst resolves when both are done.
   */
  onSent?: () => Promise<void> | void
  progress?: ProgressLine
}

export interface BurstResult {
  /** Answers by status code (`error` for failed connections or timeouts). */
  statusCounts: Record<string, number>
  /** Milliseconds from the write to the end of each answer. */
  latenciesMs: number[]
  /** `performance.now()` at the end of each answer that was not an error (its last byte, or its head with `headersOnly`). */
  endedAt: number[]
  bytes: number
  connectMs: number
  /** First error seen, for the report. */
  firstError?: string
  /** With `headersOnly`: each answer's status, header block arrival time and headers. */
  answers: HeadAnswer[]
}

export interface HeadAnswer {
  status: number
  /** `performance.now()` when the end of the header block arrived. */
  at: number
  /** Header names in lower case. */
  headers: Record<string, string>
}

/** Parses a raw HTTP/1.1 response head (status line and headers, without the blank line). */
export function parseHead(head: string): { status: number; headers: Record<string, string> } | undefined {
  const lines = head.split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')
  if (!m) return undefined
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':')
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
  }
  return { status: Number(m[1]), headers }
}

/** Opens the connections in one batch; resolves with those that connected. */
function openBatch(host: string, port: number, n: number, errors: string[]): Promise<Socket[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Socket | undefined>((resolve) => {
          const s = connect({ host, port })
          s.setNoDelay(true)
          s.once('connect', () => resolve(s))
          s.once('error', (err) => {
            errors.push(err.message)
            resolve(undefined)
          })
        }),
    ),
  ).then((list) => list.filter((s): s is Socket => s !== undefined))
}

/** Connects `count` sockets, sends one GET on each at once, and collects the answers. */
export async function burstGet(o: BurstOptions): Promise<BurstResult> {
  const errors: string[] = []
  const sockets: Socket[] = []
  const batch = o.connectBatch ?? 250
  const t0 = performance.now()
  while (sockets.length + errors.length < o.count) {
    const n = Math.min(batch, o.count - sockets.length - errors.length)
    sockets.push(...(await openBatch(o.host, o.port, n, errors)))
    o.progress?.update({ requests: 0, detail: `connected ${sockets.length}/${o.count}` })
  }
  const connectMs = performance.now() - t0
  const statusCounts: Record<string, number> = {}
  if (errors.length > 0) statusCounts.error = errors.length
  const latenciesMs: number[] = []
  const endedAt: number[] = []
  const heads: HeadAnswer[] = []
  let bytes = 0
  let done = 0
  await o.onConnected?.()
  const path = typeof o.path === 'string' ? o.path : o.path()
  const request = Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nConnection: close\r\n\r\n`,
  )
  const answers = sockets.map(
    (s) =>
      new Promise<void>((resolve) => {
        let head = ''
        let start: number
        let settled = false
        const finish = (status: string): void => {
          if (settled) return
          settled = true
          statusCounts[status] = (statusCounts[status] ?? 0) + 1
          if (status !== 'error') {
            const now = performance.now()
            latenciesMs.push(now - start)
            endedAt.push(now)
          }
          done++
          s.destroy()
          resolve()
        }
        s.setTimeout(o.timeoutMs ?? 30_000, () => {
          errors.push('timeout')
          finish('error')
        })
        s.on('data', (chunk: Buffer) => {
          bytes += chunk.length
          if (!o.headersOnly) {
            if (head.length < 16) head += chunk.toString('latin1', 0, Math.min(chunk.length, 16))
            return
          }
          const at = performance.now()
          head += chunk.toString('latin1')
          const end = head.indexOf('\r\n\r\n')
          if (end === -1) return
          const parsed = parseHead(head.slice(0, end))
          if (parsed) heads.push({ ...parsed, at })
          finish(parsed ? String(parsed.status) : 'error')
        })
        s.once('error', (err) => {
          errors.push(err.message)
          finish('error')
        })
        s.once('close', () => {
          const m = /^HTTP\/1\.[01] (\d{3})/.exec(head)
          finish(m?.[1] ?? 'error')
        })
        start = performance.now()
      }),
  )
  for (const s of sockets) s.write(request)
  const timer = setInterval(
    () => o.progress?.update({ requests: done, bytes, detail: `answered ${done}/${sockets.length}` }),
    250,
  )
  try {
    await Promise.all([Promise.resolve(o.onSent?.()), Promise.all(answers)])
  } finally {
    clearInterval(timer)
    for (const s of sockets) s.destroy()
  }
  const result: BurstResult = { statusCounts, latenciesMs, endedAt, bytes, connectMs, answers: heads }
  if (errors[0] !== undefined) result.firstError = errors[0]
  return result
}
