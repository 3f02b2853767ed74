/**
 * Real ffmpeg encoders (Debian's ffmpeg, `testsrc2` + `sine`, libx264 + AAC) pushing live
 * channels to a real `liveorigin serve` over PUT:
 *
 * - ffmpeg's own DASH muxer with no custom header, in open mode: every object it stores is
 *   pipeline `default`.
 * - The same muxer naming its segments and init segments by `$Bandwidth$`: the origin learns
 *   the templates from its MPD, takes every PUT, tells the two renditions apart by bandwidth
 *   and checks each segment against its own init segment (a copy sent as a later number is
 *   found mis-timed).
 * - Two redundant encoders (`scripts/encoder.sh`, epoch-locked numbering) with HTTP Basic
 *   identity, the second started over 3 s after the first: for every segment number both
 *   pipelines' copies carry the same `tfdt` (read back from the origin, one pipeline masked at
 *   a time); the first encoder is killed mid-run and dash.js plays on through the kill for
 *   45 s and more, with no stall longer than one segment.
 *
 * About 2 min. The measured numbers are printed.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { startOrigin } from '../helpers/origin.js'
import {
  assertPlayedThrough,
  assertSameTfdt,
  describeKillRun,
  encoderSuite,
  playThroughKill,
  run,
  SOURCE,
  startRedundantChannel,
} from './ffmpeg-encoders.js'

/** ffmpeg's DASH muxer PUTting 7 s of the test source to `url`; `extra`: more output options. */
function ffmpegDash(url: string, extra: readonly string[] = []): ReturnType<typeof run> {
  return run('ffmpeg', [
    '-hide_banner',
    ...SOURCE,
    '-t',
    '7',
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0'],
    ...['-c:a', 'aac', '-b:a', '64k'],
    ...['-f', 'dash', '-seg_duration', '2', '-method', 'PUT'],
    ...extra,
    url,
  ])
}

