/**
 * The bare `node:http` reference of `npm run bench` (docs/benchmarks.md#what-runs): the least a
 * correct origin must do for each comparison scenario, with no framework, so that the report
 * can tell how much of a gap to nginx is Node.js itself and how much is liveorigin's code.
 *
 * - `PUT /<path>`: the body is collected into one Buffer kept in memory; 201 (new) or 204
 *   (replaced), with the ETag it will be served with.
 * - `GET`/`HEAD /<path>`: 200 from the Buffer with Content-Type, Content-Length, ETag,
 *   Last-Modified and Cache-Control (304 on a matching If-None-Match).
 * - A missing `/<channel>/<rendition>/<n>.m4s` of a known channel: 404 with a small JSON
 *   body and a Cache-Control lifetime up to the segment's availability time
 *   A(n) = AST + (n − S + 1)·D (at most 1 h), as the origin's template math does; any other
 *   missing path: 404 with a 1 s lifetime.
 * - `PUT /api/v1/channels/<name>` (`segmentDurationMs`, `availabilityStartTime`, optional
 *   `startNumber`): the timing that 404 lifetime needs.
 * - A GET of a missing segment of a known channel due within two segment durations is held
 *   until the segment's PUT (in any worker) and answered with it: every held request's head
 *   first, then their bodies on the next turn, as the origin releases held requests; 404 when
 *   it is not PUT within two segment durations.
 *
 * `--workers N` (default: one per core, as the origin's delivery processes) runs N processes
 * on the same port (node:cluster); a PUT stored by one is relayed through the primary to the
 * others right after its answer.
 *
 * `--write-dir D`: a PUT of an object sent with the header `Bare-Write: file` is written to a
 * new file in D instead, as its body arrives (one synchronous write per piece, as nginx writes
 * a request body to its temporary file), synced and closed before the 201; it is not kept in
 * memory, relayed or served. The least a Node.js origin that stores what it receives does,
 * without hashing, chunking or a database.
 *
 * `--ingest-port P` adds one more process, on its own port, as the origin's ingest process:
 * a PUT sent there is stored and answered by that process and relayed to the N others, which
 * then answer the GETs held for it. That is the shape of an origin that keeps its writes in
 * a process of their own. Objects PUT on the workers' port are not copied to it.
 *
 * Usage: node --import tsx bench/bare/server.ts --port <p> [--host 127.0.0.1] [--workers N]
 *   [--ingest-port P] [--write-dir D]
 */
import cluster from 'node:cluster'
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

interface Stored {
  body: Buffer
  etag: string
  lastModified: string
  contentType: string
}

interface Timing {
  segmentDurationMs: number
  availabilityStartTime: number
  startNumber: number
}

/** Messages between the workers and the primary: a stored object or a channel, to copy. */
type Relay =
  | { tag: 'bare:object'; path: string; stored: Stored }
  | { tag: 'bare:channel'; name: string; timing: Timing }

/** Largest body accepted (nginx's client_max_body_size in the baseline). */
const MAX_BODY_BYTES = 64 * 1024 * 1024
/** Lifetime of a served object: the origin's default DVR window (4 h). */
const SERVED_MAX_AGE_S = 14_400
/** Longest lifetime of a 404 for a future segment (the origin's cap). */
const MAX_FUTURE_404_S = 3600
const SEGMENT_PATH = /^\/([^/]+)\/([^/]+)\/(\d+)\.m4s$/
const CHANNEL_PATH = /^\/api\/v1\/channels\/([^/]+)$/

/** A missing segment due within this many segment durations is held (and for as long). */
const HOLD_SEGMENTS = 2

const objects = new Map<string, Stored>()
/** Held GETs by path, with the timer that answers them 404. */
const held = new Map<string, { waiting: Set<ServerResponse>; timer: NodeJS.Timeout }>()
const channels = new Map<string, Timing>()
let generation = 0
/** `--write-dir`: where bodies sent with `Bare-Write: file` are written (none: refused). */
let writeDir: string | undefined

