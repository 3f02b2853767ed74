import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { defectRank, kindSeverity, SEVERITY } from '../../src/selection/defects.js'
import {
  isLateHidden,
  isUndecodable,
  orderCandidates,
  preferredHealthy,
  selectCandidate,
  selectInProgress,
} from '../../src/selection/select.js'
import type { Candidate, Mask, SelectionContext } from '../../src/selection/types.js'
import type { ObjectMeta } from '../../src/storage/types.js'

const AST = Date.UTC(2026, 0, 1)
const D = 2000
const G = 500
/** A(N) with S = 1. */
const A = (n: number) => AST + n * D

function meta(pipeline: string, committedAt: number, defects = ''): ObjectMeta {
  return {
    channel: 'ch',
    path: 'video/seg-00010.m4s',
    pipeline,
    token: `${pipeline}-${committedAt}`,
    size: 100,
    chunkSize: 1 << 20,
    chunks: 1,
    etag: `"${pipeline}"`,
    contentType: 'video/mp4',
    committedAt,
    expiresAt: 0,
    defects,
  }
}

function ctx(over: Partial<SelectionContext> = {}): SelectionContext {
  return {
    pipelines: ['east', 'west'],
    masks: [],
    number: 10,
    now: A(10) + 100,
    availabilityAt: A(10),
    graceMs: G,
    ...over,
  }
}

