/**
 * Ingest resource limits through HTTP on a real origin (docs/security.md): manifest size and parse
 * time, the global in-flight byte budget, defect kinds as metric labels, a body overrunning
 * its Content-Length, and the minimum upload rate. Every refusal leaves nothing stored.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { request } from 'node:http'
import type { Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { errorOf } from '../helpers/errors.js'
import { metric, rawConnection, waitFor } from '../helpers/http.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

const MPD = readFileSync(new URL('../fixtures/dash/manifest-live.mpd', import.meta.url), 'utf8')

/** The fixture MPD grown to exactly `bytes` bytes by a long SegmentTimeline (as a day of segments listed one by one). */
function mpdOfSize(bytes: number): string {
  const s = '<S t="1234567890" d="1000000" />\n'
  const head = MPD.replace('<SegmentTemplate timescale', '<!--pad--><SegmentTemplate timescale')
  const fixed = Buffer.byteLength(head) + '<SegmentTimeline></SegmentTimeline>'.length - '<!--pad-->'.length
  const count = Math.floor((bytes - fixed) / s.length)
  const filler = ' '.repeat(bytes - fixed - count * s.length)
  const timeline = `<SegmentTimeline>${s.repeat(count)}${filler}</SegmentTimeline>`
  // The timeline goes into the first SegmentTemplate (the one timing is learned from).
  const out = MPD.replace(
    /<SegmentTemplate timescale="1000000" duration="1000000"([^>]*)>/,
    `<SegmentTemplate timescale="1000000"$1>${timeline}`,
  )
  return out + ' '.repeat(bytes - Buffer.byteLength(out))
}

function put(
  origin: TestOrigin,
  path: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
) {
  return fetch(`${origin.ingest}${path}`, {
    method: 'PUT',
    body,
    headers: { 'Pipeline-Id': 'east', ...headers },
  })
}

/** A PUT whose `flushed` resolves once its whole body was handed to the socket. */
function rawPut(
  origin: TestOrigin,
  path: string,
  body: string,
): { answered: Promise<number>; flushed: Promise<void> } {
  let flushedResolve!: () => void
  const flushed = new Promise<void>((resolve) => {
    flushedResolve = resolve
  })
  const answered = new Promise<number>((resolve, reject) => {
    const req = request(`${origin.ingest}${path}`, {
      method: 'PUT',
      headers: { 'Pipeline-Id': 'east', 'Content-Length': Buffer.byteLength(body) },
    })
    req.once('response', (res) => {
      res.resume()
      res.once('end', () => resolve(res.statusCode ?? 0))
    })
    req.once('error', reject)
    req.end(body, flushedResolve)
  })
  return { answered, flushed }
}

async function stored(origin: TestOrigin, path: string): Promise<number> {
  const r = await fetch(`${origin.delivery}${path}`)
  await r.arrayBuffer()
  return r.status
}

describe('manifest size: ingest.maxManifestBytes', () => {
  let origin: TestOrigin
  let max: number
  before(async () => {
    origin = await startOrigin()
    max = origin.config.ingest.maxManifestBytes
    assert.equal(max, 4 * 1024 * 1024, 'the documented default')
  })
  after(() => origin.close())

  it('a manifest of max+1 bytes is 413 MANIFEST_TOO_LARGE and nothing is stored', async () => {
    const r = await put(origin, '/big/manifest.mpd', mpdOfSize(max + 1))
    assert.equal(r.status, 413)
    const e = await errorOf(r)
    assert.equal(e.code, 'LIVEORIGIN_ERR_MANIFEST_TOO_LARGE')
    assert.match(e.message, /maxManifestBytes \(4194304 bytes\)/)
    assert.equal(await stored(origin, '/big/manifest.mpd'), 404)
  })

  it('a chunked manifest growing past the limit is 413 and nothing is stored', async () => {
    const body = Buffer.from(mpdOfSize(max + 1))
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let at = 0; at < body.length; at += 256 * 1024) c.enqueue(body.subarray(at, at + 256 * 1024))
        c.close()
      },
    })
    const r = await fetch(`${origin.ingest}/bigc/index.m3u8`, {
      method: 'PUT',
      body: stream,
      duplex: 'half',
      headers: { 'Pipeline-Id': 'east' },
    } as RequestInit)
    assert.equal(r.status, 413)
    assert.equal((await errorOf(r)).code, 'LIVEORIGIN_ERR_MANIFEST_TOO_LARGE')
    assert.equal(await stored(origin, '/bigc/index.m3u8'), 404)
  })

  it('a max-size MPD is stored, its timing learned, and another pipeline’s small PUT completes while it is parsed', async () => {
    const xml = mpdOfSize(max)
    assert.equal(Buffer.byteLength(xml), max)
    const order: string[] = []
    // The MPD's body is sent whole before the small PUT starts; its timing is then learned (on
    // a thread) before it commits and is answered: meanwhile another pipeline's upload must go
    // through.
    const { answered, flushed } = rawPut(origin, '/maxed/manifest.mpd', xml)
    const big = answered.then((status) => {
      order.push('mpd')
      return status
    })
    await flushed
    const small = await put(origin, '/other/seg.bin', '0123456789', { 'Pipeline-Id': 'west' })
    order.push('small')
    assert.equal(small.status, 201)
    assert.equal(await big, 201)
    assert.deepEqual(order, ['small', 'mpd'], 'the small PUT was answered before the MPD’s learning ended')
    const channel = await fetch(`${origin.control}/api/v1/channels/maxed`)
    assert.equal(channel.status, 200)
    const body = (await channel.json()) as { config?: { segmentDurationMs?: number } }
    assert.equal(body.config?.segmentDurationMs, 1000, 'timing learned from the max-size MPD')
  })
})

