/** The part of autocannon's API (v8/v9, CommonJS) that the harness uses. */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  interface Histogram {
    average: number
    mean: number
    stddev: number
    min: number
    max: number
    total: number
    p2_5: number
    p50: number
    p90: number
    p97_5: number
    p99: number
    p99_9: number
  }

  interface Result {
    title?: string
    url: string
    requests: Histogram & { sent: number }
    latency: Histogram
    throughput: Histogram
    duration: number
    errors: number
    timeouts: number
    mismatches: number
    non2xx: number
    resets: number
    start: Date
    finish: Date
    connections: number
    statusCodeStats: Record<string, { count: number }>
  }

  interface Request {
    method?: string
    path?: string
    headers?: Record<string, string>
    body?: string | Buffer
    setupRequest?: (req: Request, context: Record<string, unknown>) => Request | undefined
  }

  interface Options {
    url: string | string[]
    connections?: number
    duration?: number | string
    amount?: number
    maxOverallRequests?: number
    timeout?: number
    pipelining?: number
    method?: string
    headers?: Record<string, string>
    body?: string | Buffer
    requests?: Request[]
    workers?: number
    title?: string
    bailout?: number
    excludeErrorStats?: boolean
  }

  interface Instance extends EventEmitter {
    stop(): void
  }

  type Callback = (err: Error | null, result: Result) => void

  function autocannon(opts: Options, cb: Callback): Instance
  function autocannon(opts: Options): Instance & Promise<Result>

  export type { Histogram, Instance, Options, Result }
  export default autocannon
}