describe('selectCandidate (docs/protocol.md#quality-control-and-selection)', () => {
  it('east defective + west clean → west', () => {
    const east = meta('east', A(10) - 50, 'black')
    const west = meta('west', A(10) + 20)
    assert.deepEqual(selectCandidate([east, west], ctx()), {
      kind: 'serve',
      candidate: west,
      defective: false,
    })
  })

  it('both clean → east, the first listed, whatever arrived first', () => {
    const east = meta('east', A(10) + 30)
    const west = meta('west', A(10) - 10)
    assert.deepEqual(selectCandidate([west, east], ctx()), {
      kind: 'serve',
      candidate: east,
      defective: false,
    })
  })

  it('both defective → the least defective; ties go to the preferred pipeline', () => {
    const east = meta('east', A(10), 'black, short;origin')
    const west = meta('west', A(10), 'missing-frames;count=3')
    assert.deepEqual(selectCandidate([east, west], ctx()), {
      kind: 'serve',
      candidate: west,
      defective: true,
    })
    const tie = meta('west', A(10), 'frozen')
    const eastOne = meta('east', A(10), 'slate;origin')
    assert.deepEqual(selectCandidate([tie, eastOne], ctx()), {
      kind: 'serve',
      candidate: eastOne,
      defective: true,
    })
  })

  it('counts kinds, not repeats: the same kind twice is one defect', () => {
    const east = meta('east', A(10), 'black, black;origin')
    const west = meta('west', A(10), 'black, short')
    assert.equal(selectCandidate([east, west], ctx()).kind, 'serve')
    assert.equal((selectCandidate([east, west], ctx()) as { candidate: ObjectMeta }).candidate, east)
  })

  it('masked → the other pipeline, even if it is defective', () => {
    const masks: Mask[] = [{ pipeline: 'east', from: 5, to: 10 }]
    const east = meta('east', A(10))
    const west = meta('west', A(10), 'black')
    assert.deepEqual(selectCandidate([east, west], ctx({ masks, now: A(10) + G })), {
      kind: 'serve',
      candidate: west,
      defective: true,
    })
    // The mask ends at 10: segment 11 is east's again.
    assert.deepEqual(selectCandidate([east, west], ctx({ masks, number: 11 })), {
      kind: 'serve',
      candidate: east,
      defective: false,
    })
  })

  it('every candidate masked → none', () => {
    const masks: Mask[] = [
      { pipeline: 'east', from: 0, to: 100 },
      { pipeline: 'west', from: 10, to: 10 },
    ]
    assert.deepEqual(selectCandidate([meta('east', A(10)), meta('west', A(10))], ctx({ masks })), {
      kind: 'none',
    })
    assert.deepEqual(selectCandidate([], ctx()), { kind: 'none' })
  })

  it('only east arrived and is defective → wait until A(N)+G, then serve east defective', () => {
    const east = meta('east', A(10) - 100, 'black')
    const at = (now: number) => selectCandidate([east], ctx({ now }))
    assert.deepEqual(at(A(10) - 1500), { kind: 'wait', untilMs: A(10) + G })
    assert.deepEqual(at(A(10) + G - 1), { kind: 'wait', untilMs: A(10) + G })
    assert.deepEqual(at(A(10) + G), { kind: 'serve', candidate: east, defective: true })
    // West turns up clean during the wait: it is served at once.
    const west = meta('west', A(10) + 200)
    assert.deepEqual(selectCandidate([east, west], ctx({ now: A(10) + 200 })), {
      kind: 'serve',
      candidate: west,
      defective: false,
    })
  })

  it('does not wait when every listed pipeline has delivered, or the missing one is masked', () => {
    const east = meta('east', A(10), 'black')
    const west = meta('west', A(10), 'black, short')
    assert.deepEqual(selectCandidate([east, west], ctx()), {
      kind: 'serve',
      candidate: east,
      defective: true,
    })
    const masks: Mask[] = [{ pipeline: 'west', from: 1, to: 20 }]
    assert.deepEqual(selectCandidate([east], ctx({ masks })), {
      kind: 'serve',
      candidate: east,
      defective: true,
    })
  })

  it('waits for a masked-out preferred copy to be replaced by the other pipeline', () => {
    // east is masked and west has not delivered: nothing selectable yet.
    const masks: Mask[] = [{ pipeline: 'east', from: 10, to: 10 }]
    assert.deepEqual(selectCandidate([meta('east', A(10))], ctx({ masks })), { kind: 'none' })
  })

  it('with no pipelines listed: arrival order, and no wait unless told whom to expect', () => {
    const b = meta('b', A(10) + 5)
    const a = meta('a', A(10) + 10)
    const c = meta('c', A(10) + 5)
    const none = ctx({ pipelines: [] })
    assert.deepEqual(selectCandidate([a, b, c], none), { kind: 'serve', candidate: b, defective: false })
    const bad = meta('b', A(10), 'black')
    assert.deepEqual(selectCandidate([bad], none), { kind: 'serve', candidate: bad, defective: true })
    assert.deepEqual(selectCandidate([bad], ctx({ pipelines: [], expected: ['a', 'b'] })), {
      kind: 'wait',
      untilMs: A(10) + G,
    })
  })

  it('unlisted pipelines come after listed ones, by arrival', () => {
    const late = meta('east', A(10) + 900, 'black')
    const early = meta('zulu', A(10) - 100)
    const earlier = meta('alpha', A(10) - 100, 'black')
    assert.deepEqual(selectCandidate([early, late, earlier], ctx({ pipelines: ['east'] })), {
      kind: 'serve',
      candidate: early,
      defective: false,
    })
  })

  it('an empty parsed defect list is a clean copy', () => {
    const east = { ...meta('east', A(10) - 5), defects: [] }
    const west = meta('west', A(10) - 9)
    assert.deepEqual(selectCandidate([west, east], ctx()), {
      kind: 'serve',
      candidate: east,
      defective: false,
    })
  })

  it('unlisted pipelines committed at the same instant are ordered by id, in code-unit order', () => {
    const t = A(10) - 5
    const names = ['zeta', 'Zeta', 'b', 'a', 'ab', 'east']
    const ordered = orderCandidates(
      names.map((p) => meta(p, t)),
      ['east'],
    ).map((c) => c.pipeline)
    assert.deepEqual(ordered, ['east', 'Zeta', 'a', 'ab', 'b', 'zeta'])
  })

  it('accepts parsed defects and counts as well as stored headers', () => {
    const candidates: Candidate[] = [
      { pipeline: 'east', committedAt: 1, defects: 2 },
      { pipeline: 'west', committedAt: 1, defects: [{ kind: 'black', params: {}, source: 'packager' }] },
    ]
    assert.deepEqual(selectCandidate(candidates, ctx()), {
      kind: 'serve',
      candidate: candidates[1],
      defective: true,
    })
  })

  it('is deterministic: every order of the same candidates gives the same answer', () => {
    const all = [
      meta('west', A(10) + 3, 'black'),
      meta('east', A(10) + 9, 'short, black'),
      meta('x', A(10) + 1, 'frozen'),
      meta('y', A(10) + 1, 'slate'),
      meta('z', A(10) + 0, 'black, frozen, slate'),
    ]
    const permutations = (xs: ObjectMeta[]): ObjectMeta[][] =>
      xs.length <= 1
        ? [xs]
        : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]))
    const answers = new Set(
      permutations(all).map((p) => JSON.stringify(selectCandidate(p, ctx({ now: A(10) + G })))),
    )
    assert.equal(answers.size, 1)
    assert.equal(JSON.parse([...answers][0]!).candidate.pipeline, 'west')
    assert.deepEqual(
      orderCandidates(all, ['east', 'west']).map((c) => c.pipeline),
      ['east', 'west', 'z', 'x', 'y'],
    )
  })
})

