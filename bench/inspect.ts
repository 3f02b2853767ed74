/**
 * Cost of fMP4 inspection on the ingest path (docs/protocol.md#quality-control-and-selection, docs/benchmarks.md): how long `FragmentInspector`
 * plus `inspectSegment` add to the PUT of a 2 MB segment, fed in the chunk sizes an HTTP
 * body arrives in. Two 2 MB segments are built from the real ffmpeg fixtures:
 * - one fragment: a real moof (25 samples) followed by a 2 MB mdat (the usual shape);
 * - 50 chunks: the real moof+mdat pairs of test/fixtures/chunked, each mdat padded to
 *   ~40 KiB, 50 of them (a 2 s low-latency segment at 25 fps with a chunk per frame);
 * - 495 chunks: the same pairs unpadded, repeated to 2 MB (~4 KiB per chunk: far more boxes
 *   than a real segment has, the worst case).
 * Run: node --import tsx bench/inspect.ts [iterations]
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FragmentInspector, parseInit } from '../src/media/fmp4.js'
import { inspectSegment } from '../src/media/inspect.js'

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures')
const read = (p: string) => new Uint8Array(readFileSync(join(fixtures, p)))
const TARGET = 2 * 1024 * 1024
const iterations = Number(process.argv[2] ?? 2000)

function u32(b: Uint8Array, at: number): number {
  return new DataView(b.buffer, b.byteOffset).getUint32(at)
}

/** Top-level boxes of a segment as [type, start, end]. */
function topBoxes(b: Uint8Array): Array<[string, number, number]> {
  const out: Array<[string, number, number]> = []
  for (let at = 0; at < b.length; at += u32(b, at)) {
    out.push([String.fromCharCode(...b.subarray(at + 4, at + 8)), at, at + u32(b, at)])
  }
  return out
}

function oneFragment(): Uint8Array {
  const seg = read('dash/seg-0-00001.m4s')
  const mdat = topBoxes(seg).find(([t]) => t === 'mdat')!
  const out = new Uint8Array(TARGET)
  out.set(seg)
  new DataView(out.buffer).setUint32(mdat[1], TARGET - mdat[1])
  return out
}

function chunked(): Uint8Array {
  const seg = read('chunked/seg-ll-00001.m4s')
  const pairs = topBoxes(seg).filter(([t]) => t === 'moof' || t === 'mdat')
  const body = seg.subarray(pairs[0]![1], pairs.at(-1)![2])
  const head = seg.subarray(0, pairs[0]![1])
  const parts: Uint8Array[] = [head]
  let size = head.length
  while (size + body.length <= TARGET) {
    parts.push(body)
    size += body.length
  }
  const out = new Uint8Array(size)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** `count` real moof+mdat pairs, each mdat grown (zero padding after its samples) to fill 2 MB. */
function paddedChunks(count: number): Uint8Array {
  const seg = read('chunked/seg-ll-00001.m4s')
  const boxes = topBoxes(seg)
  const head = seg.subarray(0, boxes.find(([t]) => t === 'moof')![1])
  const pairs: Array<[Uint8Array, number]> = []
  for (let k = 0; k < boxes.length; k++) {
    const [type, start, end] = boxes[k]!
    if (type === 'moof') pairs.push([seg.subarray(start, end), boxes[k + 1]![2] - boxes[k + 1]![1]])
  }
  const each = Math.floor((TARGET - head.length) / count)
  const out = new Uint8Array(head.length + each * count)
  out.set(head)
  let at = head.length
  for (let k = 0; k < count; k++) {
    const [moof, mdatSize] = pairs[k % pairs.length]!
    out.set(moof, at)
    const mdat = Math.max(each - moof.length, mdatSize)
    new DataView(out.buffer).setUint32(at + moof.length, mdat)
    out.set([0x6d, 0x64, 0x61, 0x74], at + moof.length + 4)
    at += moof.length + mdat
  }
  return out.subarray(0, at)
}

function chunks(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, at + size))
  return out
}

function run(name: string, bytes: Uint8Array, initBytes: Uint8Array, chunkSize: number): void {
  const init = parseInit(initBytes)
  const pieces = chunks(bytes, chunkSize)
  const expect = { number: 1, startNumber: 1, segmentDurationMs: 1000 }
  const once = (): number => {
    const t0 = process.hrtime.bigint()
    const inspector = new FragmentInspector()
    for (const p of pieces) inspector.push(p)
    const defects = inspectSegment(inspector.finish(), init, expect)
    const t1 = process.hrtime.bigint()
    if (defects.some((d) => d.kind === 'corrupt')) throw new Error(`${name}: ${JSON.stringify(defects)}`)
    return Number(t1 - t0) / 1000
  }
  for (let i = 0; i < 200; i++) once()
  const samples = Array.from({ length: iterations }, once).sort((a, b) => a - b)
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!
  const mb = bytes.length / (1024 * 1024)
  console.log(
    [
      name.padEnd(14),
      `${(bytes.length / 1024).toFixed(0).padStart(5)} KiB`,
      `${String(chunkSize / 1024).padStart(3)} KiB chunks`,
      `p50 ${q(0.5).toFixed(1).padStart(6)} µs`,
      `p99 ${q(0.99).toFixed(1).padStart(6)} µs`,
      `${(q(0.5) / mb).toFixed(1).padStart(6)} µs/MB (p50)`,
    ].join('  '),
  )
}

const single = oneFragment()
const fifty = paddedChunks(50)
const many = chunked()
console.log(`node ${process.version}, ${iterations} iterations each`)
for (const size of [64 * 1024, 16 * 1024]) {
  run('one fragment', single, read('dash/init-0.m4s'), size)
  run('50 chunks', fifty, read('chunked/init-ll.m4s'), size)
  run('495 chunks', many, read('chunked/init-ll.m4s'), size)
}
