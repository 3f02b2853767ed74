/**
 * A counting relay for the CDN tests, run as its own process: listens on one loopback port
 * per cache (`--listen tag=port`, repeatable), forwards every request unchanged to the
 * origin's delivery listener (`--origin url`), streams the answer back unchanged, and records
 * for each request the cache (tag), method, URL, status, `Cache-TTL-Ms` and when it was sent
 * and answered (epoch ms). `GET /__relay/log` on any of its ports answers the records so far
 * as JSON (not forwarded). It stands at the origin's door: what it counts is what the origin
 * was asked.
 */
import { Agent, createServer, request } from 'node:http'

export interface RelayRecord {
  readonly tag: string
  readonly method: string
  readonly url: string
  status: number
  ttlMs: number | null
  /** The origin held the request (its answer has `CMSD-Dynamic: …;ht=`). */
  held: boolean
  readonly sentAt: number
  answeredAt: number | null
}

function main(): void {
  const args = process.argv.slice(2)
  let origin: URL | undefined
  const listens: Array<[string, number]> = []
  for (let i = 0; i < args.length; i += 2) {
    if (args[i] === '--origin') origin = new URL(args[i + 1]!)
    else if (args[i] === '--listen') {
      const [tag, port] = args[i + 1]!.split('=')
      listens.push([tag!, Number(port)])
    }
  }
  if (!origin || listens.length === 0) throw new Error('usage: --origin url --listen tag=port …')
  const target = origin
  const agent = new Agent({ keepAlive: true, maxSockets: 512 })
  const records: RelayRecord[] = []
  for (const [tag, port] of listens) {
    const server = createServer((req, res) => {
      if (req.url === '/__relay/log') {
        const body = JSON.stringify(records)
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) })
        res.end(body)
        return
      }
      const record: RelayRecord = {
        tag,
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        status: 0,
        ttlMs: null,
        held: false,
        sentAt: Date.now(),
        answeredAt: null,
      }
      records.push(record)
      const headers = { ...req.headers, host: target.host }
      const out = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
        (answer) => {
          record.status = answer.statusCode ?? 0
          record.answeredAt = Date.now()
          const ttl = answer.headers['cache-ttl-ms']
          record.ttlMs = typeof ttl === 'string' ? Number(ttl) : null
          record.held = /;ht=/.test(String(answer.headers['cmsd-dynamic'] ?? ''))
          res.writeHead(answer.statusCode ?? 502, answer.rawHeaders)
          answer.pipe(res)
        },
      )
      out.on('error', () => {
        record.answeredAt = Date.now()
        res.destroy()
      })
      res.on('close', () => out.destroy())
      req.pipe(out)
    })
    server.keepAliveTimeout = 65_000
    server.listen(port, '127.0.0.1', () => process.stdout.write(`relay ${tag} listening on ${port}\n`))
  }
}

if (process.argv[1]?.endsWith('counting-relay.ts')) main()