function contentTypeOf(path: string): string {
  if (path.endsWith('.m4s') || path.endsWith('.mp4')) return 'video/mp4'
  if (path.endsWith('.mpd')) return 'application/dash+xml'
  return 'application/octet-stream'
}

function sendJson(res: ServerResponse, status: number, maxAgeS: number, code: string, message: string) {
  const body = JSON.stringify({ error: { code, message } })
  res.writeHead(status, {
    'Cache-Control': `max-age=${maxAgeS}`,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  })
  res.end(body)
}

/** When the segment at `path` is due, and its channel's D; undefined for other paths and unknown channels. */
function dueOf(path: string): { availableAt: number; durationMs: number } | undefined {
  const m = SEGMENT_PATH.exec(path)
  const timing = m && channels.get(m[1]!)
  if (!m || !timing) return undefined
  const n = Number(m[3])
  const availableAt = timing.availabilityStartTime + (n - timing.startNumber + 1) * timing.segmentDurationMs
  return { availableAt, durationMs: timing.segmentDurationMs }
}

/** Lifetime of a 404 of a missing segment: until it is due when its channel is known, else 1 s. */
function notFoundMaxAge(due: ReturnType<typeof dueOf>): number {
  if (!due) return 1
  return Math.max(1, Math.min(MAX_FUTURE_404_S, Math.ceil((due.availableAt - Date.now()) / 1000)))
}

/** How long to hold a GET of a missing segment (ms); undefined when it is not held. */
function holdFor(due: ReturnType<typeof dueOf>): number | undefined {
  if (!due) return undefined
  const window = HOLD_SEGMENTS * due.durationMs
  return due.availableAt - Date.now() <= window ? window : undefined
}

function hold(path: string, res: ServerResponse, ms: number): void {
  let entry = held.get(path)
  if (!entry) {
    const waiting = new Set<ServerResponse>()
    const timer = setTimeout(() => {
      held.delete(path)
      for (const r of waiting) sendJson(r, 404, 1, 'NOT_FOUND', 'segment not found')
    }, ms)
    entry = { waiting, timer }
    held.set(path, entry)
  }
  const { waiting } = entry
  waiting.add(res)
  res.once('close', () => waiting.delete(res))
}

/** Answers every GET held for `path`: all heads, then all bodies on the next turn. */
function release(path: string, stored: Stored): void {
  const entry = held.get(path)
  if (!entry) return
  held.delete(path)
  clearTimeout(entry.timer)
  const waiting = [...entry.waiting]
  for (const res of waiting) {
    res.writeHead(200, {
      ...servedHeaders(stored),
      'Content-Type': stored.contentType,
      'Content-Length': stored.body.length,
    })
    res.flushHeaders()
  }
  setImmediate(() => {
    for (const res of waiting) res.end(res.req.method === 'HEAD' ? undefined : stored.body)
  })
}

function servedHeaders(stored: Stored) {
  return {
    'Cache-Control': `max-age=${SERVED_MAX_AGE_S}`,
    ETag: stored.etag,
    'Last-Modified': stored.lastModified,
  }
}

function relay(message: Relay): void {
  if (cluster.isWorker) process.send?.(message)
}

/** 413 for a body over `MAX_BODY_BYTES`. */
function bodyTooLarge(res: ServerResponse): void {
  sendJson(res, 413, 0, 'BODY_TOO_LARGE', `body larger than ${MAX_BODY_BYTES} bytes`)
}

function readBody(req: IncomingMessage, res: ServerResponse, done: (body: Buffer) => void): void {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_BODY_BYTES) {
    bodyTooLarge(res)
    req.resume()
    return
  }
  const chunks: Buffer[] = []
  let size = 0
  req.on('data', (chunk: Buffer) => {
    size += chunk.length
    chunks.push(chunk)
  })
  req.on('end', () => {
    if (size > MAX_BODY_BYTES) bodyTooLarge(res)
    else done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))
  })
}

