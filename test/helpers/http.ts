/**
 * HTTP plumbing of the tests that talk to an origin over real sockets: plain `node:http`
 * requests that record when the answer's headers arrived (for release-latency measurements),
 * channel creation through the control API, PUTs from a pipeline, a fake clock, an origin on
 * that clock with its channel, and metric reads.
 */
import { type Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { metricValue, startOrigin, type TestOrigin } from './origin.js'

export interface Answer {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  /** `performance.now()` when the status line and headers arrived. */
  readonly headersAt: number
}

export interface RequestOptions {
  method?: string
  headers?: Record<string, string>
  body?: Uint8Array | string
  signal?: AbortSignal
  agent?: Agent
}

/** One HTTP request; resolves with the whole answer and when its headers arrived. */
export function request(url: string, options: RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.agent ? { agent: options.agent } : {}),
      },
      (res) => {
        const headersAt = performance.now()
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            headersAt,
          }),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

/** PUT (or DELETE, …) to the ingest listener as pipeline `pipeline` (open mode). */
export function put(
  origin: TestOrigin,
  path: string,
  body: Uint8Array | string,
  pipeline = 'east',
  headers: Record<string, string> = {},
): Promise<Answer> {
  return request(`${origin.ingest}${path}`, {
    method: 'PUT',
    body,
    headers: { 'Pipeline-Id': pipeline, 'Content-Length': String(Buffer.byteLength(body)), ...headers },
  })
}

export function get(origin: TestOrigin, path: string, options: RequestOptions = {}): Promise<Answer> {
  return request(`${origin.delivery}${path}`, options)
}

/** Creates (or replaces) a channel through the control API; fails the test unless 200/201. */
export async function createChannel(
  origin: Pick<TestOrigin, 'control'>,
  name: string,
  config: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  const body = JSON.stringify(config)
  const r = await request(`${origin.control}/api/v1/channels/${name}`, {
    method: 'PUT',
    body,
    headers: {
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(body)),
      ...headers,
    },
  })
  if (r.status !== 200 && r.status !== 201) {
    throw new Error(`channel ${name}: ${r.status} ${r.body.toString('utf8')}`)
  }
  return JSON.parse(r.body.toString('utf8')) as Record<string, unknown>
}

export async function metrics(origin: TestOrigin): Promise<string> {
  return (await request(`${origin.control}/metrics`)).body.toString('utf8')
}

export async function metric(origin: TestOrigin, name: string, labels: Record<string, string> = {}) {
  return metricValue(await metrics(origin), name, labels)
}

/** Polls `check` every 2 ms until it returns true; throws after `timeoutMs`. */
/**
 * Polls `check` until it holds. The bound only stops a broken test from hanging: it is
 * generous (30 s), so that a busy machine cannot fail a test that is merely slow.
 */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
  const until = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(2)
  }
}

/** Waits until the origin holds exactly `n` requests (read from `liveorigin_held_requests`). */
export function waitForHeld(origin: TestOrigin, n: number, timeoutMs = 30_000) {
  return waitFor(
    `${n} held requests`,
    async () => (await metric(origin, 'liveorigin_held_requests')) === n,
    timeoutMs,
  )
}

/**
 * An origin in this process whose `now()` is `clock`, with one templated channel `ch`
 * (media `$RepresentationID$/$Number$.ts` unless `config` names another), for the tests that
 * check timing to the millisecond.
 */
export async function originWithChannel(
  clock: FakeClock,
  config: Record<string, unknown>,
  overrides: Record<string, unknown> = {},
): Promise<TestOrigin> {
  const origin = await startOrigin(overrides, { now: clock.now })
  await createChannel(origin, 'ch', { media: '$RepresentationID$/$Number$.ts', ...config })
  return origin
}

/** A settable clock to inject as the origin's `now()`. */
export class FakeClock {
  t: number
  constructor(start: number) {
    this.t = start
  }
  readonly now = (): number => this.t
  set(ms: number): void {
    this.t = ms
  }
  advance(ms: number): void {
    this.t += ms
  }
}

/** The number in `Cache-TTL-Ms`, and `Cache-Control`'s max-age. */
export function ttlOf(a: Answer): { ms: number; maxAge: number } {
  const ms = Number(a.headers['cache-ttl-ms'])
  const m = /^max-age=(\d+)$/.exec(String(a.headers['cache-control']))
  return { ms, maxAge: m ? Number(m[1]) : Number.NaN }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

export function summary(values: readonly number[]): string {
  const s = [...values].sort((a, b) => a - b)
  const f = (v: number) => v.toFixed(2)
  return `n=${s.length} min=${f(s[0]!)} p50=${f(percentile(s, 50))} p90=${f(percentile(s, 90))} max=${f(s[s.length - 1]!)}`
}

/** A raw connection: write, and collect everything the origin answers until it closes. */
export function rawConnection(url: string): {
  socket: Socket
  answer: Promise<string>
  head: Promise<string>
} {
  const { port } = new URL(url)
  const socket = connect(Number(port), '127.0.0.1')
  let out = ''
  let gotHead: (text: string) => void = () => {}
  const head = new Promise<string>((resolve) => {
    gotHead = resolve
  })
  const answer = new Promise<string>((resolve) => {
    socket.on('data', (d) => {
      out += d.toString('latin1')
      if (out.includes('\r\n\r\n')) gotHead(out)
    })
    socket.on('error', () => resolve(out))
    socket.on('close', () => resolve(out))
  })
  void answer.then(gotHead)
  return { socket, answer, head }
}