describe('severity (docs/protocol.md#quality-control-and-selection): undecodable > structural > timing > cosmetic, then count, then order', () => {
  const CUT = 'corrupt;reason="segment ends inside the mdat box at byte 280";origin'
  const pick = (...defects: string[]): string => {
    // east listed first, so that pipeline order would pick it on a tie.
    const names = ['east', 'west', 'north', 'south']
    const list = defects.map((d, i) => meta(names[i]!, A(10) - 10 + i, d))
    const s = selectCandidate(list, ctx({ now: A(10) + G, pipelines: names }))
    assert.equal(s.kind, 'serve')
    return (s as { candidate: ObjectMeta }).candidate.pipeline
  }

  it("east's cut-off copy loses to west's copy with a packager-reported defect, although both count 1", () => {
    assert.equal(pick(CUT, 'missing-frames;count=3'), 'west')
    assert.equal(pick(CUT, 'black'), 'west')
    assert.equal(pick(CUT, 'missing-samples;track=2;origin'), 'west')
    assert.equal(pick(CUT, 'some-new-kind'), 'west')
  })

  it('a single worse defect loses to several lighter ones', () => {
    // structural (1 kind) vs timing + cosmetic (2 kinds): the two lighter ones win.
    assert.equal(pick('missing-samples', 'short;ms=200, black, silence'), 'west')
    // timing vs three cosmetic kinds
    assert.equal(pick('timing-discontinuity;ms=40', 'black, frozen, slate'), 'west')
    // every timing kind is worse than every cosmetic kind
    for (const timing of ['short', 'missing-frames', 'timing-discontinuity'])
      for (const cosmetic of ['black', 'frozen', 'silence', 'slate'])
        assert.equal(pick(timing, cosmetic), 'west', `${timing} vs ${cosmetic}`)
    // corrupt is worse than everything, whatever the count
    assert.equal(pick(CUT, 'missing-samples, short, black, frozen, silence'), 'west')
    // the lighter copy keeps its place when a worse one with fewer kinds comes after it
    assert.equal(pick('black, frozen, slate', 'short'), 'east')
    assert.equal(pick('black, frozen', CUT, 'missing-samples'), 'east')
  })

  it('same severity: fewer kinds wins; same count: pipeline order', () => {
    assert.equal(pick('short, missing-frames', 'timing-discontinuity'), 'west')
    assert.equal(pick('black', 'silence'), 'east')
    assert.equal(pick('short', 'missing-frames'), 'east')
    assert.equal(pick(CUT, CUT), 'east')
    assert.equal(pick('black, black;origin', 'frozen'), 'east')
    // Order decides between equals even when listed last.
    assert.equal(pick('slate, black', 'short', 'frozen', 'black'), 'north')
  })

  it('ranks: kinds, unknown kinds, unreadable values, counts', () => {
    assert.deepEqual(
      [
        'corrupt',
        'missing-samples',
        'timing-discontinuity',
        'short',
        'missing-frames',
        'black',
        'frozen',
        'silence',
        'slate',
        'filler',
        'x-new',
      ].map(kindSeverity),
      [4, 3, 2, 2, 2, 1, 1, 1, 1, 1, 3],
    )
    assert.deepEqual(defectRank(''), { severity: SEVERITY.none, count: 0 })
    assert.deepEqual(defectRank('short, black;origin, black'), { severity: SEVERITY.timing, count: 2 })
    assert.deepEqual(defectRank('not a list ((('), { severity: SEVERITY.undecodable, count: 1 })
    assert.deepEqual(defectRank(2), { severity: SEVERITY.structural, count: 2 })
    assert.equal(pick('not a list (((', 'missing-samples'), 'west')
  })

  it('isUndecodable says when the copy served needs repair', () => {
    const cut = meta('east', A(10), CUT)
    const s = selectCandidate([cut], ctx({ now: A(10) + G, pipelines: ['east'] }))
    assert.equal(isUndecodable(s), true)
    assert.equal(
      isUndecodable(selectCandidate([meta('east', A(10), 'short')], ctx({ now: A(10) + G }))),
      false,
    )
    assert.equal(isUndecodable(selectCandidate([], ctx())), false)
  })
})

