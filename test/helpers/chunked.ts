/**
 * Low-latency plumbing for tests over real sockets: a segment in several CMAF chunks, a
 * chunked-transfer PUT whose pieces the test sends one at a time (as a low-latency packager
 * does), and a GET that records each piece of the answer as it arrives and whether the
 * answer ended whole or was cut off.
 */
import { type ClientRequest, type IncomingHttpHeaders, request } from 'node:http'
import { buildMediaSegment, loadRenditions, type SimRendition } from '../../src/simulate/media.js'
import { waitFor } from './http.js'

let renditions: SimRendition[] | undefined

/** Segment `n` of `rendition` (D = 1 s, S = 1) in `chunks` CMAF chunks, labelled with the pipeline. */
export function chunkedCopy(rendition: number, n: number, pipeline: string, chunks: number): Uint8Array {
  renditions ??= loadRenditions()
  const r = renditions.find((x) => x.id === String(rendition))!
  return buildMediaSegment(
    r,
    { number: n, startNumber: 1, segmentDurationMs: 1000 },
    { label: pipeline, chunks },
  )
}

export interface ChunkedPut {
  /** Sends the next piece and waits until it has been handed to the socket. */
  send(bytes: Uint8Array): Promise<void>
  /** Ends the body and resolves with the status. */
  end(): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>
  /** Cuts the upload off (the connection is reset). */
  abort(): void
}

/** A PUT with `Transfer-Encoding: chunked`, sent piece by piece. */
export function chunkedPut(url: string, pipeline: string): ChunkedPut {
  let req: ClientRequest
  const answer = new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      req = request(url, { method: 'PUT', headers: { 'Pipeline-Id': pipeline } }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          body += c
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      })
      req.on('error', reject)
      req.flushHeaders()
    },
  )
  answer.catch(() => {})
  return {
    send: (bytes) =>
      new Promise((resolve, reject) => req.write(bytes, (err) => (err ? reject(err) : resolve()))),
    end: () => {
      req.end()
      return answer
    },
    abort: () => req.destroy(),
  }
}

export interface StreamedGet {
  readonly status: Promise<number>
  readonly headers: Promise<IncomingHttpHeaders>
  /** The bytes received so far. */
  received(): Buffer
  /** Resolves when at least `n` bytes have arrived. */
  bytes(n: number): Promise<Buffer>
  /** Resolves with the whole body, or with `cut: true` when the answer was cut off. */
  readonly done: Promise<{ cut: boolean; body: Buffer }>
}

/** A GET (or HEAD) whose answer is recorded piece by piece. */
export function streamedGet(url: string, headers: Record<string, string> = {}, method = 'GET'): StreamedGet {
  const pieces: Buffer[] = []
  let resolveHead!: (h: { status: number; headers: IncomingHttpHeaders }) => void
  const head = new Promise<{ status: number; headers: IncomingHttpHeaders }>((r) => {
    resolveHead = r
  })
  const done = new Promise<{ cut: boolean; body: Buffer }>((resolve) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      resolveHead({ status: res.statusCode ?? 0, headers: res.headers })
      res.on('data', (c: Buffer) => pieces.push(c))
      res.on('end', () => resolve({ cut: false, body: Buffer.concat(pieces) }))
      res.on('error', () => resolve({ cut: true, body: Buffer.concat(pieces) }))
      res.on('aborted', () => resolve({ cut: true, body: Buffer.concat(pieces) }))
    })
    req.on('error', () => resolve({ cut: true, body: Buffer.concat(pieces) }))
    req.end()
  })
  const received = () => Buffer.concat(pieces)
  return {
    status: head.then((h) => h.status),
    headers: head.then((h) => h.headers),
    received,
    bytes: async (n) => {
      await waitFor(`${n} bytes of ${url}`, () => received().length >= n)
      return received()
    },
    done,
  }
}
