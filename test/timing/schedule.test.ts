import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { cacheControlFor } from '../../src/http/cache-control.js'
import { segmentSelectionContext } from '../../src/selection/context.js'
import { parseChannelConfig } from '../../src/timing/channel-config.js'
import {
  availabilityAt,
  cmsdStatic,
  EXPIRY_MARGIN_MS,
  extendedInitExpiry,
  gapAnswer,
  INIT_EXTEND_EVERY_MS,
  INIT_EXTEND_MIN_MS,
  initDecision,
  initExpiresAt,
  initExtendEveryMs,
  isLiveEdgeSegment,
  liveEdge,
  MAX_TOO_EARLY_TTL_MS,
  manifestTtlMs,
  otherObjectTtlMs,
  requestableAt,
  retainedUntil,
  SHORT_TTL_MS,
  segmentDecision,
  segmentExpiresAt,
  selectionDeadline,
  UNKNOWN_CHANNEL_TTL_MS,
  WRITE_ONCE_TTL_MS,
} from '../../src/timing/schedule.js'

const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
const D = 2000
const S = 10
const H = 1500
const R = 4000
const DVR = 60_000
const HOUR_MS = 3_600_000
const cfg = parseChannelConfig({
  segmentDurationMs: D,
  availabilityStartTime: AST,
  startNumber: S,
  holdWindowMs: H,
  lateAllowanceMs: R,
  dvrWindowMs: DVR,
})

/** A fake clock, as the server injects `now()`. */
function fakeClock(start: number) {
  let t = start
  return {
    now: () => t,
    set: (ms: number) => {
      t = ms
    },
    advance: (ms: number) => {
      t += ms
    },
  }
}

const N = 25
const A = AST + (N - S + 1) * D

describe('availability and live edge', () => {
  it('A(N) = AST + (N − S + 1)·D', () => {
    assert.equal(availabilityAt(cfg, S), AST + D)
    assert.equal(availabilityAt(cfg, N), A)
    assert.equal(availabilityAt(cfg, S - 1), AST)
  })

  it('the live edge is the highest N with A(N) ≤ t', () => {
    const clock = fakeClock(A)
    assert.equal(liveEdge(cfg, clock.now()), N)
    clock.advance(-1)
    assert.equal(liveEdge(cfg, clock.now()), N - 1)
    clock.set(A + D - 1)
    assert.equal(liveEdge(cfg, clock.now()), N)
    clock.set(A + D)
    assert.equal(liveEdge(cfg, clock.now()), N + 1)
  })

  it('is below S before the first segment is available', () => {
    assert.equal(liveEdge(cfg, AST + D - 1), S - 1)
    assert.equal(liveEdge(cfg, AST + D), S)
    assert.ok(liveEdge(cfg, AST - 10 * D) < S - 1)
  })

  it('agrees with availabilityAt for every instant of a long stretch', () => {
    for (let t = AST - 3 * D; t < AST + 40 * D; t += 137) {
      const e = liveEdge(cfg, t)
      assert.ok(availabilityAt(cfg, e) <= t, `A(${e}) <= ${t}`)
      assert.ok(availabilityAt(cfg, e + 1) > t, `A(${e + 1}) > ${t}`)
    }
  })

  it('classifies the newest segments and future ones as live edge', () => {
    const t = A // live edge = N
    assert.equal(isLiveEdgeSegment(cfg, N, t), true)
    assert.equal(isLiveEdgeSegment(cfg, N - 3, t), true)
    assert.equal(isLiveEdgeSegment(cfg, N - 4, t), false)
    assert.equal(isLiveEdgeSegment(cfg, N + 5, t), true)
    assert.equal(isLiveEdgeSegment(cfg, N - 1, t, 0), false)
    assert.equal(isLiveEdgeSegment(cfg, N - 10, t, 10), true)
    assert.equal(isLiveEdgeSegment(cfg, Number.NaN, t), false)
  })
})

