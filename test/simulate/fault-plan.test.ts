import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseDefects } from '../../src/selection/defects.js'
import { FaultPlan, uniform } from '../../src/simulate/fault-plan.js'

const D = 2000

function plan(options: Partial<ConstructorParameters<typeof FaultPlan>[0]> = {}) {
  return new FaultPlan({ seed: 's1', segmentDurationMs: D, ...options })
}

describe('fault plan', () => {
  it('is a function of the seed and the question, not of the order of questions', () => {
    const a = plan({ defectRate: 0.3, lateRate: 0.3, missingRate: 0.1 })
    const b = plan({ defectRate: 0.3, lateRate: 0.3, missingRate: 0.1 })
    const keys = Array.from(
      { length: 200 },
      (_, i) => [i % 2 ? 'east' : 'west', String(i % 3), 1000 + i] as const,
    )
    const forward = keys.map(([p, r, n]) => a.segment(p, r, n))
    const backward = [...keys].reverse().map(([p, r, n]) => b.segment(p, r, n))
    assert.deepEqual(forward, backward.reverse())
    const other = plan({ seed: 's2', defectRate: 0.3, lateRate: 0.3, missingRate: 0.1 })
    assert.notDeepEqual(
      forward,
      keys.map(([p, r, n]) => other.segment(p, r, n)),
    )
  })

  it('draws each fault at its rate, and defect kinds evenly', () => {
    const p = plan({ defectRate: 0.1, lateRate: 0.2, missingRate: 0.05 })
    const count = { missing: 0, late: 0, defect: 0, corrupt: 0, tfdt: 0, reported: 0 }
    const total = 30_000
    for (let i = 0; i < total; i++) {
      const f = p.segment(i % 2 ? 'east' : 'west', String(i % 3), i)
      if (f.missing) count.missing++
      if (f.lateMs > 0) count.late++
      if (f.defect) {
        count.defect++
        count[f.defect]++
      }
    }
    const sent = total - count.missing
    assert.ok(Math.abs(count.missing / total - 0.05) < 0.006, `missing ${count.missing}`)
    assert.ok(Math.abs(count.late / sent - 0.2) < 0.012, `late ${count.late}`)
    assert.ok(Math.abs(count.defect / sent - 0.1) < 0.01, `defect ${count.defect}`)
    for (const kind of ['corrupt', 'tfdt', 'reported'] as const) {
      assert.ok(Math.abs(count[kind] / count.defect - 1 / 3) < 0.04, `${kind} ${count[kind]}`)
    }
  })

  it('a missing copy has no other fault; rate 0 never, rate 1 always', () => {
    const all = plan({ missingRate: 1, defectRate: 1, lateRate: 1 })
    const none = plan()
    for (let n = 0; n < 500; n++) {
      assert.deepEqual(all.segment('east', '0', n), {
        missing: true,
        lateMs: 0,
        defect: undefined,
        reported: undefined,
      })
      assert.deepEqual(none.segment('east', '0', n), {
        missing: false,
        lateMs: 0,
        defect: undefined,
        reported: undefined,
      })
    }
  })

  it('late copies come after A(N)+G and before A(N)+R at the channel defaults', () => {
    const p = plan({ lateRate: 1 })
    for (let n = 0; n < 2000; n++) {
      const { lateMs } = p.segment('west', '1', n)
      assert.ok(lateMs >= D / 2 && lateMs <= (3 * D) / 2, `lateMs ${lateMs}`)
      assert.ok(lateMs > D / 4 && lateMs < 2 * D)
    }
  })

  it('reported defects are valid Segment-Defects values; audio reports audio defects', () => {
    const p = plan({ defectRate: 1 })
    const kinds = { video: new Set<string>(), audio: new Set<string>() }
    for (let n = 0; n < 600; n++) {
      for (const media of ['video', 'audio'] as const) {
        const f = p.segment('east', media === 'audio' ? '2' : '0', n, media)
        assert.ok(f.defect)
        if (f.defect !== 'reported') {
          assert.equal(f.reported, undefined)
          continue
        }
        const parsed = parseDefects(f.reported)
        assert.equal(parsed.length, 1)
        kinds[media].add(parsed[0]!.kind)
      }
    }
    assert.deepEqual([...kinds.video].sort(), ['black', 'frozen', 'missing-frames'])
    assert.deepEqual([...kinds.audio].sort(), ['missing-frames', 'silence'])
  })

  it('outages cover [from, to) of their pipeline only; recoveries are their ends', () => {
    const p = plan({
      outages: [
        { pipeline: 'east', fromMs: 20_000, toMs: 40_000 },
        { pipeline: 'east', fromMs: 40_000, toMs: 50_000 },
        { pipeline: 'west', fromMs: 0, toMs: 5000 },
      ],
    })
    assert.equal(p.inOutage('east', 19_999), false)
    assert.equal(p.inOutage('east', 20_000), true)
    assert.equal(p.inOutage('east', 45_000), true)
    assert.equal(p.inOutage('east', 50_000), false)
    assert.equal(p.inOutage('west', 0), true)
    assert.equal(p.inOutage('west', 5000), false)
    assert.equal(p.inOutage('north', 30_000), false)
    // Back-to-back outages: the pipeline comes back once, at the end of the second.
    assert.deepEqual(p.recoveries('east'), [50_000])
    assert.deepEqual(p.recoveries('west'), [5000])
  })

  it('refuses rates outside [0, 1]', () => {
    assert.throws(() => plan({ defectRate: 1.5 }), /defectRate/)
    assert.throws(() => plan({ lateRate: -0.1 }), /lateRate/)
    assert.throws(() => plan({ missingRate: Number.NaN }), /missingRate/)
  })

  it('uniform() spreads keys over [0, 1)', () => {
    const buckets = new Array(10).fill(0)
    for (let i = 0; i < 20_000; i++) {
      const u = uniform(`k${i}`)
      assert.ok(u >= 0 && u < 1)
      buckets[Math.floor(u * 10)]++
    }
    for (const b of buckets) assert.ok(Math.abs(b - 2000) < 200, `bucket ${b}`)
  })

  it('--gap and --cut: the segment covering the time, by index from the start number', () => {
    const p = plan({ gapsMs: [30_000, 31_999], cutsMs: [40_000, 0], defectRate: 1 })
    assert.equal(p.index(31_999), 15)
    assert.equal(p.forced(15), 'gap')
    assert.equal(p.forced(20), 'cut')
    assert.equal(p.forced(0), 'cut')
    for (const i of [1, 14, 16, 19, 21]) assert.equal(p.forced(i), undefined)
    assert.deepEqual(p.forcedFaults(), [
      { index: 0, kind: 'cut' },
      { index: 15, kind: 'gap' },
      { index: 20, kind: 'cut' },
    ])
    assert.throws(() => plan({ gapsMs: [30_000], cutsMs: [30_500] }), /two forced faults: gap and cut/)
    const aborts = plan({ abortsMs: [10_000], cutsMs: [12_000] })
    assert.deepEqual(aborts.forcedFaults(), [
      { index: 5, kind: 'abort' },
      { index: 6, kind: 'cut' },
    ])
    assert.throws(() => plan({ cutsMs: [10_000], abortsMs: [11_000] }), /two forced faults: cut and abort/)
    assert.throws(() => plan({ gapsMs: [-1] }), RangeError)
  })

  it('the cut-off or aborted copy comes from the first pipeline not in an outage when the segment is due', () => {
    // Segment index i is due (i + 1)·D after the start: index 9 at 20 s, index 19 at 40 s.
    const p = plan({ outages: [{ pipeline: 'east', fromMs: 20_000, toMs: 40_000 }] })
    assert.equal(p.faultyPipeline(8, ['east', 'west']), 'east')
    assert.equal(p.faultyPipeline(9, ['east', 'west']), 'west')
    assert.equal(p.faultyPipeline(18, ['east', 'west']), 'west')
    assert.equal(p.faultyPipeline(19, ['east', 'west']), 'east')
    const down = plan({
      outages: [
        { pipeline: 'east', fromMs: 0, toMs: 10_000 },
        { pipeline: 'west', fromMs: 0, toMs: 10_000 },
      ],
    })
    assert.equal(down.faultyPipeline(2, ['east', 'west']), undefined)
  })
})
