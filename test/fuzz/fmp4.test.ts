/**
 * Fuzzing ISO BMFF reading (`src/media/boxes.ts`, `fmp4.ts`, `inspect.ts`) with real
 * ffmpeg segments (test/fixtures) mutated: truncated, bits flipped, box size fields
 * rewritten (to 0, 1, tiny, huge, off by a few), 32-bit fields such as sample counts set to
 * extremes, bytes inserted or removed. Invariants: the streaming inspector never throws (a
 * segment it cannot read is reported corrupt), reads the same however the bytes are split,
 * allocates no more than its bounds, and `parseInit` throws only `Fmp4Error`.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { FragmentInspector, parseInit, summarizeFragment } from '../../src/media/fmp4.js'
import { inspectSegment } from '../../src/media/inspect.js'
import type { InitInfo } from '../../src/selection/types.js'
import { bounded, Fmp4Error, params } from './helpers.js'

const dir = new URL('../fixtures/', import.meta.url)
const read = (p: string) => new Uint8Array(readFileSync(new URL(p, dir)))
const all = ['dash', 'chunked', 'mux'].flatMap((d) =>
  readdirSync(new URL(`${d}/`, dir))
    .filter((f) => f.endsWith('.m4s'))
    .map((f) => `${d}/${f}`),
)
const segments = all.filter((p) => !p.includes('init')).map(read)
const initBytes = all.filter((p) => p.includes('init')).map(read)
const inits = initBytes.map((b) => parseInit(b))

/** Offsets of every box header (32-bit sizes), depth first, for size-field mutations. */
function headers(bytes: Uint8Array, from = 0, to = bytes.length, out: number[] = []): number[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const containers = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'mvex', 'moof', 'traf', 'edts', 'dinf'])
  let at = from
  while (at + 8 <= to) {
    const size = v.getUint32(at)
    out.push(at)
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8))
    if (containers.has(type) && size >= 8 && at + size <= to) headers(bytes, at + 8, at + size, out)
    if (size < 8) break
    at += size
  }
  return out
}

type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'size'; box: number; value: number }
  | { kind: 'word'; box: number; offset: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'remove'; at: number; count: number }

const extreme = fc.oneof(
  fc.constantFrom(0, 1, 7, 8, 9, 16, 0x7fffffff, 0x80000000, 0xfffffff0, 0xffffffff),
  fc.integer({ min: 0, max: 0xffffffff }),
)
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({
    kind: fc.constant('size' as const),
    box: fc.nat(),
    value: fc.oneof(extreme, fc.integer({ min: -16, max: 16 })),
  }),
  fc.record({
    kind: fc.constant('word' as const),
    box: fc.nat(),
    offset: fc.nat({ max: 64 }),
    value: extreme,
  }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 32 }) }),
  fc.record({ kind: fc.constant('remove' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 32 }) }),
)

function mutate(original: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let bytes = original.slice()
  for (const m of mutations) {
    if (bytes.length === 0) break
    const v = () => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const boxes = headers(bytes)
    switch (m.kind) {
      case 'truncate':
        bytes = bytes.slice(0, m.at % (bytes.length + 1))
        break
      case 'flip':
        bytes[m.at % bytes.length]! ^= 1 << m.bit
        break
      case 'size': {
        if (boxes.length === 0) break
        const at = boxes[m.box % boxes.length]!
        if (at + 4 > bytes.length) break
        const current = v().getUint32(at)
        v().setUint32(at, m.value < 0 || m.value <= 16 ? (current + m.value) >>> 0 : m.value >>> 0)
        break
      }
      case 'word': {
        if (boxes.length === 0) break
        const at = boxes[m.box % boxes.length]! + 8 + m.offset
        if (at + 4 <= bytes.length) v().setUint32(at, m.value >>> 0)
        break
      }
      case 'insert': {
        const at = m.at % (bytes.length + 1)
        const out = new Uint8Array(bytes.length + m.bytes.length)
        out.set(bytes.subarray(0, at))
        out.set(m.bytes, at)
        out.set(bytes.subarray(at), at + m.bytes.length)
        bytes = out
        break
      }
      case 'remove': {
        const at = m.at % bytes.length
        bytes = Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + m.count)])
        break
      }
    }
  }
  return bytes
}

