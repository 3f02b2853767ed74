/**
 * Impossible sample tables in media segments are defects, never stored as clean (docs/security.md):
 * a `trun` claiming 2^32−1 samples over 10 bytes of `mdat`, and one whose durations add up
 * to hours, PUT through HTTP to a templated channel.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createChannel, NO_SHEDDING, put, segmentPath, validCopy } from '../helpers/fixture-channel.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'
import { concat, mkbox, u32s } from '../selection/helpers.js'

/** moof(mfhd, traf(tfhd track 1, base-is-moof, tfdt, trun with data_offset)) + mdat. */
function segment(samples: number, mdatBytes: number, tfdt: number, sampleDuration?: number): Uint8Array {
  const tfhd =
    sampleDuration === undefined
      ? mkbox('tfhd', u32s(0x020000, 1))
      : mkbox('tfhd', u32s(0x020008, 1, sampleDuration))
  const moofFor = (dataOffset: number) =>
    mkbox(
      'moof',
      mkbox('mfhd', u32s(0, 1)),
      mkbox('traf', tfhd, mkbox('tfdt', u32s(0, tfdt)), mkbox('trun', u32s(0x1, samples, dataOffset))),
    )
  const size = moofFor(0).length
  return concat(moofFor(size + 8), mkbox('mdat', new Uint8Array(mdatBytes)))
}

describe('impossible sample tables through ingest', () => {
  let origin: TestOrigin
  let channel: string
  before(async () => {
    origin = await startOrigin(NO_SHEDDING)
    channel = await createChannel(origin, Date.now())
  })
  after(() => origin.close())

  it('a trun of 2^32−1 samples over 10 bytes of mdat is stored as corrupt, with the reason', async () => {
    const r = await put(origin, channel, segmentPath(0, 3), segment(0xffffffff, 10, 2 * 12800), 'east')
    assert.match(
      r.defects,
      /corrupt;reason="[^"]*claims 4294967295 samples but the mdat after it holds 10 bytes/,
    )
    assert.match(r.defects, /;origin/)
  })

  it('samples whose durations add up to hours are corrupt', async () => {
    // 25 samples of 2^31 ticks at 12 800 ticks/s (the video init's timescale): days, for D = 1 s.
    const r = await put(origin, channel, segmentPath(0, 4), segment(25, 1000, 3 * 12800, 0x80000000), 'east')
    assert.match(r.defects, /corrupt;reason="track 1 lasts \d+ ms, more than 4 segment durations"/)
  })

  it('a real segment stays clean', async () => {
    const r = await put(origin, channel, segmentPath(0, 5), validCopy(0, 5, 'east'), 'east')
    assert.equal(r.defects, '')
  })
})