describe('in-flight byte budget: ingest.maxInFlightBytes', () => {
  let origin: TestOrigin
  before(async () => {
    // A long idle limit: the held upload waits while the test checks the refusal.
    origin = await startOrigin({ 'ingest.maxInFlightBytes': 1024 * 1024, 'ingest.ingestIdleMs': 120_000 })
  })
  after(() => origin.close())

  it('beyond the budget a new upload is 503 with Retry-After, not read, and nothing stored; once room is back it goes through', async () => {
    const held = rawConnection(origin.ingest)
    const size = 900 * 1024
    held.socket.write(
      `PUT /budget/held.bin HTTP/1.1\r\nHost: x\r\nPipeline-Id: east\r\nContent-Length: ${size}\r\n\r\n`,
    )
    held.socket.write(Buffer.alloc(1024, 1))
    // The first upload is in progress once the origin counts it.
    for (;;) {
      const m = await (await fetch(`${origin.control}/metrics`)).text()
      if (/^liveorigin_uploads_in_progress 1$/m.test(m)) break
      await sleep(5)
    }
    const refused = rawConnection(origin.ingest)
    refused.socket.write(
      `PUT /budget/second.bin HTTP/1.1\r\nHost: x\r\nPipeline-Id: west\r\nContent-Length: ${500 * 1024}\r\n\r\n`,
    )
    refused.socket.write(Buffer.alloc(1024, 2))
    const text = await refused.answer
    assert.match(text, /^HTTP\/1\.1 503 /)
    assert.match(text, /\r\nretry-after: 1\r\n/i)
    assert.match(text, /\r\nconnection: close\r\n/i)
    assert.match(text, /"code":"LIVEORIGIN_ERR_UPLOAD_BUDGET_EXHAUSTED"/)
    assert.match(text, /maxInFlightBytes \(1048576 bytes\)/)
    assert.equal(await stored(origin, '/budget/second.bin'), 404)
    const m = await (await fetch(`${origin.control}/metrics`)).text()
    assert.match(m, /^liveorigin_uploads_refused_total\{reason="budget"\} 1$/m)
    assert.match(m, new RegExp(`^liveorigin_upload_bytes_reserved ${size}$`, 'm'))

    held.socket.write(Buffer.alloc(size - 1024, 1))
    assert.match(await held.head, /^HTTP\/1\.1 201 /)
    held.socket.destroy()
    const again = await put(origin, '/budget/second.bin', Buffer.alloc(500 * 1024, 2), {
      'Pipeline-Id': 'west',
    })
    assert.equal(again.status, 201)
    assert.equal(await stored(origin, '/budget/second.bin'), 200)
  })
})

describe('an upload its client cuts off', () => {
  let origin: TestOrigin
  before(async () => {
    // An idle limit far beyond the test's wait: the cut is noticed from the connection itself.
    origin = await startOrigin({ 'ingest.ingestIdleMs': 600_000 })
  })
  after(() => origin.close())

  for (const [how, cut] of [
    ['closes its side (FIN)', (s: Socket) => s.end()],
    ['resets the connection (RST)', (s: Socket) => s.resetAndDestroy()],
  ] as const) {
    it(`when the client ${how} mid-body, the upload ends at once: its budget is freed and nothing is stored`, async () => {
      const path = `/cut/${how.includes('FIN') ? 'fin' : 'rst'}.bin`
      const c = rawConnection(origin.ingest)
      c.socket.on('error', () => {})
      c.socket.write(`PUT ${path} HTTP/1.1\r\nHost: x\r\nPipeline-Id: east\r\nContent-Length: 100000\r\n\r\n`)
      c.socket.write(Buffer.alloc(5000, 1))
      const inProgress = async () => metric(origin, 'liveorigin_uploads_in_progress')
      await waitFor('the upload to start', async () => (await inProgress()) === 1)
      cut(c.socket)
      // Bounded far below the idle limit: before the fix this waited for ingestIdleMs.
      await waitFor('the cut upload to end (10 s bound)', async () => (await inProgress()) === 0, 10_000)
      assert.equal(await stored(origin, path), 404)
      assert.equal(await metric(origin, 'liveorigin_upload_bytes_reserved'), 0)
    })
  }
})