describe('ffmpeg DASH with no custom header, open mode', () => {
  it('stores every segment, init segment and MPD as pipeline default', { timeout: 120_000 }, async () => {
    const origin = await startOrigin()
    try {
      const ffmpeg = ffmpegDash(`${origin.ingest}/plain/manifest.mpd`)
      assert.equal(await ffmpeg.exited, 0, ffmpeg.output())
      const written = [...ffmpeg.output().matchAll(/Opening '[^']*\/plain\/([^']+)' for writing/g)].map(
        (m) => m[1]!,
      )
      // The MPD is written too, but ffmpeg logs its opening only at the verbose level.
      const names = [...new Set([...written, 'manifest.mpd'])]
      assert.ok(names.includes('init-stream0.m4s') && names.includes('init-stream1.m4s'), names.join(' '))
      assert.ok(names.filter((n) => n.startsWith('chunk-')).length >= 4, names.join(' '))
      // ffmpeg opens an init segment's upload before it has the bytes and, now and then, closes
      // it unfinished (the origin stores nothing of a cut-off upload): an init may be missing.
      const missing: string[] = []
      for (const name of names) {
        const r = await fetch(`${origin.delivery}/plain/${name}`)
        await r.arrayBuffer()
        if (r.status === 404 && name.startsWith('init-')) {
          missing.push(name)
          continue
        }
        assert.equal(r.status, 200, name)
        assert.equal(r.headers.get('segment-pipeline'), 'default', name)
      }
      assert.ok(missing.length < 2, `missing: ${missing.join(' ')}`)
      console.log(
        `ffmpeg DASH, open mode, no header: ${names.length - missing.length} objects stored, all pipeline default${missing.length ? `; cut off by ffmpeg: ${missing.join(' ')}` : ''}`,
      )
    } finally {
      await origin.close()
    }
  })
})

describe('ffmpeg DASH naming segments by $Bandwidth$', () => {
  it('every PUT taken, renditions told apart by bandwidth, segments checked against their init segments', {
    timeout: 120_000,
  }, async () => {
    const origin = await startOrigin()
    try {
      const ffmpeg = ffmpegDash(`${origin.ingest}/by-bandwidth/manifest.mpd`, [
        ...['-b:v', '500k'],
        ...[
          '-init_seg_name',
          'init-$Bandwidth$.m4s',
          '-media_seg_name',
          'chunk-$Bandwidth$-$Number%05d$.m4s',
        ],
      ])
      assert.equal(await ffmpeg.exited, 0, ffmpeg.output())
      assert.doesNotMatch(ffmpeg.output(), /HTTP error|Server returned/, ffmpeg.output())
      const r = await fetch(`${origin.control}/api/v1/channels/by-bandwidth/status`)
      const status = (await r.json()) as {
        config: { media: string; initialization: string }
        timeline: {
          rendition: string
          segments: { number: number; copies: { defects: string }[] }[]
        }[]
      }
      assert.equal(status.config.media, 'chunk-$Bandwidth$-$Number%05d$.m4s')
      assert.equal(status.config.initialization, 'init-$Bandwidth$.m4s')
      assert.deepEqual(status.timeline.map((t) => t.rendition).sort(), ['@500000', '@64000'])
      for (const t of status.timeline) {
        const bandwidth = t.rendition.slice(1)
        for (const n of [1, 2, 3]) {
          const s = t.segments.find((x) => x.number === n)
          assert.equal(s?.copies[0]?.defects, '', `${t.rendition} ${n}: ${JSON.stringify(s)}`)
          const g = await fetch(
            `${origin.delivery}/by-bandwidth/chunk-${bandwidth}-${String(n).padStart(5, '0')}.m4s`,
          )
          await g.arrayBuffer()
          assert.equal(g.status, 200)
        }
      }
      // Each rendition's segments are checked against its own init segment: segment 3 sent again
      // as segment 5 is found mis-timed, which only that init segment's timescale can tell.
      // ffmpeg now and then closes an init segment's upload unfinished (see the test above): a
      // rendition whose init segment was not stored is passed over, one at most.
      let checked = 0
      for (const t of status.timeline) {
        const bandwidth = t.rendition.slice(1)
        const init = await fetch(`${origin.delivery}/by-bandwidth/init-${bandwidth}.m4s`)
        await init.arrayBuffer()
        if (init.status !== 200) continue
        const three = await fetch(`${origin.delivery}/by-bandwidth/chunk-${bandwidth}-00003.m4s`)
        const body = Buffer.from(await three.arrayBuffer())
        const put = await fetch(`${origin.ingest}/by-bandwidth/chunk-${bandwidth}-00005.m4s`, {
          method: 'PUT',
          body,
          headers: { 'Pipeline-Id': 'check' },
        })
        await put.text()
        assert.equal(put.status, 201)
        assert.match(put.headers.get('segment-defects') ?? '', /timing-discontinuity/, t.rendition)
        checked++
      }
      assert.ok(checked >= 1, 'no init segment stored')
      console.log(
        `ffmpeg DASH by $Bandwidth$: renditions ${status.timeline.map((t) => t.rendition).join(', ')}`,
      )
    } finally {
      await origin.close()
    }
  })
})

describe('two epoch-locked ffmpeg encoders with Basic identity, one killed, dash.js playing', () => {
  const suite = encoderSuite('ffmpeg')

  it('same tfdt for each segment number on both pipelines; dash.js plays ≥ 45 s through the kill', {
    timeout: 240_000,
  }, async () => {
    const c = await startRedundantChannel(suite.dir, 'redundant', suite.started)
    const mpd = `${c.origin.delivery}/${c.channel}/manifest.mpd`
    const r = await playThroughKill(c, suite.browser, suite.pages, 'dashjs', mpd)
    // Each pipeline's copies, read back through delivery with the other pipeline masked.
    const compared = await assertSameTfdt(c, r.common)
    console.log(describeKillRun('dash.js', c, r, compared))
    assertPlayedThrough(r)
  })
})
