/**
 * `liveorigin_upload_phase_seconds`: each stored upload is timed in four phases (receive,
 * store, commit, announce), which lie inside the request as its client sees it; an upload
 * whose body is held back spends that time receiving; a refused upload is not timed.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { metric, metrics, rawConnection, waitFor } from '../helpers/http.js'
import { metricValue, startOrigin, type TestOrigin } from '../helpers/origin.js'

const PHASES = ['receive', 'store', 'commit', 'announce'] as const
const HELD_MS = 300

/** Sends a PUT's head and the first half of its body, then the rest after `holdMs`; resolves to the answer's status line. */
async function heldPut(origin: TestOrigin, path: string, body: Buffer, holdMs: number): Promise<string> {
  const { socket, head } = rawConnection(origin.ingest)
  socket.write(
    `PUT ${path} HTTP/1.1\r\nHost: x\r\nPipeline-Id: east\r\nContent-Length: ${body.length}\r\n\r\n`,
  )
  socket.write(body.subarray(0, body.length / 2))
  await waitFor(
    'the upload under way',
    async () => (await metric(origin, 'liveorigin_uploads_in_progress')) === 1,
  )
  await sleep(holdMs)
  socket.write(body.subarray(body.length / 2))
  try {
    return (await head).split('\r\n')[0]!
  } finally {
    socket.destroy()
  }
}

describe('upload phases: liveorigin_upload_phase_seconds', () => {
  let origin: TestOrigin
  before(async () => {
    origin = await startOrigin({ 'ingest.maxObjectBytes': 4 * 1024 * 1024 })
  })
  after(() => origin.close())

  it('times each stored upload in four phases that lie inside its request; a held body is receive time', async () => {
    const started = performance.now()
    const status = await heldPut(origin, '/phases/held.bin', Buffer.alloc(3 * 1024 * 1024, 7), HELD_MS)
    const requestSeconds = (performance.now() - started) / 1000
    assert.match(status, /^HTTP\/1\.1 201 /)
    const text = await metrics(origin)
    const count = (phase: string) => metricValue(text, 'liveorigin_upload_phase_seconds_count', { phase })
    const sum = (phase: string) => metricValue(text, 'liveorigin_upload_phase_seconds_sum', { phase })
    for (const phase of PHASES) assert.equal(count(phase), 1, `${phase} timed once`)
    assert.ok(sum('receive') >= HELD_MS / 1000, `receive ${sum('receive')} s covers the ${HELD_MS} ms hold`)
    const total = PHASES.reduce((a, phase) => a + sum(phase), 0)
    assert.ok(total <= requestSeconds, `phases ${total} s lie inside the request's ${requestSeconds} s`)
    for (const phase of PHASES) assert.ok(sum(phase) >= 0)
  })

  it('does not time an upload that is refused', async () => {
    const before = await metric(origin, 'liveorigin_upload_phase_seconds_count', { phase: 'receive' })
    const res = await fetch(`${origin.ingest}/phases/big.bin`, {
      method: 'PUT',
      headers: { 'Pipeline-Id': 'east' },
      body: Buffer.alloc(5 * 1024 * 1024),
    })
    assert.equal(res.status, 413)
    await res.arrayBuffer()
    assert.equal(await metric(origin, 'liveorigin_upload_phase_seconds_count', { phase: 'receive' }), before)
  })
})
