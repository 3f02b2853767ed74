/**
 * MPD learning on a worker thread: answers as the parser does, refuses with catalogued
 * errors, and a parse past its deadline is refused.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { isLiveOriginError } from '../../src/errors.js'
import { MpdLearner } from '../../src/ingest/mpd-learner.js'
import { learnChannelFromMpd } from '../../src/timing/mpd.js'

const MPD = readFileSync(new URL('../fixtures/dash/manifest-live.mpd', import.meta.url), 'utf8')

describe('MpdLearner', () => {
  it('learns what the parser learns, and refuses what it refuses with a 400', async () => {
    const learner = new MpdLearner()
    try {
      assert.deepEqual(
        await learner.learn(MPD, 'dash/manifest.mpd'),
        learnChannelFromMpd(MPD, { path: 'dash/manifest.mpd' }),
      )
      const err = await learner.learn('<MPD', 'm.mpd').then(
        () => undefined,
        (e: unknown) => e,
      )
      assert.ok(isLiveOriginError(err))
      assert.equal(err.code, 'LIVEORIGIN_ERR_BAD_REQUEST')
      assert.match(err.message, /not well-formed XML/)
    } finally {
      await learner.close()
    }
  })

  it('a parse past its deadline ends with a 400 naming the deadline', async () => {
    const learner = new MpdLearner({ deadlineMs: 1 })
    try {
      const timeline = `<SegmentTimeline>${'<S t="0" d="1000000" />'.repeat(100_000)}</SegmentTimeline>`
      const slow = MPD.replace('</SegmentTemplate>', `${timeline}</SegmentTemplate>`)
      const err = await learner.learn(slow, 'm.mpd').then(
        () => undefined,
        (e: unknown) => e,
      )
      assert.ok(isLiveOriginError(err))
      assert.match(err.message, /took longer than 1 ms to parse/)
    } finally {
      await learner.close()
    }
  })

  it('after close, MPDs are refused', async () => {
    const learner = new MpdLearner()
    await learner.close()
    await assert.rejects(learner.learn(MPD, 'm.mpd'), /shutting down/)
  })
})
