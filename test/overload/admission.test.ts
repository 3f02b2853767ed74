import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  ADMITTED,
  AdmissionController,
  type AdmissionThresholds,
  DEFAULT_SHED_TIMING,
  type EventLoopSampler,
  HYSTERESIS,
  isReadSample,
  LatencyWindow,
  MAX_SAMPLES,
  MIN_SAMPLES,
  nextShedState,
  ownEventLoopDelay,
  ownReading,
  type PressureReading,
  pressureOf,
  type ShedState,
} from '../../src/overload/admission.js'
import { classifyRead, liveReachSegments, sheddable } from '../../src/overload/classify.js'
import type { EventLoopSample } from '../../src/overload/event-loop.js'
import { processEventLoop } from '../../src/overload/event-loop.js'
import { parseChannelConfig } from '../../src/timing/channel-config.js'
import { presentationDelayMs } from '../../src/timing/schedule.js'

const thresholds: AdmissionThresholds = {
  eventLoopDelayMs: 50,
  storageLatencyMs: 100,
  maxInFlight: 200,
  liveEdgeFactor: 2,
}
/** Not the defaults, so that a test notices which timing is used. */
const timing = { minShedMs: 1500, settleMs: 2500 }
const reading = (storageLatencyMs: number, inFlight = 0, eventLoopDelayMs = 0): PressureReading => ({
  eventLoopDelayMs,
  storageLatencyMs,
  inFlight,
})
const shedAt = (s: ShedState) => [s.dvr, s.live]

describe('read latency samples (what admission measures)', () => {
  type Tier = 'storage' | 'cache'
  type Result = 'ok' | 'miss' | 'error'
  const feed = (w: LatencyWindow, events: Array<[Tier, string, Result, number]>) => {
    for (const [tier, op, result, ms] of events) if (isReadSample(tier, op, result)) w.add(ms, 100)
  }

  it('a slow storage replica does not shed live reads while the shared cache tier answers them', () => {
    const w = new LatencyWindow(1000, () => 500)
    // 19 reads answered by memcached in 2 ms, one segment that missed it and waited 900 ms
    // for storage (a stalled replica), plus the periodic channel reload, also slow.
    const events: Array<[Tier, string, Result, number]> = []
    for (let i = 0; i < 19; i++) events.push(['cache', 'get', 'ok', 2])
    events.push(
      ['cache', 'get', 'miss', 1],
      ['storage', 'list', 'ok', 900],
      ['storage', 'listRecords', 'ok', 900],
    )
    feed(w, events)
    assert.equal(w.size(), 20, 'one sample per answered read: the miss and the reload are not samples')
    assert.equal(w.quantile(0.9), 2)
    const pressure = pressureOf(reading(w.quantile(0.9)), thresholds)
    assert.ok(pressure < 1, `pressure ${pressure}`)
  })

  it('when storage answers the reads, its latency is what admission sees, failures included', () => {
    const w = new LatencyWindow(1000, () => 500)
    const events: Array<[Tier, string, Result, number]> = []
    for (let i = 0; i < 10; i++) {
      events.push(
        ['cache', 'get', 'miss', 1],
        ['storage', i % 2 ? 'getChunk' : 'list', i < 8 ? 'ok' : 'error', 300],
      )
    }
    feed(w, events)
    assert.equal(w.size(), 10)
    assert.equal(w.quantile(0.9), 300)
    assert.ok(pressureOf(reading(w.quantile(0.9)), thresholds) >= 1)
  })

  it('which operations are samples', () => {
    assert.deepEqual(
      ['list', 'getChunk', 'getRecord', 'listRecords', 'putChunk', 'commit'].map((op) =>
        isReadSample('storage', op, 'ok'),
      ),
      [true, true, true, false, false, false],
    )
    assert.deepEqual(
      (['ok', 'miss', 'error'] as const).map((r) => isReadSample('cache', 'get', r)),
      [true, false, false],
      'a cache get counts only when it answered',
    )
    assert.equal(isReadSample('cache', 'getLocal', 'ok'), false, 'held-request polls of the local zone')
    assert.equal(isReadSample('cache', 'set', 'ok'), false)
  })
})

