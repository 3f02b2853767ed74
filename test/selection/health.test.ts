import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Channel } from '../../src/channels/registry.js'
import { HealthTracker, type SegmentDelivery } from '../../src/selection/health.js'
import { HealthBook } from '../../src/selection/health-book.js'
import type { ObjectMeta } from '../../src/storage/types.js'
import { parseChannelConfig } from '../../src/timing/channel-config.js'
import { compilePathMatcher } from '../../src/timing/template.js'

const ok = (pipeline: string, number: number, over: Partial<SegmentDelivery> = {}): SegmentDelivery => ({
  pipeline,
  rendition: 'video',
  number,
  defects: [],
  late: false,
  at: 1000 * number,
  ...over,
})

describe('HealthTracker', () => {
  it('is healthy while one of the last 3 expected segments was delivered', () => {
    const h = new HealthTracker()
    h.record(ok('east', 10))
    assert.equal(h.isHealthy('east', 10), true)
    assert.equal(h.isHealthy('east', 12), true)
    assert.equal(h.isHealthy('east', 13), false)
    assert.equal(h.isHealthy('east', 9), true, 'a segment ahead of the edge counts too')
    assert.equal(h.isHealthy('west', 10), false, 'never seen')
    assert.equal(new HealthTracker({ window: 1 }).isHealthy('east', 10), false)
  })

  it('counts deliveries, late ones and defective ones, once per segment', () => {
    const h = new HealthTracker()
    h.record(ok('east', 1))
    h.record(ok('east', 2, { late: true, defects: ['black', 'short'] }))
    h.record(ok('east', 2, { rendition: 'audio', defects: ['silence'] }))
    // A replacement of video 2, now clean: still one delivery, no longer defective.
    h.record(ok('east', 2, { at: 2500 }))
    const [east] = h.snapshot(2)
    assert.deepEqual(east, {
      pipeline: 'east',
      healthy: true,
      lastNumber: 2,
      lastAt: 2500,
      delivered: 3,
      late: 1,
      missing: 0,
      defective: 1,
      defects: { black: 1, short: 1, silence: 1 },
      renditions: { video: 2, audio: 2 },
    })
  })

  it('counts missing segments when they are settled, per rendition', () => {
    const h = new HealthTracker()
    for (const n of [1, 2, 3, 5, 8]) h.record(ok('east', n))
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8]) h.record(ok('west', n))
    h.record(ok('west', 4, { rendition: 'audio' }))
    h.settle(6)
    const byId = Object.fromEntries(h.snapshot().map((p) => [p.pipeline, p]))
    assert.equal(byId.east!.missing, 2, 'east missed 4 and 6')
    assert.equal(byId.west!.missing, 2, 'west audio started at 4 and missed 5 and 6')
    h.settle(6)
    h.settle(3)
    assert.equal(h.snapshot()[0]!.missing, 2, 'settling again changes nothing')
    h.settle(8)
    assert.equal(h.snapshot()[0]!.missing, 3, 'east then missed 7')
    // East's 6 turns up after all.
    h.record(ok('east', 6, { late: true }))
    assert.deepEqual([h.snapshot()[0]!.missing, h.snapshot()[0]!.late, h.snapshot()[0]!.delivered], [2, 1, 6])
  })

  it('does not count a rendition as missing segments before it first delivered', () => {
    const h = new HealthTracker()
    h.settle(100)
    h.record(ok('east', 50))
    h.settle(101)
    assert.deepEqual([h.snapshot()[0]!.missing, h.snapshot()[0]!.delivered], [1, 1])
  })

  it('keeps memory bounded per rendition', () => {
    const h = new HealthTracker({ tracked: 16 })
    for (let n = 1; n <= 10_000; n++) h.record(ok('east', n))
    h.settle(10_000)
    assert.deepEqual([h.snapshot()[0]!.missing, h.snapshot()[0]!.delivered], [0, 10_000])
  })

  it('lists pipelines and renditions in a stable order', () => {
    const h = new HealthTracker()
    h.record(ok('west', 1, { rendition: 'v2' }))
    h.record(ok('east', 1, { rendition: 'a1' }))
    assert.deepEqual(h.pipelines(), ['east', 'west'])
    assert.deepEqual(h.renditions(), ['a1', 'v2'])
    assert.equal(h.lastNumber('west'), 1)
    assert.equal(h.snapshot()[0]!.healthy, null)
  })
})