describe('segmentDecision: every row of the media segment table', () => {
  it('N < S: 404 with the DVR-window TTL, candidate or not', () => {
    const clock = fakeClock(A)
    assert.deepEqual(segmentDecision(cfg, S - 1, clock.now(), false), {
      action: 'not-found',
      ttlMs: DVR,
      reason: 'before-start',
    })
    assert.deepEqual(segmentDecision(cfg, 0, clock.now(), true), {
      action: 'not-found',
      ttlMs: DVR,
      reason: 'before-start',
    })
  })

  it('N = S is the first segment, not before the start', () => {
    const a = AST + D
    assert.deepEqual(segmentDecision(cfg, S, a, true), { action: 'serve', ttlMs: DVR, defectiveTtlMs: D })
    assert.deepEqual(segmentDecision(cfg, S, a, false), { action: 'hold', untilMs: a + R, availableAtMs: a })
    assert.deepEqual(segmentDecision(cfg, S, a - H - 1000, false), {
      action: 'not-found',
      ttlMs: 1000,
      reason: 'too-early',
    })
  })

  it('a number the template cannot produce (NaN): 404 with the DVR-window TTL', () => {
    assert.deepEqual(segmentDecision(cfg, Number.NaN, A, true), {
      action: 'not-found',
      ttlMs: DVR,
      reason: 'invalid-number',
    })
    assert.equal(segmentDecision(cfg, 2 ** 53, A, false).action, 'not-found')
    assert.equal(segmentDecision(cfg, 12.5, A, false).action, 'not-found')
  })

  it('a candidate exists: serve, TTL = DVR window (D when defective), even long before A(N)', () => {
    const clock = fakeClock(A - H - 10 * D)
    for (const t of [clock.now(), A - H, A, A + R, A + DVR]) {
      assert.deepEqual(segmentDecision(cfg, N, t, true), { action: 'serve', ttlMs: DVR, defectiveTtlMs: D })
    }
  })

  it('no candidate, t < A(N) − H: 404 with TTL exactly A(N) − H − t', () => {
    const clock = fakeClock(A - H - 1234)
    assert.deepEqual(segmentDecision(cfg, N, clock.now(), false), {
      action: 'not-found',
      ttlMs: 1234,
      reason: 'too-early',
    })
    clock.set(A - H - 1)
    assert.deepEqual(segmentDecision(cfg, N, clock.now(), false), {
      action: 'not-found',
      ttlMs: 1,
      reason: 'too-early',
    })
  })

  it('the too-early TTL is capped at 1 h, exactly at the boundary', () => {
    assert.equal(MAX_TOO_EARLY_TTL_MS, 3_600_000)
    const exact = segmentDecision(cfg, N, A - H - 3_600_000, false)
    assert.deepEqual(exact, { action: 'not-found', ttlMs: 3_600_000, reason: 'too-early' })
    const beyond = segmentDecision(cfg, N, A - H - 3_600_001, false)
    assert.deepEqual(beyond, { action: 'not-found', ttlMs: 3_600_000, reason: 'too-early' })
    const under = segmentDecision(cfg, N, A - H - 3_599_999, false)
    assert.deepEqual(under, { action: 'not-found', ttlMs: 3_599_999, reason: 'too-early' })
    const farFuture = segmentDecision(cfg, N + 1_000_000, A, false)
    assert.deepEqual(farFuture, { action: 'not-found', ttlMs: 3_600_000, reason: 'too-early' })
  })

  it('a fractional now rounds the too-early TTL up to a whole ms, never to 0', () => {
    const d = segmentDecision(cfg, N, A - H - 0.25, false)
    assert.equal(d.action, 'not-found')
    if (d.action === 'not-found') assert.equal(d.ttlMs, 1)
  })

  it('no candidate, exactly A(N) − H: held until A(N) + R', () => {
    assert.deepEqual(segmentDecision(cfg, N, A - H, false), {
      action: 'hold',
      untilMs: A + R,
      availableAtMs: A,
    })
  })

  it('no candidate, A(N) − H ≤ t < A(N) + R: held, until the same instant wherever it starts', () => {
    const clock = fakeClock(A - H)
    while (clock.now() < A + R) {
      assert.deepEqual(segmentDecision(cfg, N, clock.now(), false), {
        action: 'hold',
        untilMs: A + R,
        availableAtMs: A,
      })
      clock.advance(97)
    }
    assert.equal(segmentDecision(cfg, N, A + R - 1, false).action, 'hold')
  })

  it('no candidate, exactly A(N) + R and after: 410 Gone with the DVR-window TTL', () => {
    const clock = fakeClock(A + R)
    assert.deepEqual(segmentDecision(cfg, N, clock.now(), false), {
      action: 'gone',
      ttlMs: DVR,
      reason: 'missing',
    })
    clock.advance(DVR - R)
    assert.deepEqual(segmentDecision(cfg, N, clock.now(), false), {
      action: 'gone',
      ttlMs: DVR,
      reason: 'missing',
    })
  })

  it('A(N) < t − DVR window: 410 Gone even when a candidate exists', () => {
    const clock = fakeClock(A + DVR)
    // Exactly at the edge of the window the segment is still served.
    assert.equal(segmentDecision(cfg, N, clock.now(), true).action, 'serve')
    clock.advance(1)
    assert.deepEqual(segmentDecision(cfg, N, clock.now(), true), {
      action: 'gone',
      ttlMs: DVR,
      reason: 'expired',
    })
    assert.deepEqual(segmentDecision(cfg, N, clock.now(), false), {
      action: 'gone',
      ttlMs: DVR,
      reason: 'expired',
    })
  })

  it('with H = 0 and R = 0 there is no hold at all', () => {
    const strict = parseChannelConfig({ ...cfg, holdWindowMs: 0, lateAllowanceMs: 0 })
    assert.deepEqual(segmentDecision(strict, N, A - 1, false), {
      action: 'not-found',
      ttlMs: 1,
      reason: 'too-early',
    })
    assert.deepEqual(segmentDecision(strict, N, A, false), { action: 'gone', ttlMs: DVR, reason: 'missing' })
  })

  it('walks one segment through its whole life on a fake clock', () => {
    const clock = fakeClock(AST)
    const seen: string[] = []
    for (; clock.now() <= A + DVR + D; clock.advance(250)) {
      const d = segmentDecision(cfg, N, clock.now(), false)
      const label = d.action === 'not-found' || d.action === 'gone' ? `${d.action}:${d.reason}` : d.action
      if (seen[seen.length - 1] !== label) seen.push(label)
      if (d.action === 'not-found') assert.ok(clock.now() + d.ttlMs <= A - H)
      if (d.action === 'hold') assert.ok(d.untilMs > clock.now())
    }
    assert.deepEqual(seen, ['not-found:too-early', 'hold', 'gone:missing', 'gone:expired'])
  })
})