/** Split points for streaming the bytes in pieces. */
const splits = fc.array(fc.nat(), { maxLength: 6 })

function inspectInPieces(bytes: Uint8Array, at: number[], init?: InitInfo) {
  const cuts = [...new Set(at.map((a) => a % (bytes.length + 1)))].sort((a, b) => a - b)
  const inspector = new FragmentInspector({ init })
  let from = 0
  for (const c of [...cuts, bytes.length]) {
    inspector.push(bytes.subarray(from, c))
    from = c
  }
  return inspector.finish()
}

describe('fuzz: media segments', () => {
  it('the inspector reports mutated segments (corrupt or not) without throwing, the same in pieces', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: segments.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        splits,
        fc.option(fc.nat({ max: inits.length - 1 }), { nil: undefined }),
        fc.integer({ min: 1, max: 20 }),
        (which, mutations, at, initIndex, number) => {
          const bytes = mutate(segments[which]!, mutations)
          const init = initIndex === undefined ? undefined : inits[initIndex]
          const whole = bounded('summarizeFragment', () => summarizeFragment(bytes, { init }), []).value!
          const pieces = bounded('FragmentInspector in pieces', () => inspectInPieces(bytes, at, init), [])
            .value!
          assert.deepEqual(pieces, whole)
          assert.equal(whole.bytes, bytes.length)
          const defects = bounded(
            'inspectSegment',
            () => inspectSegment(whole, init, { number, startNumber: 1, segmentDurationMs: 1000 }),
            [],
          ).value!
          if (whole.corrupt !== undefined) assert.ok(defects.some((d) => d.kind === 'corrupt'))
          for (const d of defects) assert.equal(d.source, 'origin')
        },
      ),
      params(1500),
    )
  })

  it('sample counts and sizes the mdat cannot hold are always corrupt', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: segments.length - 1 }),
        fc.integer({ min: 1, max: 0xffffffff }),
        (which, count) => {
          const bytes = segments[which]!.slice()
          const v = new DataView(bytes.buffer)
          const truns = headers(bytes).filter(
            (at) => String.fromCharCode(...bytes.subarray(at + 4, at + 8)) === 'trun',
          )
          const at = truns[0]!
          const mdatBytes = bytes.length // an upper bound of the payload
          v.setUint32(at + 12, count)
          const s = summarizeFragment(bytes)
          if (count > mdatBytes) assert.ok(s.corrupt !== undefined, `${count} samples accepted`)
        },
      ),
      params(300),
    )
  })

  it('parseInit reads mutated init segments or throws Fmp4Error', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: initBytes.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (which, mutations) => {
          const bytes = mutate(initBytes[which]!, mutations)
          const { value } = bounded('parseInit', () => parseInit(bytes), [Fmp4Error])
          if (value) for (const t of value.tracks) assert.ok(t.timescale > 0)
        },
      ),
      params(1500),
    )
  })

  it('random bytes (mostly not boxes at all) are reported corrupt, never thrown', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), splits, (bytes, at) => {
        const s = bounded('inspector on random bytes', () => inspectInPieces(bytes, at), []).value!
        assert.ok(s.corrupt !== undefined)
        bounded('parseInit on random bytes', () => parseInit(bytes), [Fmp4Error])
      }),
      params(1500),
    )
  })

  it('memory stays bounded when boxes claim gigabytes', () => {
    const before = process.memoryUsage().arrayBuffers
    let peak = before
    fc.assert(
      fc.property(
        fc.nat({ max: segments.length - 1 }),
        fc.constantFrom(0x7fffffff, 0xffffffff, 0x10000000),
        fc.nat(),
        (which, huge, box) => {
          const bytes = mutate(segments[which]!, [{ kind: 'size', box, value: huge }])
          summarizeFragment(bytes)
          peak = Math.max(peak, process.memoryUsage().arrayBuffers)
        },
      ),
      params(300),
    )
    assert.ok(peak - before < 64 * 1024 * 1024, `array buffers grew by ${peak - before} bytes`)
  })
})
