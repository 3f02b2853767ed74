/**
 * Closed-loop HTTP load: N keep-alive connections, each sending its next request as soon as
 * the previous answer is in, bounded by time and by request count. The same tool and settings
 * load nginx and the origin, so the ratio compares servers, not tools. The tool is wrk by
 * default (see wrk.ts for why), or autocannon.
 */
import autocannon, { type Options, type Result } from 'autocannon'
import { request } from 'undici'
import type { ProgressLine } from './progress.js'
import { type EdgePath, edgePathAt, edgePathLua } from './timing.js'
import { runWrk } from './wrk.js'

/** Load generators the harness can drive. */
export type LoadTool = 'wrk' | 'autocannon'

export interface LoadOptions {
  /** Full URL, e.g. `http://127.0.0.1:8080/ch/v/1.m4s`. */
  url: string
  /** Follow the live edge instead of `url`'s path (its origin is still used). */
  edge?: EdgePath
  /**
   * Also GET the loaded path every so many ms during the measured run and tally the answers
   * by status and error code (`sampled`), to say what wrk's "not 2xx/3xx" answers were.
   */
  sampleEveryMs?: number
  /** Default: wrk. */
  tool?: LoadTool
  /** wrk threads (default 1). */
  threads?: number
  /** Size of one answer (headers and body), for wrk's progress estimate. */
  answerBytes?: number
  connections: number
  durationSec: number
  /** Stop after this many requests even if time is left. */
  maxRequests?: number
  method?: string
  headers?: Record<string, string>
  /** Unmeasured run before the measured one (JIT warm-up, connection set-up); default 0. */
  warmupSec?: number
  /** Status every answer should have; others are counted in `unexpected`. */
  expectStatus?: number
  /** Minimum response size in bytes (headers + body); smaller answers count as `short`. */
  expectMinBytes?: number
  /**
   * autocannon only: run the load in a worker thread, so that a measurement taken in this
   * thread at the same time (e.g. ingest latency under a read storm) does not share an event
   * loop with it. Live request counts are not available in this mode. (wrk always runs in its
   * own process.)
   */
  inWorker?: boolean
  progress?: ProgressLine
  label?: string
}

export interface LoadResult {
  tool: LoadTool
  connections: number
  durationSec: number
  /** Answers received. */
  requests: number
  /** Response bytes received (headers and bodies). */
  bytes: number
  reqPerSec: number
  /** Answers with the expected status per second (all answers when none is expected). */
  expectedPerSec: number
  bytesPerSec: number
  /** Answers by status code (wrk only tells `2xx/3xx` from `other`). */
  statusCounts: Record<string, number>
  /** Mean answer size (bytes / requests). */
  avgAnswerBytes: number
  /** Answers whose status was not `expectStatus`. */
  unexpected: number
  /** Answers smaller than `expectMinBytes` (counted by autocannon outside worker mode only). */
  short: number
  /** Connection errors and timeouts. */
  errors: number
  /** Answers of the status sampler, by `status [error code]` (see `sampleEveryMs`). */
  sampled?: Record<string, number>
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number }
}

/** Runs one load (after an optional warm-up) and returns what it measured. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  if ((o.warmupSec ?? 0) > 0) {
    o.progress?.update({ requests: 0, detail: 'warm-up' })
    const { maxRequests: _unbounded, ...rest } = o
    await once({ ...rest, durationSec: o.warmupSec!, warmupSec: 0 }, true)
  }
  if (o.sampleEveryMs === undefined) return once(o, false)
  const sampler = sampleStatuses(o, o.sampleEveryMs)
  try {
    const r = await once(o, false)
    r.sampled = await sampler.stop()
    return r
  } finally {
    await sampler.stop()
  }
}

/**
 * Asks for the loaded path every `everyMs` while a load runs, and tallies the answers by
 * status and error code: wrk only counts "not 2xx/3xx", and this says what those were.
 */
function sampleStatuses(o: LoadOptions, everyMs: number): { stop(): Promise<Record<string, number>> } {
  const tally: Record<string, number> = {}
  let running = true
  const base = new URL(o.url)
  const loop = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, everyMs))
      if (!running) break
      const path = o.edge ? edgePathAt(o.edge, Date.now()) : `${base.pathname}${base.search}`
      try {
        const res = await request(new URL(path, base), { headers: o.headers ?? {} })
        const body = Buffer.from(await res.body.arrayBuffer())
        const code =
          res.statusCode >= 400 ? /"code":"([A-Z_]+)"/.exec(body.toString('latin1', 0, 300))?.[1] : undefined
        const key = code ? `${res.statusCode} ${code}` : String(res.statusCode)
        tally[key] = (tally[key] ?? 0) + 1
      } catch (err) {
        const key = `error ${(err as Error).message}`
        tally[key] = (tally[key] ?? 0) + 1
      }
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      return tally
    },
  }
}

function once(o: LoadOptions, warmup: boolean): Promise<LoadResult> {
  return (o.tool ?? 'wrk') === 'wrk' ? onceWrk(o, warmup) : onceAutocannon(o, warmup)
}

