/**
 * The control status and delivery apply one selection rule: while a pipeline known to be
 * healthy may still deliver a valid copy, delivery holds the request for it, and the status
 * says the segment is waiting (not "defective, served").
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createChannel, D, NO_SHEDDING, put, segmentPath, validCopy } from '../helpers/fixture-channel.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

interface StatusSegment {
  readonly number: number
  readonly outcome: string
  readonly served: string | null
}

describe('status and delivery agree while a pipeline is still expected', () => {
  const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
  // Segment 4 just became available: A(4) = AST + 4·D (S = 1).
  const clock = AST + 4 * D + 1
  let origin: TestOrigin
  let channel: string

  before(async () => {
    origin = await startOrigin(NO_SHEDDING, { now: () => clock })
    // No pipelines listed: the pipelines known to be healthy are the ones expected.
    channel = await createChannel(origin, AST, { pipelines: [], selectionGraceMs: 500 })
    for (let n = 1; n <= 3; n++) {
      for (const pipeline of ['east', 'west'])
        await put(origin, channel, segmentPath(0, n), validCopy(0, n, pipeline), pipeline)
    }
    await put(origin, channel, segmentPath(0, 4), validCopy(0, 4, 'east'), 'east', 'black')
  })
  after(() => origin.close())

  async function segment4(): Promise<StatusSegment> {
    const r = await fetch(`${origin.control}/api/v1/channels/${channel}/status`)
    assert.equal(r.status, 200)
    const status = (await r.json()) as { timeline: { rendition: string; segments: StatusSegment[] }[] }
    const found = status.timeline.find((t) => t.rendition === '0')?.segments.find((s) => s.number === 4)
    assert.ok(found, 'segment 4 in the status timeline')
    return found
  }

  it('only a defective copy from east, west healthy: delivery holds, the status says waiting', async () => {
    const answer = fetch(`${origin.delivery}/${channel}/${segmentPath(0, 4)}`)
    let settled = false
    void answer.then(() => {
      settled = true
    })
    const waiting = await segment4()
    assert.equal(waiting.outcome, 'waiting')
    assert.equal(waiting.served, null)
    assert.equal(settled, false, 'delivery answered while a valid copy was still expected')

    // West's valid copy releases the held request, and both now say west.
    await put(origin, channel, segmentPath(0, 4), validCopy(0, 4, 'west'), 'west')
    const r = await answer
    assert.equal(r.status, 200)
    assert.equal(r.headers.get('segment-pipeline'), 'west')
    await r.arrayBuffer()
    const served = await segment4()
    assert.equal(served.outcome, 'valid')
    assert.equal(served.served, 'west')
  })
})
