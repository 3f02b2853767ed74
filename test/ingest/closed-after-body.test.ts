/**
 * A packager that sends a whole body and closes its connection without waiting for the
 * answer (ffmpeg's HTTP output does so for the chunked PUTs of its init segments) still has
 * its upload stored: the origin reads the request to its end before it acts on the close.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { after, before, it } from 'node:test'
import { get } from '../helpers/http.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

let origin: TestOrigin
before(async () => {
  origin = await startOrigin()
})
after(() => origin.close())

/** Sends a chunked PUT whole, then ends the connection at once; resolves when it is closed. */
function putAndClose(path: string, body: Buffer): Promise<void> {
  const { hostname, port } = new URL(origin.ingest)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        `PUT ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nTransfer-Encoding: chunked\r\n\r\n` +
          `${body.length.toString(16)}\r\n`,
      )
      socket.write(body)
      socket.end('\r\n0\r\n\r\n')
    })
    socket.on('error', () => {})
    socket.on('close', () => resolve())
    socket.on('timeout', () => reject(new Error('timeout')))
    socket.resume()
  })
}

it('stores a chunked upload whose client closed right after the last chunk', async () => {
  for (let i = 0; i < 5; i++) {
    const body = randomBytes(800 + i)
    const path = `/closing${i}/init-stream0.m4s`
    await putAndClose(path, body)
    let answer = await get(origin, path)
    for (let t = 0; t < 50 && answer.status !== 200; t++) {
      await new Promise((r) => setTimeout(r, 20))
      answer = await get(origin, path)
    }
    assert.equal(answer.status, 200, `${path} was stored`)
    assert.ok(answer.body.equals(body))
  }
})
