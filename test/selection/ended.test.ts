import assert from 'node:assert/strict'
import { it } from 'node:test'
import { copyEnded, endedMarker, manifestEnded } from '../../src/selection/ended.js'

const mpd = (attrs: string, prefix = '') =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<${prefix}MPD xmlns${prefix ? `:${prefix.slice(0, -1)}` : ''}="urn:mpeg:dash:schema:mpd:2011" ${attrs}>\n<${prefix}Period type="static"/></${prefix}MPD>\n`

it('a DASH MPD has ended when its MPD element says type="static"', () => {
  assert.equal(manifestEnded(mpd('type="static" mediaPresentationDuration="PT60S"'), 'dash'), true)
  assert.equal(manifestEnded(mpd("profiles='x' type='static'"), 'dash'), true)
  assert.equal(manifestEnded(mpd('type="static"', 'mpd:'), 'dash'), true)
  assert.equal(manifestEnded(mpd('type="dynamic" minimumUpdatePeriod="PT2S"'), 'dash'), false)
  // No type: the default is static, but a packager that leaves it out is not saying it stopped.
  assert.equal(manifestEnded(mpd('profiles="urn:mpeg:dash:profile:isoff-live:2011"'), 'dash'), false)
  assert.equal(manifestEnded(mpd('subtype="static" type="dynamic"'), 'dash'), false)
  assert.equal(manifestEnded('not xml', 'dash'), false)
  // Spaces around `=` and inside the value are allowed.
  assert.equal(manifestEnded(mpd('type = "static"'), 'dash'), true)
  assert.equal(manifestEnded(mpd('type=" static "'), 'dash'), true)
})

it('an HLS playlist has ended with an #EXT-X-ENDLIST line', () => {
  const playlist = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg1.ts\n'
  assert.equal(manifestEnded(`${playlist}#EXT-X-ENDLIST\n`, 'hls'), true)
  assert.equal(manifestEnded(`${playlist}#EXT-X-ENDLIST\r\n`, 'hls'), true)
  assert.equal(manifestEnded(`${playlist}#EXT-X-ENDLIST`, 'hls'), true)
  assert.equal(manifestEnded(playlist, 'hls'), false)
  assert.equal(manifestEnded(`${playlist}# EXT-X-ENDLIST soon\n`, 'hls'), false)
  assert.equal(manifestEnded(`${playlist}#EXT-X-ENDLISTX\n`, 'hls'), false)
  // The tag starts its line: inside a URI or a comment it says nothing.
  assert.equal(manifestEnded(`${playlist}seg2.ts?x=#EXT-X-ENDLIST\n`, 'hls'), false)
})

it('marks ended manifests only; the marker is read back from the stored value', () => {
  const ended = endedMarker({ kind: 'manifest', format: 'hls' }, () => '#EXTM3U\n#EXT-X-ENDLIST\n')
  assert.deepEqual(ended, [{ kind: 'ended', params: {}, source: 'origin' }])
  assert.deepEqual(
    endedMarker({ kind: 'manifest', format: 'hls' }, () => '#EXTM3U\n'),
    [],
  )
  let read = false
  const media = endedMarker({ kind: 'media', rendition: 'v', number: 1 }, () => {
    read = true
    return '#EXT-X-ENDLIST'
  })
  assert.deepEqual([media, read], [[], false], 'other objects are not read')
  assert.equal(copyEnded('ended;origin'), true)
  assert.equal(copyEnded('short;ms=120;origin, ended;origin'), true)
  assert.equal(copyEnded(''), false)
  assert.equal(copyEnded('short;ms=120'), false)
  assert.equal(copyEnded('not-ended-really'), false)
})