/**
 * `Bare-Write: file`: the body goes to a new file in `--write-dir` as it arrives, one
 * synchronous write per piece, and is synced before the 201. Nothing is kept in memory or
 * relayed: what is measured is receiving and storing, as nginx does.
 */
function putToFile(req: IncomingMessage, res: ServerResponse): void {
  if (writeDir === undefined) {
    sendJson(res, 400, 0, 'NO_WRITE_DIR', 'Bare-Write: file needs --write-dir')
    req.resume()
    return
  }
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
    bodyTooLarge(res)
    req.resume()
    return
  }
  const name = `${process.pid}-${(++generation).toString(36)}`
  const fd = openSync(join(writeDir, name), 'w')
  let size = 0
  let open = true
  const close = () => {
    if (open) closeSync(fd)
    open = false
  }
  req.on('data', (chunk: Buffer) => {
    size += chunk.length
    if (open && size <= MAX_BODY_BYTES) writeSync(fd, chunk)
  })
  req.on('close', close)
  req.on('end', () => {
    if (size > MAX_BODY_BYTES) {
      close()
      bodyTooLarge(res)
      return
    }
    fdatasyncSync(fd)
    close()
    res.writeHead(201, { ETag: `"${name}"`, 'Content-Length': 0 })
    res.end()
  })
}

function putChannel(req: IncomingMessage, res: ServerResponse, name: string): void {
  readBody(req, res, (body) => {
    let timing: Timing
    try {
      const c = JSON.parse(body.toString('utf8'))
      const ast =
        typeof c.availabilityStartTime === 'string'
          ? Date.parse(c.availabilityStartTime)
          : c.availabilityStartTime
      timing = {
        segmentDurationMs: c.segmentDurationMs,
        availabilityStartTime: ast,
        startNumber: c.startNumber ?? 1,
      }
      if (
        !(timing.segmentDurationMs > 0) ||
        !Number.isFinite(timing.availabilityStartTime) ||
        !Number.isSafeInteger(timing.startNumber)
      ) {
        throw new Error(
          'segmentDurationMs > 0, availabilityStartTime and an integer startNumber are required',
        )
      }
    } catch (err) {
      sendJson(res, 400, 0, 'BAD_CONFIG', `invalid channel: ${(err as Error).message}`)
      return
    }
    const existed = channels.has(name)
    channels.set(name, timing)
    res.writeHead(existed ? 200 : 201, { 'Content-Length': 0 })
    res.end()
    relay({ tag: 'bare:channel', name, timing })
  })
}

function putObject(req: IncomingMessage, res: ServerResponse, path: string): void {
  readBody(req, res, (body) => {
    const stored: Stored = {
      body,
      // Unique per stored version across the workers: the storing process and a counter.
      etag: `"${process.pid.toString(36)}-${(++generation).toString(36)}"`,
      lastModified: new Date().toUTCString(),
      contentType: contentTypeOf(path),
    }
    const existed = objects.has(path)
    objects.set(path, stored)
    res.writeHead(existed ? 204 : 201, { ETag: stored.etag, 'Content-Length': 0 })
    res.end()
    relay({ tag: 'bare:object', path, stored })
    release(path, stored)
  })
}

function get(req: IncomingMessage, res: ServerResponse, path: string): void {
  const stored = objects.get(path)
  if (!stored) {
    const due = dueOf(path)
    const ms = holdFor(due)
    if (ms !== undefined) hold(path, res, ms)
    else sendJson(res, 404, notFoundMaxAge(due), 'NOT_FOUND', 'segment not found')
    return
  }
  const headers = servedHeaders(stored)
  if (req.headers['if-none-match'] === stored.etag) {
    res.writeHead(304, headers)
    res.end()
    return
  }
  res.writeHead(200, { ...headers, 'Content-Type': stored.contentType, 'Content-Length': stored.body.length })
  res.end(req.method === 'HEAD' ? undefined : stored.body)
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  switch (req.method) {
    case 'GET':
    case 'HEAD':
      get(req, res, path)
      return
    case 'PUT': {
      const channel = CHANNEL_PATH.exec(path)
      if (channel) putChannel(req, res, decodeURIComponent(channel[1]!))
      else if (req.headers['bare-write'] === 'file') putToFile(req, res)
      else putObject(req, res, path)
      return
    }
    default:
      res.setHeader('Allow', 'GET, HEAD, PUT')
      sendJson(
        res,
        405,
        0,
        'METHOD_NOT_ALLOWED',
        `method ${req.method} is not served (allowed: GET, HEAD, PUT)`,
      )
      req.resume()
  }
}

