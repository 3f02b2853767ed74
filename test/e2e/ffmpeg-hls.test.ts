/**
 * Two redundant real ffmpeg encoders (`scripts/encoder.sh`: Debian's ffmpeg, `testsrc2` +
 * `sine`, libx264 + AAC, epoch-locked numbering, HTTP Basic identity) pushing one HLS (fMP4)
 * channel to a real `liveorigin serve` at real time, the second started over 3 s after the
 * first: for every segment number both pipelines' copies carry the same `tfdt` (read back
 * from the origin, one pipeline masked at a time); the first encoder is killed mid-run and
 * hls.js plays on through the kill for 45 s and more, with no stall longer than one segment.
 * The killed encoder's playlists stay stored but stop changing: delivery passes them over
 * (docs/selection.md, "Stale manifests") and answers west's.
 *
 * About 1½ min. The measured numbers are printed.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  assertPlayedThrough,
  assertSameTfdt,
  describeKillRun,
  encoderSuite,
  playThroughKill,
  startRedundantChannel,
} from './ffmpeg-encoders.js'

describe('two epoch-locked ffmpeg HLS encoders with Basic identity, one killed, hls.js playing', () => {
  const suite = encoderSuite('ffmpeg-hls')

  it('same tfdt for each segment number on both pipelines; hls.js plays ≥ 45 s through the kill', {
    timeout: 240_000,
  }, async () => {
    const c = await startRedundantChannel(suite.dir, 'redundant-hls', suite.started)
    const master = `${c.origin.delivery}/${c.channel}/master.m3u8`
    const r = await playThroughKill(c, suite.browser, suite.pages, 'hlsjs', master)
    const compared = await assertSameTfdt(c, r.common)
    // The media playlists hls.js reloaded after the kill came from west once east's had gone stale.
    const playlists = r.responses.filter((x) => /\/(video|audio)\.m3u8/.test(x.url) && x.t > r.killedAt)
    const fromEast = playlists.filter((x) => x.pipeline === 'east')
    console.log(
      `${describeKillRun('hls.js', c, r, compared)}\nmedia playlists after the kill: ${playlists.length} (${fromEast.length} from east, the last ${fromEast.length ? fromEast.at(-1)!.t - r.killedAt : '-'} ms after the kill)`,
    )
    assertPlayedThrough(r)
    assert.ok(
      playlists.some((x) => x.pipeline === 'west'),
      'hls.js got west playlists after the kill',
    )
  })
})