describe('latency window', () => {
  it('sorts the samples: p90 of ten values fed in any order is the ninth smallest, not the largest', () => {
    const w = new LatencyWindow(1000, () => 500)
    for (const ms of [70, 100, 10, 90, 30, 50, 20, 80, 60, 40]) w.add(ms, 100)
    assert.equal(w.quantile(0.9), 90)
    assert.equal(w.quantile(0.5), 50)
    assert.equal(w.quantile(0.51), 60)
    assert.equal(w.quantile(0), 10)
  })

  it('takes the nearest rank, clamped to the samples: the quantile 1 is the largest, 0 the smallest', () => {
    const w = new LatencyWindow(1000, () => 500)
    for (const ms of [3, 9, 1, 7, 5]) w.add(ms, 100)
    assert.equal(w.quantile(1), 9)
    assert.equal(w.quantile(0.99), 9)
    assert.equal(w.quantile(0.8), 7)
    assert.equal(w.quantile(0.81), 9)
    assert.equal(w.quantile(2), 9, 'above 1: the largest')
    assert.equal(w.quantile(-1), 1, 'below 0: the smallest')
  })

  it(`says nothing below ${MIN_SAMPLES} samples (one slow read on an idle process is not pressure)`, () => {
    const w = new LatencyWindow(1000, () => 200)
    for (let i = 0; i < MIN_SAMPLES - 1; i++) w.add(500, 100)
    assert.equal(w.quantile(0.9), 0)
    w.add(500, 150)
    assert.equal(w.quantile(0.9), 500)
  })

  it('keeps the operations started in the last window; one that started exactly at its start counts', () => {
    let now = 500
    const w = new LatencyWindow(1000, () => now)
    for (let i = 1; i <= 10; i++) w.add(i * 10, 100)
    assert.equal(w.quantile(0.9), 90)
    now = 1100 // the window starts at 100: every sample still counts
    assert.equal(w.size(), 10)
    assert.equal(w.quantile(1), 100)
    for (let i = 0; i < 5; i++) w.add(5, 1500)
    now = 1600 // the first ten started before 600
    assert.equal(w.quantile(0.9), 5)
    assert.equal(w.size(), 5)
    now = 5000
    assert.equal(w.quantile(0.5), 0)
    assert.equal(w.size(), 0)
  })

  it('dates a sample by its start: now minus its duration unless given', () => {
    let now = 10_000
    const w = new LatencyWindow(1000, () => now)
    w.add(800) // started at 9200
    now = 10_150
    assert.equal(w.size(), 1)
    now = 10_250 // the window starts at 9250
    assert.equal(w.size(), 0)
  })

  it(`keeps at most ${MAX_SAMPLES} samples, dropping the oldest`, () => {
    const w = new LatencyWindow(1000, () => 10)
    w.add(1000, 0)
    for (let i = 0; i < MAX_SAMPLES; i++) w.add(1, 1)
    assert.equal(w.size(), MAX_SAMPLES)
    assert.equal(w.quantile(1), 1, 'the oldest (1000 ms) sample was dropped')
  })

  it('uses performance.now by default', () => {
    const w = new LatencyWindow(60_000)
    for (let i = 0; i < MIN_SAMPLES; i++) w.add(7)
    assert.equal(w.quantile(0.5), 7)
    assert.equal(w.quantile(0.5, performance.now() + 120_000), 0)
  })
})