function apply(message: Relay): void {
  if (message.tag === 'bare:object') {
    const s = message.stored
    // The advanced serialization hands a Buffer over as a Uint8Array.
    const stored = { ...s, body: Buffer.from(s.body.buffer, s.body.byteOffset, s.body.byteLength) }
    objects.set(message.path, stored)
    release(message.path, stored)
  } else if (message.tag === 'bare:channel') {
    channels.set(message.name, message.timing)
  }
}

function main(): void {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      workers: { type: 'string', default: String(availableParallelism()) },
      'ingest-port': { type: 'string' },
      'write-dir': { type: 'string' },
    },
  })
  writeDir = values['write-dir']
  const port = Number(values.port)
  const workers = Number(values.workers)
  const ingestPort = values['ingest-port'] === undefined ? undefined : Number(values['ingest-port'])
  const validPort = (p: number) => Number.isInteger(p) && p > 0 && p <= 65535
  if (!validPort(port)) throw new Error(`--port: bad port ${values.port}`)
  if (ingestPort !== undefined && !validPort(ingestPort))
    throw new Error(`--ingest-port: bad port ${values['ingest-port']}`)
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers: bad count ${values.workers}`)

  if (cluster.isPrimary && (workers > 1 || ingestPort !== undefined)) {
    // Each worker accepts its own connections, as the origin's delivery processes do.
    cluster.schedulingPolicy = cluster.SCHED_NONE
    cluster.setupPrimary({ serialization: 'advanced' })
    const processes = workers + (ingestPort === undefined ? 0 : 1)
    let listening = 0
    for (let i = 0; i < workers; i++) cluster.fork()
    // The ingest process serves PUTs only in the benchmark: objects are not copied to it.
    const ingest =
      ingestPort === undefined ? undefined : cluster.fork({ BARE_LISTEN_PORT: String(ingestPort) })
    cluster.on('listening', () => {
      if (++listening === processes)
        process.stdout.write(
          `bare node ready: ${workers} workers on ${port}` +
            (ingestPort === undefined ? '\n' : `, ingest on ${ingestPort}\n`),
        )
    })
    cluster.on('message', (from, message: Relay) => {
      for (const w of Object.values(cluster.workers ?? {})) {
        if (!w || w === from || !w.isConnected()) continue
        if (w === ingest && message.tag === 'bare:object') continue
        w.send(message)
      }
    })
    cluster.on('exit', (w, code, signal) => {
      process.stderr.write(`bare node worker ${w.process.pid} exited (${code ?? signal})\n`)
      process.exitCode = 1
    })
    const stop = () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM')
      cluster.removeAllListeners('exit')
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
    return
  }
  if (cluster.isWorker) process.on('message', apply)
  const server = createServer({ keepAliveTimeout: 65_000 }, handle)
  // The ingest process listens on its own port (`--ingest-port`), the others on `--port`.
  const listenPort = Number(process.env.BARE_LISTEN_PORT ?? port)
  server.listen({ host: values.host, port: listenPort }, () => {
    if (!cluster.isWorker) process.stdout.write(`bare node ready: 1 worker on ${port}\n`)
  })
  const stop = () => {
    server.close()
    server.closeAllConnections()
    process.disconnect?.()
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

main()