describe('defect kinds as metric labels', () => {
  let origin: TestOrigin
  before(async () => {
    origin = await startOrigin()
  })
  after(() => origin.close())

  it('50 PUTs × 64 invented kinds leave liveorigin_defects_total with known kinds and `other` only', async () => {
    for (let p = 0; p < 50; p++) {
      const kinds = Array.from({ length: 64 }, (_, k) => `invented-${p}-${k}`)
      const r = await put(origin, `/labels/obj-${p}.bin`, 'x', { 'Segment-Defects': kinds.join(', ') })
      assert.equal(r.status, 201)
      assert.match(r.headers.get('segment-defects') ?? '', new RegExp(`invented-${p}-63`), 'still recorded')
    }
    const r = await put(origin, '/labels/known.bin', 'x', { 'Segment-Defects': 'black, frozen;ms=40' })
    assert.equal(r.status, 201)
    const text = await (await fetch(`${origin.control}/metrics`)).text()
    const series = text.split('\n').filter((l) => l.startsWith('liveorigin_defects_total{'))
    assert.ok(series.length <= 3, `series: ${series.join(' | ')}`)
    assert.ok(
      series.some((l) => /kind="other",source="packager"\} 3200$/.test(l)),
      series.join(' | '),
    )
    assert.ok(series.some((l) => /kind="black",source="packager"\} 1$/.test(l)))
    assert.ok(series.some((l) => /kind="frozen",source="packager"\} 1$/.test(l)))
  })

  it('a kind longer than 64 characters is 400 naming Segment-Defects, and nothing is stored', async () => {
    const r = await put(origin, '/labels/long.bin', 'x', { 'Segment-Defects': `k${'x'.repeat(64)}` })
    assert.equal(r.status, 400)
    const e = await errorOf(r)
    assert.equal(e.code, 'LIVEORIGIN_ERR_BAD_HEADER')
    assert.match(e.message, /Segment-Defects.*longer than 64 characters/)
    assert.equal(await stored(origin, '/labels/long.bin'), 404)
  })
})

describe('a body longer than its Content-Length', () => {
  let origin: TestOrigin
  before(async () => {
    origin = await startOrigin()
  })
  after(() => origin.close())

  it('stores the declared bytes and answers 201, then 400 with Connection: close for the extra bytes', async () => {
    const c = rawConnection(origin.ingest)
    c.socket.write(
      'PUT /overrun/a.bin HTTP/1.1\r\nHost: x\r\nPipeline-Id: east\r\nContent-Length: 10\r\n\r\n0123456789garbage!!\r\n\r\n',
    )
    const text = await c.answer
    assert.match(text, /^HTTP\/1\.1 201 /, text)
    const second = text.indexOf('HTTP/1.1 400 ')
    assert.ok(second > 0, `a 400 follows the 201: ${text}`)
    assert.match(text.slice(second), /\r\nConnection: close\r\n/i)
    const got = await fetch(`${origin.delivery}/overrun/a.bin`)
    assert.equal(got.status, 200)
    assert.equal(await got.text(), '0123456789')
  })
})

describe('minimum upload rate: ingest.minUploadBytesPerSecond', () => {
  let origin: TestOrigin
  before(async () => {
    origin = await startOrigin({
      'ingest.minUploadBytesPerSecond': 256,
      'ingest.minUploadRateWindowMs': 1000,
    })
  })
  after(() => origin.close())

  it('an upload trickling a byte at a time (never idle) is 408 UPLOAD_TOO_SLOW and nothing is stored', async () => {
    const c = rawConnection(origin.ingest)
    c.socket.write('PUT /slow/a.bin HTTP/1.1\r\nHost: x\r\nPipeline-Id: east\r\nContent-Length: 1000\r\n\r\n')
    let closed = false
    void c.answer.then(() => {
      closed = true
    })
    // One byte every 200 ms: far below the idle limit (10 s), far below the minimum rate.
    for (let i = 0; i < 100 && !closed && !c.socket.destroyed; i++) {
      c.socket.write('x')
      await sleep(200)
    }
    const text = await c.answer
    assert.match(text, /^HTTP\/1\.1 408 /, text)
    assert.match(text, /"code":"LIVEORIGIN_ERR_UPLOAD_TOO_SLOW"/)
    assert.equal(await stored(origin, '/slow/a.bin'), 404)
    const m = await (await fetch(`${origin.control}/metrics`)).text()
    assert.match(m, /^liveorigin_uploads_refused_total\{reason="too-slow"\} 1$/m)
  })

  it('an upload at a real rate in pieces goes through', async () => {
    const c = rawConnection(origin.ingest)
    c.socket.write(
      'PUT /slow/b.bin HTTP/1.1\r\nHost: x\r\nPipeline-Id: east\r\nContent-Length: 64000\r\n\r\n',
    )
    // 4 KB every 100 ms (40 KB/s): every 1 s window holds far more than 256 bytes, unless
    // this process stalls for a whole window.
    for (let i = 0; i < 16; i++) {
      c.socket.write(Buffer.alloc(4000, 0x61))
      await sleep(100)
    }
    assert.match(await c.head, /^HTTP\/1\.1 201 /)
    c.socket.destroy()
  })
})