describe('HealthBook', () => {
  const AST = Date.UTC(2026, 0, 1)
  const D = 2000
  const config = parseChannelConfig({
    segmentDurationMs: D,
    availabilityStartTime: AST,
    media: '$RepresentationID$/seg-$Number%05d$.m4s',
    initialization: '$RepresentationID$/init.mp4',
    pipelines: ['east', 'west'],
  })
  const channel = (masks: Channel['masks'] = []): Channel => ({
    name: 'ch',
    config,
    matcher: compilePathMatcher(config),
    source: 'api',
    masks,
    createdAt: AST,
    endedAt: undefined,
  })
  /** A(N) with S = 1. */
  const A = (n: number) => AST + n * D
  const copy = (pipeline: string, committedAt: number) => ({ pipeline, committedAt }) as ObjectMeta

  it('serves manifests from the most preferred healthy pipeline', () => {
    const book = new HealthBook()
    const ch = channel()
    const manifests = [copy('west', A(10)), copy('east', A(10) - 5)]
    // Nothing known yet: the freshest copy.
    assert.equal(book.preferred(ch, manifests, A(10))?.pipeline, 'west')
    for (let n = 1; n <= 10; n++) {
      book.committed(ch, `video/seg-${String(n).padStart(5, '0')}.m4s`, 'east', A(n) + 100)
      book.committed(ch, `video/seg-${String(n).padStart(5, '0')}.m4s`, 'west', A(n) + 100)
    }
    assert.equal(book.preferred(ch, manifests, A(10) + 200)?.pipeline, 'east')
    // East stops; west goes on. Three segments later east is no longer healthy.
    for (let n = 11; n <= 13; n++)
      book.committed(ch, `video/seg-${String(n).padStart(5, '0')}.m4s`, 'west', A(n) + 100)
    assert.equal(book.preferred(ch, manifests, A(12) + 200)?.pipeline, 'east')
    assert.equal(book.preferred(ch, manifests, A(13) + 200)?.pipeline, 'west')
    assert.deepEqual(book.healthyPipelines(ch, A(13) + 200), ['west'])
    // Masking west at the live edge sends manifests back to east's (freshest) copy.
    const masked = channel([{ pipeline: 'west', from: 13, to: 13 }])
    assert.equal(book.preferred(masked, [copy('west', 1), copy('east', 2)], A(13) + 200)?.pipeline, 'east')
  })

  it('counts late, missing and defective segments for the status view', () => {
    const book = new HealthBook()
    const ch = channel()
    book.committed(ch, 'video/seg-00001.m4s', 'east', A(1) + 100)
    book.committed(ch, 'video/seg-00002.m4s', 'east', A(2) + D / 4 + 1, 'black, short;origin')
    book.committed(ch, 'video/seg-00004.m4s', 'east', A(4) + 100)
    book.committed(ch, 'video/init.mp4', 'east', A(4) + 100)
    book.committed(ch, 'manifest.mpd', 'east', A(4) + 100)
    book.committed(undefined, 'video/seg-00005.m4s', 'east', A(5))
    // R = 2·D: by A(5)+R, segments up to 5 are settled; 3 and 5 never came.
    const [east] = book.snapshot(ch, A(5) + 2 * D)
    assert.deepEqual(
      {
        delivered: east!.delivered,
        late: east!.late,
        missing: east!.missing,
        defective: east!.defective,
        defects: east!.defects,
        healthy: east!.healthy,
        lastNumber: east!.lastNumber,
      },
      // The live edge is 7 by then and east's last segment is 4: not one of the last 3.
      {
        delivered: 3,
        late: 1,
        missing: 2,
        defective: 1,
        defects: { black: 1, short: 1 },
        healthy: false,
        lastNumber: 4,
      },
    )
    assert.deepEqual(book.renditions('ch'), ['video'])
    assert.deepEqual(book.renditions('other'), [])
  })

  it('serves the freshest copy on a channel without a template', () => {
    const book = new HealthBook()
    const bare: Channel = { ...channel(), config: undefined, matcher: undefined }
    assert.equal(book.preferred(bare, [copy('a', 5), copy('b', 9), copy('c', 9)], 10)?.pipeline, 'b')
    assert.deepEqual(book.snapshot(bare, 10), [])
  })
})