describe('pressure', () => {
  it('is the largest measurement over its threshold', () => {
    assert.equal(pressureOf({ eventLoopDelayMs: 25, storageLatencyMs: 10, inFlight: 0 }, thresholds), 0.5)
    assert.equal(pressureOf({ eventLoopDelayMs: 0, storageLatencyMs: 300, inFlight: 0 }, thresholds), 3)
    assert.equal(pressureOf({ eventLoopDelayMs: 0, storageLatencyMs: 0, inFlight: 300 }, thresholds), 1.5)
    assert.equal(pressureOf({ eventLoopDelayMs: 100, storageLatencyMs: 50, inFlight: 100 }, thresholds), 2)
  })

  it("counts event-loop delay by the process's own share of busy time (the smaller of utilization and CPU)", () => {
    const s = (delayMs: number, utilization: number, cpu: number): EventLoopSample => ({
      delayMs,
      utilization,
      cpu,
    })
    // Another program loads the machine: timers are late, the process is mostly idle.
    assert.equal(ownEventLoopDelay(s(300, 0.1, 0.5)), 30)
    // … or has a little work that the kernel runs slowly: the loop looks busy, the CPU says not.
    assert.equal(ownEventLoopDelay(s(300, 0.8, 0.02)), 6)
    // The process's own work: busy loop, CPU used (above 1 with worker threads).
    assert.equal(ownEventLoopDelay(s(300, 1, 1.6)), 300)
    assert.equal(ownEventLoopDelay(s(300, 1.2, 1.4)), 300)
    assert.equal(ownEventLoopDelay(s(300, -0.5, 0.5)), 0)
  })

  it('storage latency counts beyond the event-loop delay of the same time; without a sample, as measured', () => {
    const loop: EventLoopSample = { delayMs: 150, utilization: 0.5, cpu: 0.4 }
    assert.deepEqual(ownReading(loop, { storageLatencyMs: 400, inFlight: 7 }), {
      eventLoopDelayMs: 60,
      storageLatencyMs: 250,
      inFlight: 7,
    })
    assert.deepEqual(ownReading(loop, { storageLatencyMs: 100, inFlight: 0 }), {
      eventLoopDelayMs: 60,
      storageLatencyMs: 0,
      inFlight: 0,
    })
    assert.deepEqual(ownReading(undefined, { storageLatencyMs: 100, inFlight: 3 }), {
      eventLoopDelayMs: 0,
      storageLatencyMs: 100,
      inFlight: 3,
    })
  })

  it('measures this process: its own busy time shows as utilization and CPU', () => {
    const loop = processEventLoop(10_000)
    const started = performance.now()
    while (performance.now() - started < 100) {
      // busy on purpose
    }
    const s = loop.sample()
    loop.stop()
    assert.ok(s.utilization > 0 && s.utilization <= 1, `utilization ${s.utilization}`)
    assert.ok(s.cpu > 0, `cpu ${s.cpu}`)
    assert.ok(s.delayMs >= 0)
  })
})

describe('shed state', () => {
  it('starts with every class admitted', () => {
    assert.deepEqual(ADMITTED, { dvr: false, live: false, dvrSince: 0, liveSince: 0 })
    assert.deepEqual(DEFAULT_SHED_TIMING, { minShedMs: 2000, settleMs: 3000 })
    assert.equal(HYSTERESIS, 0.8)
  })

  it('sheds DVR at pressure 1 (not below), from that moment', () => {
    assert.deepEqual(nextShedState(ADMITTED, 0.99, 2, 100, timing), ADMITTED)
    assert.deepEqual(nextShedState(ADMITTED, 1, 2, 100, timing), {
      dvr: true,
      live: false,
      dvrSince: 100,
      liveSince: 0,
    })
  })

  it('sheds DVR first; live edge only when pressure ≥ factor persists settleMs after DVR was shed', () => {
    let s = nextShedState(ADMITTED, 5, 2, 1000, timing)
    assert.deepEqual(shedAt(s), [true, false], 'a spike sheds DVR, not live')
    s = nextShedState(s, 5, 2, 3499, timing)
    assert.deepEqual(shedAt(s), [true, false], 'live waits for the settle time')
    assert.deepEqual(shedAt(nextShedState(s, 1.99, 2, 3500, timing)), [true, false], 'below the factor')
    const live = nextShedState(s, 2, 2, 3500, timing)
    assert.deepEqual(live, { dvr: true, live: true, dvrSince: 1000, liveSince: 3500 })
  })

  it('never sheds live while DVR is admitted, even above a factor below 1', () => {
    const old: ShedState = { dvr: false, live: false, dvrSince: 0, liveSince: 0 }
    const s = nextShedState(old, 0.9, 0.5, 100_000, timing)
    assert.deepEqual(shedAt(s), [false, false])
  })

  it('keeps live shed for minShedMs and while pressure stays at 80 % of the factor or more', () => {
    const live: ShedState = { dvr: true, live: true, dvrSince: 0, liveSince: 10_000 }
    assert.equal(nextShedState(live, 0, 2, 11_499, timing).live, true, 'minimum refusal')
    assert.equal(nextShedState(live, 1.6, 2, 20_000, timing).live, true, 'hysteresis: exactly 0.8 × factor')
    assert.equal(nextShedState(live, 5, 2, 20_000, timing).live, true, 'pressure persists')
    const lifted = nextShedState(live, 1.59, 2, 11_500, timing)
    assert.deepEqual(lifted, { dvr: true, live: false, dvrSince: 0, liveSince: 10_000 })
  })

  it('admits DVR again only after live, after minShedMs, below 80 %', () => {
    const both: ShedState = { dvr: true, live: true, dvrSince: 0, liveSince: 0 }
    const s = nextShedState(both, 0, 2, 100_000, timing)
    assert.deepEqual(shedAt(s), [true, false], 'live comes back first; DVR one step later')
    assert.deepEqual(shedAt(nextShedState(s, 0, 2, 100_100, timing)), [false, false])
    const dvr: ShedState = { dvr: true, live: false, dvrSince: 1000, liveSince: 0 }
    assert.equal(nextShedState(dvr, 0, 2, 2499, timing).dvr, true, 'minimum refusal')
    assert.equal(nextShedState(dvr, 0.8, 2, 9000, timing).dvr, true, 'hysteresis: exactly 0.8')
    assert.deepEqual(nextShedState(dvr, 0.79, 2, 2500, timing), { ...dvr, dvr: false })
  })

  it('uses the default timing when none is given', () => {
    const s1 = nextShedState(ADMITTED, 1, 2, 1000)
    assert.equal(nextShedState(s1, 0, 2, 2999).dvr, true)
    assert.equal(nextShedState(s1, 0, 2, 3000).dvr, false)
    assert.equal(nextShedState(s1, 9, 2, 3999).live, false)
    assert.equal(nextShedState(s1, 9, 2, 4000).live, true)
  })
})