describe('segmentDecision: a low-latency channel (availability time offset)', () => {
  const ATO = 1500
  const ll = parseChannelConfig({
    segmentDurationMs: D,
    availabilityStartTime: AST,
    startNumber: S,
    holdWindowMs: H,
    lateAllowanceMs: R,
    dvrWindowMs: DVR,
    availabilityTimeOffsetMs: ATO,
  })
  const holdFrom = A - ATO - H

  it('makes segment N requestable at A(N) − ATO, and A(N) itself unchanged', () => {
    assert.equal(requestableAt(ll, N), A - ATO)
    assert.equal(requestableAt(cfg, N), A)
    assert.equal(availabilityAt(ll, N), A)
    assert.equal(cmsdStatic(ll, N), `at=${A}`)
    assert.equal(liveEdge(ll, A - 1), N - 1)
  })

  it('answers 404 until A(N) − ATO − H, with a lifetime that ends exactly then', () => {
    assert.deepEqual(segmentDecision(ll, N, holdFrom - 1, false), {
      action: 'not-found',
      ttlMs: 1,
      reason: 'too-early',
    })
    assert.deepEqual(segmentDecision(ll, N, holdFrom - 3210.5, false), {
      action: 'not-found',
      ttlMs: 3211,
      reason: 'too-early',
    })
    // The same instant on a channel without an offset is still ATO further from holding.
    assert.deepEqual(segmentDecision(cfg, N, holdFrom - 1, false), {
      action: 'not-found',
      ttlMs: ATO + 1,
      reason: 'too-early',
    })
  })

  it('holds from A(N) − ATO − H until A(N) + R, as without an offset', () => {
    for (const t of [holdFrom, A - ATO, A, A + R - 1]) {
      assert.deepEqual(
        segmentDecision(ll, N, t, false),
        { action: 'hold', untilMs: A + R, availableAtMs: A },
        `t = ${t}`,
      )
    }
  })

  it('keeps the 410 decisions on the whole segment: missing at A(N) + R, expired after the DVR window', () => {
    assert.deepEqual(segmentDecision(ll, N, A + R, false), { action: 'gone', ttlMs: DVR, reason: 'missing' })
    assert.equal(segmentDecision(ll, N, A + DVR, true).action, 'serve')
    assert.deepEqual(segmentDecision(ll, N, A + DVR + 1, true), {
      action: 'gone',
      ttlMs: DVR,
      reason: 'expired',
    })
    assert.equal(selectionDeadline(ll, N), selectionDeadline(cfg, N))
  })

  it('holds the init segment from A(S) − ATO − H', () => {
    const aS = availabilityAt(ll, S)
    assert.deepEqual(initDecision(ll, aS - ATO - H - 1, false), { action: 'not-found', ttlMs: SHORT_TTL_MS })
    assert.deepEqual(initDecision(ll, aS - ATO - H, false), { action: 'hold', untilMs: aS + R })
  })
})

