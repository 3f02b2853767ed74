/**
 * Test helpers for the selection suite: load the ffmpeg-made fixtures
 * (test/fixtures/make-fixtures.sh, make-selection-fixtures.sh), find boxes in them and
 * rewrite single fields, the way a faulty packager would get them wrong. Written
 * independently of src/selection so that the parser is not checked against itself.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures')

/** A fixture file as a fresh, writable copy. */
export function fixture(path: string): Uint8Array {
  return new Uint8Array(readFileSync(join(fixtures, path)))
}

/** DASH fixture `seg-<rendition>-<number>.m4s`. */
export function dashSegment(rendition: number, number: number): Uint8Array {
  return fixture(`dash/seg-${rendition}-${String(number).padStart(5, '0')}.m4s`)
}

export function dashInit(rendition: number): Uint8Array {
  return fixture(`dash/init-${rendition}.m4s`)
}

const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'mvex', 'moof', 'traf', 'edts', 'dinf'])

export interface FoundBox {
  type: string
  /** Offset of the size field. */
  start: number
  size: number
}

/** Every box, depth first, with 32-bit sizes only (all the fixtures use). */
export function boxes(bytes: Uint8Array, from = 0, to = bytes.length, out: FoundBox[] = []): FoundBox[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = from
  while (at + 8 <= to) {
    const size = view.getUint32(at)
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8))
    out.push({ type, start: at, size })
    if (CONTAINERS.has(type)) boxes(bytes, at + 8, at + size, out)
    if (size < 8) break
    at += size
  }
  return out
}

/** The `index`-th box of `type` (0 = first). Throws when there is none. */
export function box(bytes: Uint8Array, type: string, index = 0): FoundBox {
  const found = boxes(bytes).filter((b) => b.type === type)[index]
  if (!found) throw new Error(`no ${type} box #${index}`)
  return found
}

export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Rewrites a box's four-character type (e.g. a `traf` into `free`, so that readers skip it). */
export function retype(bytes: Uint8Array, b: FoundBox, type: string): void {
  for (let i = 0; i < 4; i++) bytes[b.start + 4 + i] = type.charCodeAt(i)
}

/** Adds `delta` to a version-1 `tfdt`'s baseMediaDecodeTime. */
export function shiftTfdt(bytes: Uint8Array, delta: number, index = 0): void {
  const t = box(bytes, 'tfdt', index)
  const v = view(bytes)
  if (bytes[t.start + 8] !== 1) throw new Error('fixture tfdt is not version 1')
  v.setBigUint64(t.start + 12, v.getBigUint64(t.start + 12) + BigInt(delta))
}

/** Sets a `trun`'s sample_count (its entries stay; later ones are then ignored). */
export function setSampleCount(bytes: Uint8Array, count: number, index = 0): void {
  view(bytes).setUint32(box(bytes, 'trun', index).start + 12, count)
}

/** Splits `bytes` into chunks at the given offsets. */
export function split(bytes: Uint8Array, at: number[]): Uint8Array[] {
  const cuts = [0, ...at, bytes.length]
  const out: Uint8Array[] = []
  for (let i = 1; i < cuts.length; i++) out.push(bytes.subarray(cuts[i - 1]!, cuts[i]!))
  return out
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** A box from a type and body parts (32-bit size). */
export function mkbox(type: string, ...body: Uint8Array[]): Uint8Array {
  const content = concat(...body)
  const out = new Uint8Array(8 + content.length)
  view(out).setUint32(0, out.length)
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i)
  out.set(content, 8)
  return out
}

/** Big-endian 32-bit words. */
export function u32s(...words: number[]): Uint8Array {
  const out = new Uint8Array(words.length * 4)
  const v = view(out)
  for (let i = 0; i < words.length; i++) v.setUint32(i * 4, words[i]! >>> 0)
  return out
}