describe('admission controller (in process, injected clock and samples)', () => {
  const controller = (
    clock: { now: number },
    options: { eventLoop?: () => EventLoopSampler; storage?: () => PressureReading } = {},
  ) => {
    const updates: Array<{ state: ShedState; reading: PressureReading }> = []
    const storage = options.storage ?? (() => reading(0))
    const c = new AdmissionController(
      thresholds,
      () => {
        const r = storage()
        return { storageLatencyMs: r.storageLatencyMs, inFlight: r.inFlight }
      },
      (state, r) => updates.push({ state, reading: r }),
      { now: () => clock.now, timing, ...(options.eventLoop ? { eventLoop: options.eventLoop } : {}) },
    )
    return { c, updates }
  }

  it('admits every class until pressure says otherwise; ingest always', () => {
    const clock = { now: 0 }
    const { c } = controller(clock)
    assert.deepEqual(c.state, { dvr: false, live: false, reading: reading(0) })
    for (const k of ['ingest', 'live', 'dvr'] as const) assert.equal(c.admit(k), true)
    c.update(reading(100))
    assert.deepEqual([c.admit('dvr'), c.admit('live'), c.admit('ingest')], [false, true, true])
    clock.now = 3000
    c.update(reading(200))
    assert.deepEqual([c.admit('dvr'), c.admit('live'), c.admit('ingest')], [false, false, true])
    assert.deepEqual(c.state, { dvr: true, live: true, reading: reading(200) })
  })

  it('refuses a DVR request beyond maxDvrInFlight at once, whatever the pressure; a finished one frees its place', () => {
    const c = new AdmissionController({ ...thresholds, maxDvrInFlight: 2 }, () => reading(0))
    assert.equal(c.dvrInFlight, 0)
    assert.equal(c.admit('dvr'), true)
    c.begin('dvr')
    assert.equal(c.admit('dvr'), true)
    c.begin('dvr')
    assert.equal(c.dvrInFlight, 2)
    assert.equal(c.admit('dvr'), false, 'a third DVR request is refused')
    assert.deepEqual([c.admit('live'), c.admit('ingest')], [true, true], 'other classes are not capped')
    // Live requests neither count nor free a DVR place.
    c.begin('live')
    c.end('live')
    assert.equal(c.dvrInFlight, 2)
    assert.equal(c.admit('dvr'), false)
    c.end('dvr')
    assert.equal(c.dvrInFlight, 1)
    assert.equal(c.admit('dvr'), true)
    c.end('dvr')
    c.end('dvr')
    assert.equal(c.dvrInFlight, 0, 'never below zero')
    c.begin('dvr')
    assert.equal(c.dvrInFlight, 1)
    // Pressure refuses DVR even with places free.
    c.update(reading(100))
    assert.equal(c.admit('dvr'), false)
  })

  it('without maxDvrInFlight, DVR requests in flight are not capped', () => {
    const c = new AdmissionController(thresholds, () => reading(0))
    for (let i = 0; i < 10_000; i++) c.begin('dvr')
    assert.equal(c.dvrInFlight, 10_000)
    assert.equal(c.admit('dvr'), true)
  })

  it('follows the injected clock: settle time, minimum refusal and hysteresis', () => {
    const clock = { now: 50_000 }
    const { c, updates } = controller(clock)
    c.update(reading(500))
    clock.now = 52_499
    c.update(reading(500))
    assert.equal(c.admit('live'), true, 'not before settleMs')
    clock.now = 52_500
    c.update(reading(500))
    assert.equal(c.admit('live'), false)
    clock.now = 53_000
    c.update(reading(0))
    assert.equal(c.admit('live'), false, 'minimum refusal')
    clock.now = 55_000
    c.update(reading(150))
    assert.deepEqual([c.admit('live'), c.admit('dvr')], [true, false], 'live lifted, DVR held by hysteresis')
    clock.now = 55_100
    c.update(reading(79))
    assert.deepEqual([c.admit('live'), c.admit('dvr')], [true, true])
    assert.equal(updates.length, 6)
    assert.deepEqual(updates[2], {
      state: { dvr: true, live: true, dvrSince: 50_000, liveSince: 52_500 },
      reading: reading(500),
    })
  })

  it('with the default clock and timing, a refusal lasts the default minimum', () => {
    const c = new AdmissionController(thresholds, () => ({ storageLatencyMs: 0, inFlight: 0 }))
    c.update(reading(0, 1000))
    c.update(reading(0))
    assert.equal(c.admit('dvr'), false, 'Date.now has not moved by 2 s')
    assert.equal(c.admit('live'), true)
  })

  it('ticks: the event-loop sample and the storage measurements, made the origin’s own', () => {
    const clock = { now: 0 }
    let stopped = 0
    const samples: EventLoopSample[] = [
      { delayMs: 400, utilization: 0.9, cpu: 0.02 }, // another program's load
      { delayMs: 400, utilization: 1, cpu: 1 }, // the origin's own work
    ]
    const sampler: EventLoopSampler = { sample: () => samples.shift()!, stop: () => stopped++ }
    const { c, updates } = controller(clock, {
      eventLoop: () => sampler,
      storage: () => reading(450, 12),
    })
    c.tick()
    assert.deepEqual(updates.at(-1)!.reading, reading(450, 12), 'not started: no event-loop sample')
    c.start(60_000)
    c.tick()
    assert.deepEqual(updates.at(-1)!.reading, { eventLoopDelayMs: 8, storageLatencyMs: 50, inFlight: 12 })
    c.tick()
    assert.deepEqual(updates.at(-1)!.reading, { eventLoopDelayMs: 400, storageLatencyMs: 50, inFlight: 12 })
    c.stop()
    assert.equal(stopped, 1)
    c.tick()
    assert.deepEqual(updates.at(-1)!.reading, reading(450, 12), 'stopped: no event-loop sample')
    c.stop()
    assert.equal(stopped, 1, 'a second stop stops nothing twice')
  })

  it('start ticks every interval until stop; starting again replaces the running measurement', async () => {
    const clock = { now: 0 }
    let made = 0
    let stopped = 0
    let ticks = 0
    let reached: () => void = () => {}
    const sampler = (): EventLoopSampler => {
      made++
      return {
        sample: () => {
          ticks++
          if (ticks >= 3) reached()
          return { delayMs: 0, utilization: 0, cpu: 0 }
        },
        stop: () => stopped++,
      }
    }
    const { c } = controller(clock, { eventLoop: sampler })
    const three = new Promise<void>((res) => {
      reached = res
    })
    // The controller's timer is unreferenced: this one keeps the test alive while it waits.
    const alive = setTimeout(() => {}, 60_000)
    c.start(5)
    c.start(5)
    assert.deepEqual([made, stopped], [2, 1])
    await three
    clearTimeout(alive)
    c.stop()
    assert.equal(stopped, 2)
    const after = ticks
    await sleep(50)
    assert.equal(ticks, after, 'no tick after stop')
  })

  it('a started controller does not keep the process alive (its timer is unreferenced)', () => {
    const { c } = controller(
      { now: 0 },
      {
        eventLoop: () => ({ sample: () => ({ delayMs: 0, utilization: 0, cpu: 0 }), stop: () => {} }),
      },
    )
    // Never stopped: if the timer held the process, this test file would not end.
    c.start(1000)
  })

  it('measures the real process by default once started', () => {
    const c = new AdmissionController(thresholds, () => ({ storageLatencyMs: 0, inFlight: 0 }))
    c.start(60_000)
    c.tick()
    c.stop()
    const r = c.state.reading
    assert.ok(Number.isFinite(r.eventLoopDelayMs) && r.eventLoopDelayMs >= 0)
  })
})