describe('init segments and manifests', () => {
  const AS = availabilityAt(cfg, S)

  it('init: served with the DVR window as TTL when stored (written once)', () => {
    assert.deepEqual(initDecision(cfg, AS + 99 * D, true), { action: 'serve', ttlMs: cfg.dvrWindowMs })
  })

  it('other objects: the DVR window, 4 h on a channel without a template; only manifests are short', () => {
    assert.equal(otherObjectTtlMs(cfg), cfg.dvrWindowMs)
    assert.equal(otherObjectTtlMs(undefined), WRITE_ONCE_TTL_MS)
    assert.equal(WRITE_ONCE_TTL_MS, 4 * 3_600_000)
    assert.equal(manifestTtlMs(undefined, 'hls'), SHORT_TTL_MS)
  })

  it('init: held like segment S, 404 with 1 s outside that window (never 410)', () => {
    assert.deepEqual(initDecision(cfg, AS - H - 1, false), { action: 'not-found', ttlMs: 1000 })
    assert.deepEqual(initDecision(cfg, AS - H, false), { action: 'hold', untilMs: AS + R })
    assert.deepEqual(initDecision(cfg, AS + R - 1, false), { action: 'hold', untilMs: AS + R })
    assert.deepEqual(initDecision(cfg, AS + R, false), { action: 'not-found', ttlMs: 1000 })
  })

  it('manifest TTLs: D/2 for HLS, manifestTtlMs for MPDs, 1 s without a template', () => {
    assert.equal(manifestTtlMs(cfg, 'hls'), D / 2)
    assert.equal(manifestTtlMs(cfg, 'dash'), D)
    assert.equal(manifestTtlMs({ segmentDurationMs: 1001, manifestTtlMs: 300 }, 'hls'), 500)
    assert.equal(manifestTtlMs({ segmentDurationMs: 1001, manifestTtlMs: 300 }, 'dash'), 300)
    assert.equal(manifestTtlMs(undefined, 'dash'), 1000)
    assert.equal(manifestTtlMs(undefined, 'hls'), 1000)
    assert.equal(UNKNOWN_CHANNEL_TTL_MS, 5000)
  })
})

