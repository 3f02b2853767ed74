/**
 * Which bodies the writer keeps in its memory after a commit (docs/storage.md#cache-tiers):
 * a media segment it inspected, when the same process also answers delivery requests (the
 * first GET then reads no storage); none when the process only ingests (its memory is read
 * by nobody: delivery workers have their own), so a PUT costs no whole-body copy there.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createChannel, get, NO_SHEDDING, put, segmentPath, sha256 } from '../helpers/fixture-channel.js'
import { metricValue, startOrigin } from '../helpers/origin.js'
import { dashSegment } from '../selection/helpers.js'

async function objectReadsAfterPutAndGet(delivers: boolean | undefined): Promise<number> {
  const origin = await startOrigin(NO_SHEDDING, delivers === undefined ? {} : { delivers })
  try {
    const channel = await createChannel(origin, Date.now() - 20_000, { lateAllowanceMs: 60_000 })
    const body = dashSegment(0, 3)
    const before = metricValue(
      await (await fetch(`${origin.control}/metrics`)).text(),
      'liveorigin_object_reads_total',
    )
    const r = await put(origin, channel, segmentPath(0, 3), body, 'east')
    assert.equal(r.status, 201)
    const got = await get(origin, channel, segmentPath(0, 3))
    assert.equal(got.status, 200)
    assert.equal(sha256(got.body), sha256(body))
    const after = metricValue(
      await (await fetch(`${origin.control}/metrics`)).text(),
      'liveorigin_object_reads_total',
    )
    return after - before
  } finally {
    await origin.close()
  }
}

describe('bodies the writer keeps', () => {
  it('a process that ingests and delivers serves a segment it just wrote from memory', async () => {
    assert.equal(await objectReadsAfterPutAndGet(undefined), 0)
  })

  it('a process that only ingests keeps no media segment: the reader reads it from storage', async () => {
    assert.equal(await objectReadsAfterPutAndGet(false), 1)
  })
})