describe('classes', () => {
  it('classifies from the template in memory: near the live edge is live, older is DVR', () => {
    const cfg = parseChannelConfig({ segmentDurationMs: 1000, availabilityStartTime: 0 })
    const now = 100_500 // live edge: segment 100
    const media = (number: number) => ({ kind: 'media', rendition: 'v', number }) as const
    // R = 2·D by default: presentation delay 4·D, so the live class reaches 6 segments back.
    assert.equal(classifyRead(media(100), cfg, now, 3), 'live')
    assert.equal(classifyRead(media(94), cfg, now, 3), 'live')
    assert.equal(classifyRead(media(93), cfg, now, 3), 'dvr')
    // liveEdgeSegments above the player's reach wins.
    assert.equal(classifyRead(media(92), cfg, now, 8), 'live')
    assert.equal(classifyRead(media(91), cfg, now, 8), 'dvr')
    assert.equal(classifyRead(media(500), cfg, now, 3), 'live')
    assert.equal(classifyRead({ kind: 'init', rendition: 'v' }, cfg, now, 3), 'live')
    assert.equal(classifyRead({ kind: 'manifest', format: 'dash' }, cfg, now, 3), 'live')
    assert.equal(classifyRead(media(5), undefined, now, 3), 'live')
  })

  it("the live class follows the channel's timing: max(liveEdgeSegments, ceil((R + 2·D) / D) + 2)", () => {
    const d = 2000
    const at = (lateAllowanceMs: number) =>
      parseChannelConfig({
        segmentDurationMs: d,
        availabilityStartTime: 0,
        lateAllowanceMs,
        dvrWindowMs: 600_000,
      })
    assert.equal(liveReachSegments(at(0), 3), 4)
    assert.equal(liveReachSegments(at(4000), 3), 6)
    assert.equal(liveReachSegments(at(5000), 3), 7)
    assert.equal(liveReachSegments(at(4000), 8), 8)
    // A starting player at delay R + 2·D, counted back from the end of the newest segment's
    // availability (as Shaka Player does), asks for the segment under its play position: live.
    const cfg = at(4000)
    for (let now = 100_000; now < 110_000; now += 250) {
      const playAt = now - d - presentationDelayMs(cfg)
      const n = Math.floor(playAt / d) + cfg.startNumber
      assert.equal(
        classifyRead({ kind: 'media', rendition: 'v', number: n }, cfg, now, 3),
        'live',
        `at ${now}`,
      )
      // ...and still when its retry reaches the origin one segment later.
      assert.equal(classifyRead({ kind: 'media', rendition: 'v', number: n }, cfg, now + d, 3), 'live')
    }
  })

  it('only media segments may be shed: never init segments or manifests', () => {
    assert.equal(sheddable({ kind: 'media', rendition: 'v', number: 3 }), true)
    assert.equal(sheddable({ kind: 'init', rendition: 'v' }), false)
    assert.equal(sheddable({ kind: 'manifest', format: 'dash' }), false)
    assert.equal(sheddable({ kind: 'manifest', format: 'hls' }), false)
    assert.equal(sheddable({ kind: 'other' }), false)
  })
})