describe('headers and store expiry', () => {
  it('Cache-Control in whole seconds rounded down, Cache-TTL-Ms exact', () => {
    assert.deepEqual(cacheControlFor(1999), { 'Cache-Control': 'max-age=1', 'Cache-TTL-Ms': '1999' })
    assert.deepEqual(cacheControlFor(999), { 'Cache-Control': 'max-age=0', 'Cache-TTL-Ms': '999' })
    assert.deepEqual(cacheControlFor(14_400_000), {
      'Cache-Control': 'max-age=14400',
      'Cache-TTL-Ms': '14400000',
    })
    assert.deepEqual(cacheControlFor(0), { 'Cache-Control': 'max-age=0', 'Cache-TTL-Ms': '0' })
    assert.deepEqual(cacheControlFor(-5), { 'Cache-Control': 'max-age=0', 'Cache-TTL-Ms': '0' })
    assert.deepEqual(cacheControlFor(1500.7), { 'Cache-Control': 'max-age=1', 'Cache-TTL-Ms': '1500' })
  })

  it('the headers of a too-early 404 expire exactly when holding starts', () => {
    const t = A - H - 2345
    const d = segmentDecision(cfg, N, t, false)
    assert.equal(d.action, 'not-found')
    if (d.action !== 'not-found') return
    const h = cacheControlFor(d.ttlMs)
    assert.equal(t + Number(h['Cache-TTL-Ms']), A - H)
    assert.equal(h['Cache-Control'], 'max-age=2')
  })

  it('CMSD-Static carries A(N) in epoch ms', () => {
    assert.equal(cmsdStatic(cfg, N), `at=${A}`)
  })

  it('a stored segment expires after its DVR window plus a margin', () => {
    assert.equal(segmentExpiresAt(cfg, N), A + DVR + EXPIRY_MARGIN_MS)
    // Until then the decision may still serve it; the store must not lose it earlier.
    assert.equal(segmentDecision(cfg, N, A + DVR, true).action, 'serve')
    assert.ok(segmentExpiresAt(cfg, N) > A + DVR)
  })

  it('every other object expires a DVR window after its write; an init segment outlives every segment it serves', () => {
    const t = A + 5 * D
    // A 1-minute DVR window keeps init segments and manifests that much longer, not 10 minutes.
    const every = initExtendEveryMs(cfg)
    assert.equal(every, DVR)
    assert.equal(initExtendEveryMs({ dvrWindowMs: 4 * HOUR_MS }), INIT_EXTEND_EVERY_MS)
    assert.equal(initExtendEveryMs({ dvrWindowMs: 1000 }), INIT_EXTEND_MIN_MS)
    assert.equal(retainedUntil(cfg, t), t + DVR + EXPIRY_MARGIN_MS)
    assert.equal(initExpiresAt(cfg, t), t + DVR + EXPIRY_MARGIN_MS + every)
    // Written at t, the init outlives the segments available up to t + every.
    const init = initExpiresAt(cfg, t)
    assert.equal(extendedInitExpiry(cfg, init, init, t), undefined)
    const later = t + every + D
    const segment = later + DVR + EXPIRY_MARGIN_MS
    assert.equal(extendedInitExpiry(cfg, init, segment, later), initExpiresAt(cfg, later))
    // A segment far ahead of the clock still gets an init that outlives it.
    assert.equal(extendedInitExpiry(cfg, init, segment + HOUR_MS, later), segment + HOUR_MS + every)
    // "Never" stays never.
    assert.equal(extendedInitExpiry(cfg, 0, segment, later), undefined)
  })

  it('the selection deadline is A(N) + G', () => {
    assert.equal(selectionDeadline(cfg, N), A + cfg.selectionGraceMs)
    assert.equal(cfg.selectionGraceMs, D / 4)
  })
})

describe('gap policy', () => {
  const gone = parseChannelConfig({ ...cfg, pipelines: ['a', 'b'], gapPolicy: 'gone' })

  it('filler (the default): a filler cached for D, a 410 for the DVR window when none can be built', () => {
    assert.equal(cfg.gapPolicy, 'filler')
    assert.deepEqual(gapAnswer(cfg), { action: 'filler', ttlMs: D, goneTtlMs: DVR })
  })

  it('gone: 410 with the DVR-window TTL', () => {
    assert.deepEqual(gapAnswer(gone), { action: 'gone', ttlMs: DVR })
  })

  it('the selection context of segment N: A(N), G, late from A(N) + R, hidden for D under filler', () => {
    const masks = [{ pipeline: 'a', from: 0, to: 10 }]
    assert.deepEqual(segmentSelectionContext(cfg, masks, N, A + 5), {
      pipelines: cfg.pipelines,
      masks,
      number: N,
      now: A + 5,
      availabilityAt: A,
      graceMs: cfg.selectionGraceMs,
      lateFrom: A + R,
      lateDelayMs: D,
    })
  })

  it('under gone a late copy is hidden forever; the expected kinds pass through', () => {
    const ctx = segmentSelectionContext(gone, [], N + 1, A, ['video'])
    assert.deepEqual(ctx, {
      pipelines: ['a', 'b'],
      masks: [],
      number: N + 1,
      now: A,
      availabilityAt: A + D,
      graceMs: gone.selectionGraceMs,
      lateFrom: A + D + R,
      lateDelayMs: Number.POSITIVE_INFINITY,
      expected: ['video'],
    })
    assert.equal('expected' in segmentSelectionContext(gone, [], N, A), false)
  })
})
