/**
 * Inspection through HTTP on real fixture bytes (docs/protocol.md#ingest, #quality-control-and-selection): the origin inspects each
 * fMP4 media segment as it is uploaded and echoes what it found in the PUT's
 * `Segment-Defects`, merged with what the packager reported; GETs pass it on.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { get, originWithPastChannel, put, segmentPath } from '../helpers/fixture-channel.js'
import type { TestOrigin } from '../helpers/origin.js'
import { box, dashSegment, setSampleCount } from '../selection/helpers.js'

describe('inspection over HTTP: defects the origin finds, echoed on the PUT', () => {
  let origin: TestOrigin
  let ch: string
  before(async () => {
    ;({ origin, channel: ch } = await originWithPastChannel())
  })
  after(() => origin.close())

  it('every fixture segment under its own number → no defects', async () => {
    for (const rendition of [0, 1, 2]) {
      for (const n of [1, 2, 3, 4, 5, 6]) {
        const r = await put(origin, ch, segmentPath(rendition, n), dashSegment(rendition, n), 'east')
        assert.equal(r.defects, '', `seg-${rendition}-${n}`)
      }
    }
  })

  it('a segment PUT under the wrong number → timing-discontinuity, with the offset in ms', async () => {
    // seg-0-00004 starts at 3 s; under number 2 it should start at 1 s.
    const r = await put(origin, ch, segmentPath(0, 2), dashSegment(0, 4), 'west')
    assert.match(r.defects, /^timing-discontinuity;ms=2000;track=1;origin$/)
    const audio = await put(origin, ch, segmentPath(2, 5), dashSegment(2, 3), 'west')
    assert.match(audio.defects, /^timing-discontinuity;ms=-2\d\d\d;track=1;origin$/)
  })

  it('truncated → corrupt, naming where it ends', async () => {
    const whole = dashSegment(1, 3)
    const mdat = box(whole, 'mdat')
    const cut = whole.subarray(0, mdat.start + 1000)
    const r = await put(origin, ch, segmentPath(1, 3), cut, 'west')
    assert.match(r.defects, /^corrupt;reason="segment ends inside the mdat box at byte \d+[^"]*";origin$/)
    // Cut inside the moof: still corrupt.
    const inMoof = whole.subarray(0, box(whole, 'trun').start + 20)
    assert.match((await put(origin, ch, segmentPath(1, 4), inMoof, 'west')).defects, /^corrupt;/)
  })

  it('cut short (fewer samples than D holds) → short, with the missing ms', async () => {
    // 20 of 25 frames at 25 fps: 200 ms short of D = 1 s.
    const bytes = dashSegment(0, 5)
    setSampleCount(bytes, 20)
    const r = await put(origin, ch, segmentPath(0, 5), bytes, 'west')
    assert.match(r.defects, /^short;ms=200;track=1;origin$/)
  })

  it('packager-reported defects are merged with found ones, the packager’s first', async () => {
    const r = await put(origin, ch, segmentPath(0, 6), dashSegment(0, 3), 'west', 'black;origin, frozen')
    // The packager's ;origin is dropped: position says who found what.
    assert.match(r.defects, /^black, frozen, timing-discontinuity;ms=-3000;track=1;origin$/)
  })

  it('a GET passes the stored defects on when it serves a defective copy', async () => {
    // East withdraws its copy of segment 1 of rendition 1; west's is defective.
    const del = await fetch(`${origin.ingest}/${ch}/${segmentPath(1, 1)}`, {
      method: 'DELETE',
      headers: { 'Pipeline-Id': 'east' },
    })
    assert.equal(del.status, 200)
    await del.arrayBuffer()
    const bytes = dashSegment(1, 1)
    setSampleCount(bytes, 10)
    const r = await put(origin, ch, segmentPath(1, 1), bytes, 'west')
    assert.match(r.defects, /^short;ms=600;track=1;origin$/)
    const g = await get(origin, ch, segmentPath(1, 1))
    assert.equal(g.status, 200)
    assert.equal(g.headers.get('segment-pipeline'), 'west')
    assert.equal(g.headers.get('segment-defects'), r.defects)
  })
})