async function onceWrk(o: LoadOptions, warmup: boolean): Promise<LoadResult> {
  const r = await runWrk({
    url: o.url,
    connections: o.connections,
    threads: o.threads ?? 1,
    durationSec: o.durationSec,
    answerBytes: o.answerBytes ?? 200,
    detail: warmup ? 'warm-up' : `${o.connections} conns`,
    ...(o.maxRequests === undefined ? {} : { maxRequests: o.maxRequests }),
    ...(o.headers === undefined ? {} : { headers: o.headers }),
    ...(o.progress === undefined ? {} : { progress: o.progress }),
    ...(o.edge === undefined ? {} : { script: edgePathLua(o.edge) }),
  })
  const ok = r.requests - r.non2xx3xx
  const expect = o.expectStatus
  const unexpected = expect === undefined ? 0 : expect >= 200 && expect < 400 ? r.non2xx3xx : ok
  return {
    tool: 'wrk',
    connections: o.connections,
    durationSec: r.durationSec,
    requests: r.requests,
    bytes: r.bytes,
    reqPerSec: r.requests / r.durationSec,
    expectedPerSec: (r.requests - unexpected) / r.durationSec,
    bytesPerSec: r.bytes / r.durationSec,
    statusCounts: { '2xx/3xx': ok, other: r.non2xx3xx },
    avgAnswerBytes: r.requests > 0 ? r.bytes / r.requests : 0,
    unexpected,
    short: 0,
    errors: r.errors,
    latencyMs: r.latencyMs,
  }
}

function onceAutocannon(o: LoadOptions, warmup: boolean): Promise<LoadResult> {
  const opts: Options = {
    url: o.url,
    connections: o.connections,
    duration: o.durationSec,
    timeout: 30,
    method: o.method ?? 'GET',
  }
  if (o.headers) opts.headers = o.headers
  if (o.maxRequests !== undefined) opts.maxOverallRequests = Math.max(o.maxRequests, o.connections)
  if (o.edge) {
    if (o.inWorker) throw new Error('autocannon in a worker cannot follow the live edge; use wrk')
    const edge = o.edge
    opts.requests = [
      {
        setupRequest: (req: { path?: string }) => {
          req.path = edgePathAt(edge, Date.now())
          return req
        },
      },
    ]
  }
  if (o.inWorker) opts.workers = 1
  let count = 0
  let bytes = 0
  let short = 0
  let unexpected = 0
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => {
      if (err) {
        reject(err)
        return
      }
      resolve(toResult(o, result, o.inWorker ? undefined : { short, unexpected }))
    })
    instance.on('error', reject)
    if (o.inWorker) return
    instance.on('response', (_client: unknown, status: number, resBytes: number) => {
      count++
      bytes += resBytes
      if (o.expectStatus !== undefined && status !== o.expectStatus) unexpected++
      if (o.expectMinBytes !== undefined && resBytes < o.expectMinBytes) short++
    })
    instance.on('tick', () => {
      o.progress?.update({ requests: count, bytes, detail: warmup ? 'warm-up' : `${o.connections} conns` })
    })
  })
}

function toResult(
  o: LoadOptions,
  r: Result,
  counted: { short: number; unexpected: number } | undefined,
): LoadResult {
  const statusCounts: Record<string, number> = {}
  let requests = 0
  for (const [code, { count }] of Object.entries(r.statusCodeStats ?? {})) {
    statusCounts[code] = Number(count)
    requests += Number(count)
  }
  let unexpected = counted?.unexpected ?? 0
  if (!counted && o.expectStatus !== undefined)
    unexpected = requests - (statusCounts[String(o.expectStatus)] ?? 0)
  const durationSec = r.duration
  const bytes = r.throughput.total
  return {
    tool: 'autocannon',
    avgAnswerBytes: requests > 0 ? bytes / requests : 0,
    connections: o.connections,
    durationSec,
    requests,
    bytes,
    reqPerSec: requests / durationSec,
    expectedPerSec: (requests - unexpected) / durationSec,
    bytesPerSec: bytes / durationSec,
    statusCounts,
    unexpected,
    short: counted?.short ?? 0,
    errors: r.errors + r.timeouts,
    latencyMs: {
      mean: r.latency.mean,
      p50: r.latency.p50,
      p90: r.latency.p90,
      p99: r.latency.p99,
      max: r.latency.max,
    },
  }
}

/**
 * Several runs of the same load as one: requests, bytes and time summed (so rates are over
 * the whole measured time), status counts summed, and latency percentiles the worst run's
 * (percentiles of separate runs cannot be merged exactly; the worst is the honest bound).
 */
export function combineLoads(runs: readonly LoadResult[]): LoadResult {
  if (runs.length === 0) throw new RangeError('no runs to combine')
  if (runs.length === 1) return runs[0]!
  const sum = (f: (r: LoadResult) => number) => runs.reduce((a, r) => a + f(r), 0)
  const requests = sum((r) => r.requests)
  const bytes = sum((r) => r.bytes)
  const durationSec = sum((r) => r.durationSec)
  const statusCounts: Record<string, number> = {}
  const sampled: Record<string, number> = {}
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.statusCounts)) statusCounts[k] = (statusCounts[k] ?? 0) + v
    for (const [k, v] of Object.entries(r.sampled ?? {})) sampled[k] = (sampled[k] ?? 0) + v
  }
  const max = (f: (r: LoadResult) => number) => Math.max(...runs.map(f))
  const out: LoadResult = {
    tool: runs[0]!.tool,
    connections: runs[0]!.connections,
    durationSec,
    requests,
    bytes,
    reqPerSec: requests / durationSec,
    expectedPerSec: (requests - sum((r) => r.unexpected)) / durationSec,
    bytesPerSec: bytes / durationSec,
    statusCounts,
    avgAnswerBytes: requests > 0 ? bytes / requests : 0,
    unexpected: sum((r) => r.unexpected),
    short: sum((r) => r.short),
    errors: sum((r) => r.errors),
    latencyMs: {
      mean: requests > 0 ? sum((r) => r.latencyMs.mean * r.requests) / requests : 0,
      p50: max((r) => r.latencyMs.p50),
      p90: max((r) => r.latencyMs.p90),
      p99: max((r) => r.latencyMs.p99),
      max: max((r) => r.latencyMs.max),
    },
  }
  if (runs.some((r) => r.sampled)) out.sampled = sampled
  return out
}
