import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ADMITTED,
  type AdmissionThresholds,
  LatencyWindow,
  nextShedState,
  pressureOf,
} from '../../src/overload/admission.js'
import { classifyRead } from '../../src/overload/classify.js'
import { parseChannelConfig } from '../../src/timing/channel-config.js'

const thresholds: AdmissionThresholds = {
  eventLoopDelayMs: 50,
  storageLatencyMs: 100,
  maxInFlight: 200,
  liveEdgeFactor: 2,
}

describe('admission', () => {
  it('pressure is the largest measurement over its threshold', () => {
    assert.equal(pressureOf({ eventLoopDelayMs: 25, storageLatencyMs: 10, inFlight: 0 }, thresholds), 0.5)
    assert.equal(pressureOf({ eventLoopDelayMs: 0, storageLatencyMs: 300, inFlight: 0 }, thresholds), 3)
    assert.equal(pressureOf({ eventLoopDelayMs: 0, storageLatencyMs: 0, inFlight: 300 }, thresholds), 1.5)
  })

  it('sheds DVR first, live edge only when pressure persists after DVR has been shed for settleMs', () => {
    const timing = { minShedMs: 2000, settleMs: 3000 }
    let s = nextShedState(ADMITTED, 0.9, 2, 0, timing)
    assert.deepEqual([s.dvr, s.live], [false, false])
    s = nextShedState(s, 5, 2, 100, timing)
    assert.deepEqual([s.dvr, s.live], [true, false], 'a spike sheds DVR, not live')
    s = nextShedState(s, 5, 2, 2000, timing)
    assert.equal(s.live, false, 'live waits for the settle time')
    s = nextShedState(s, 5, 2, 3100, timing)
    assert.deepEqual([s.dvr, s.live], [true, true], 'pressure that outlasts DVR shedding sheds live')
    s = nextShedState(s, 1.5, 2, 4000, timing)
    assert.equal(s.live, true, 'live stays shed for minShedMs')
    s = nextShedState(s, 1.5, 2, 5200, timing)
    assert.deepEqual([s.dvr, s.live], [true, false], 'live comes back first (below 0.8 × factor)')
    s = nextShedState(s, 0.9, 2, 6000, timing)
    assert.equal(s.dvr, true, 'hysteresis: DVR stays shed above 0.8')
    s = nextShedState(s, 0.5, 2, 6100, timing)
    assert.equal(s.dvr, false)
  })

  it('never sheds DVR for less than minShedMs', () => {
    const s1 = nextShedState(ADMITTED, 1, 2, 1000)
    assert.equal(nextShedState(s1, 0, 2, 1500).dvr, true)
    assert.equal(nextShedState(s1, 0, 2, 3000).dvr, false)
  })

  it('latency window keeps the operations started in the last window', () => {
    const w = new LatencyWindow(1000)
    for (let i = 1; i <= 10; i++) w.add(i * 10, 100)
    assert.equal(w.quantile(0.9, 500), 100)
    for (let i = 0; i < 5; i++) w.add(5, 1500)
    assert.equal(w.quantile(0.9, 1600), 5)
    assert.equal(w.quantile(0.5, 5000), 0)
  })

  it('a few slow operations on an idle process are not pressure', () => {
    const w = new LatencyWindow(1000)
    for (let i = 0; i < 4; i++) w.add(500, 100)
    assert.equal(w.quantile(0.9, 200), 0)
    w.add(500, 150)
    assert.equal(w.quantile(0.9, 200), 500)
  })

  it('classifies from the template in memory: near the live edge is live, older is DVR', () => {
    const cfg = parseChannelConfig({ segmentDurationMs: 1000, availabilityStartTime: 0 })
    const now = 100_500 // live edge: segment 100
    const media = (number: number) => ({ kind: 'media', rendition: 'v', number }) as const
    assert.equal(classifyRead(media(100), cfg, now, 3), 'live')
    assert.equal(classifyRead(media(97), cfg, now, 3), 'live')
    assert.equal(classifyRead(media(96), cfg, now, 3), 'dvr')
    assert.equal(classifyRead(media(500), cfg, now, 3), 'live')
    assert.equal(classifyRead({ kind: 'init', rendition: 'v' }, cfg, now, 3), 'live')
    assert.equal(classifyRead({ kind: 'manifest', format: 'dash' }, cfg, now, 3), 'live')
    assert.equal(classifyRead(media(5), undefined, now, 3), 'live')
  })
})
