/**
 * One-off HTTP requests for scenario set-up and checks (not for measurements: those use
 * autocannon, the PUT loop or raw sockets).
 */
import { request } from 'undici'

export interface Answer {
  status: number
  headers: Record<string, string>
  bytes: number
  /** Approximate size of the status line and headers on the wire. */
  headerBytes: number
  text: string
}

function flat(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v
  }
  return out
}

/** Sends one request and reads the whole answer (its text is kept only when small). */
export async function send(
  url: string,
  init: { method?: string; body?: Buffer; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const res = await request(url, {
    method: (init.method ?? 'GET') as 'GET',
    headers: init.headers ?? {},
    ...(init.body === undefined ? {} : { body: init.body }),
  })
  const buf = Buffer.from(await res.body.arrayBuffer())
  const headers = flat(res.headers)
  return {
    status: res.statusCode,
    headers,
    headerBytes: Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 19),
    bytes: buf.length,
    text: buf.length <= 4096 ? buf.toString('utf8') : '',
  }
}

/** PUTs `body` and throws unless the answer is 2xx. */
export async function putOrThrow(
  url: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const a = await send(url, { method: 'PUT', body, headers: { 'content-type': 'video/mp4', ...headers } })
  if (a.status < 200 || a.status >= 300)
    throw new Error(`PUT ${url} answered ${a.status}: ${a.text.slice(0, 300)}`)
  return a
}

/** GETs `url` and throws unless the status is `status`. */
export async function expectStatus(url: string, status: number): Promise<Answer> {
  const a = await send(url)
  if (a.status !== status)
    throw new Error(`GET ${url} answered ${a.status}, expected ${status}: ${a.text.slice(0, 300)}`)
  return a
}

/**
 * Creates or replaces a channel with `PUT <base>/api/v1/channels/<name>` (the origin's control
 * API, or the bare node reference's copy of it); throws with the answer on a non-2xx status.
 */
export async function putChannel(base: string, name: string, config: unknown): Promise<void> {
  const res = await fetch(`${base}/api/v1/channels/${encodeURIComponent(name)}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(config),
  })
  const text = await res.text()
  if (res.status < 200 || res.status >= 300) {
    throw new Error(`creating channel ${name} on ${base} failed: ${res.status} ${text.slice(0, 300)}`)
  }
}