describe('late copies (no contradicted answers)', () => {
  const R = 2 * D
  const late = ctx({ now: A(10) + R + 100, lateFrom: A(10) + R, lateDelayMs: Number.POSITIVE_INFINITY })

  it('under "gone", a copy committed at or after A(N)+R is never selected; an earlier one is', () => {
    const atR = meta('east', A(10) + R)
    assert.deepEqual(selectCandidate([atR], late), { kind: 'none' })
    assert.deepEqual(selectCandidate([atR], { ...late, now: A(10) + 14_400_000 }), { kind: 'none' })
    const before = meta('west', A(10) + R - 1)
    assert.equal((selectCandidate([atR, before], late) as { candidate: ObjectMeta }).candidate, before)
  })

  it('under "filler", a late copy is selectable D after its commit, not before', () => {
    const c = meta('east', A(10) + R + 50)
    const filler = { ...late, lateDelayMs: D }
    assert.deepEqual(selectCandidate([c], { ...filler, now: c.committedAt + D - 1 }), { kind: 'none' })
    assert.equal(isLateHidden(c, { ...filler, now: c.committedAt + D - 1 }), true)
    assert.equal(selectCandidate([c], { ...filler, now: c.committedAt + D }).kind, 'serve')
    // A copy committed before A(N)+R is never hidden, however recent its commit.
    const early = meta('west', A(10) + R - 1)
    assert.equal(isLateHidden(early, { ...filler, now: early.committedAt + 1 }), false)
    assert.equal(isLateHidden(early, { ...late, now: early.committedAt + 1 }), false)
    // Without lateFrom nothing is hidden.
    assert.equal(selectCandidate([c], ctx({ now: A(10) + R + 100 })).kind, 'serve')
  })
})

describe('preferredHealthy', () => {
  const copies = [meta('west', 300), meta('east', 100), meta('backup', 500)]

  it('serves the most preferred healthy pipeline', () => {
    const healthy = new Set(['east', 'west', 'backup'])
    assert.equal(preferredHealthy(copies, ['east', 'west'], (p) => healthy.has(p))?.pipeline, 'east')
    healthy.delete('east')
    assert.equal(preferredHealthy(copies, ['east', 'west'], (p) => healthy.has(p))?.pipeline, 'west')
    healthy.delete('west')
    assert.equal(preferredHealthy(copies, ['east', 'west'], (p) => healthy.has(p))?.pipeline, 'backup')
  })

  it('orders unlisted pipelines by id, so that updates do not flip the choice', () => {
    assert.equal(preferredHealthy(copies, [], () => true)?.pipeline, 'backup')
    const later = [meta('west', 900), meta('east', 100), meta('backup', 500)]
    assert.equal(preferredHealthy(later, [], () => true)?.pipeline, 'backup')
  })

  it('with nobody healthy, serves the freshest copy', () => {
    assert.equal(preferredHealthy(copies, ['east', 'west'], () => false)?.pipeline, 'backup')
    assert.equal(
      preferredHealthy([meta('east', 5), meta('west', 5)], ['east', 'west'], () => false)?.pipeline,
      'east',
    )
  })

  it('handles zero and one copy', () => {
    assert.equal(
      preferredHealthy([], ['east'], () => true),
      undefined,
    )
    assert.equal(
      preferredHealthy([copies[0]!], ['east'], () => false),
      copies[0],
    )
  })
})

describe('selectInProgress (docs/selection.md#copies-in-progress)', () => {
  const copy = (pipeline: string, startedAt: number) => ({ pipeline, startedAt })
  it('follows listed pipelines in order, then the others by when they started; masked ones never', () => {
    const ctx = { pipelines: ['east', 'west'], masks: [] as Mask[], number: 7 }
    assert.equal(selectInProgress([copy('west', 1), copy('east', 2)], ctx)?.pipeline, 'east')
    assert.equal(selectInProgress([copy('b', 2), copy('a', 1)], ctx)?.pipeline, 'a')
    assert.equal(selectInProgress([copy('b', 1), copy('west', 2)], ctx)?.pipeline, 'west')
    const masked = { ...ctx, masks: [{ pipeline: 'east', from: 5, to: 9 }] }
    assert.equal(selectInProgress([copy('east', 1), copy('west', 2)], masked)?.pipeline, 'west')
    assert.equal(selectInProgress([copy('east', 1)], masked), undefined)
    assert.equal(selectInProgress([], ctx), undefined)
  })
})
