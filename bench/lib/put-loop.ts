/**
 * Sequential uploads over one keep-alive connection, as a packager sends segments: each PUT
 * starts when the previous answer is complete, each to a fresh path. Latency is measured per
 * request from the first byte sent to the last byte of the answer.
 */
import { Client } from 'undici'
import type { ProgressLine } from './progress.js'

export interface PutLoopOptions {
  /** Origin of the server, e.g. `http://127.0.0.1:8081`. */
  origin: string
  /** Path of the i-th upload (0-based), starting with `/`. */
  path: (i: number) => string
  /** Body of the i-th upload. Bodies are made before the clock starts. */
  body: (i: number) => Buffer
  count: number
  headers?: Record<string, string>
  /** Stop early once this much time has passed (ms); default: no limit. */
  maxMs?: number
  /** Called before each PUT; a rejected promise stops the loop. */
  before?: (i: number) => Promise<void> | void
  progress?: ProgressLine
}

export interface PutLoopResult {
  /** Latency of each completed PUT in ms, in order. */
  latenciesMs: number[]
  /** Status codes seen, by code. */
  statusCounts: Record<string, number>
  /** PUTs that got a non-2xx answer or failed. */
  failures: number
  /** First failure, for the report. */
  firstFailure?: string
  bytes: number
  elapsedMs: number
}

/** Runs the uploads and returns their latencies. Never throws for an HTTP error status. */
export async function putLoop(o: PutLoopOptions): Promise<PutLoopResult> {
  const client = new Client(o.origin, { pipelining: 1, keepAliveTimeout: 60_000 })
  const latenciesMs: number[] = []
  const statusCounts: Record<string, number> = {}
  let failures = 0
  let firstFailure: string | undefined
  let bytes = 0
  const start = performance.now()
  try {
    for (let i = 0; i < o.count; i++) {
      if (o.maxMs !== undefined && performance.now() - start > o.maxMs) break
      await o.before?.(i)
      const body = o.body(i)
      const path = o.path(i)
      const t0 = performance.now()
      try {
        const res = await client.request({
          method: 'PUT',
          path,
          body,
          headers: { 'content-type': 'video/mp4', 'content-length': String(body.length), ...o.headers },
        })
        const text = await res.body.text()
        const ms = performance.now() - t0
        statusCounts[res.statusCode] = (statusCounts[res.statusCode] ?? 0) + 1
        if (res.statusCode >= 200 && res.statusCode < 300) {
          latenciesMs.push(ms)
          bytes += body.length
        } else {
          failures++
          firstFailure ??= `PUT ${path}: ${res.statusCode} ${text.slice(0, 200)}`
        }
      } catch (err) {
        failures++
        firstFailure ??= `PUT ${path}: ${(err as Error).message}`
      }
      o.progress?.update({ requests: i + 1, bytes, detail: `PUT ${i + 1}/${o.count}` })
    }
  } finally {
    await client.close()
  }
  const result: PutLoopResult = {
    latenciesMs,
    statusCounts,
    failures,
    bytes,
    elapsedMs: performance.now() - start,
  }
  if (firstFailure !== undefined) result.firstFailure = firstFailure
  return result
}
