/**
 * XXH64 (seed 0) written out from its specification with BigInt arithmetic: slow, short and
 * independent of the WebAssembly hash the origin uses, so the tests can check the origin's
 * ETags against it.
 */

const M = (1n << 64n) - 1n
const P1 = 11400714785074694791n
const P2 = 14029467366897019727n
const P3 = 1609587929392839161n
const P4 = 9650029242287828579n
const P5 = 2870177450012600261n

const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M
const round = (acc: bigint, lane: bigint) => (rotl((acc + lane * P2) & M, 31n) * P1) & M
const merge = (acc: bigint, val: bigint) => ((acc ^ round(0n, val)) * P1 + P4) & M

/** XXH64 of `data` with seed 0. */
export function xxh64(data: Uint8Array): bigint {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const len = data.byteLength
  let at = 0
  let h: bigint
  if (len >= 32) {
    let v1 = (P1 + P2) & M
    let v2 = P2
    let v3 = 0n
    let v4 = (0n - P1) & M
    for (; at + 32 <= len; at += 32) {
      v1 = round(v1, view.getBigUint64(at, true))
      v2 = round(v2, view.getBigUint64(at + 8, true))
      v3 = round(v3, view.getBigUint64(at + 16, true))
      v4 = round(v4, view.getBigUint64(at + 24, true))
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M
    h = merge(merge(merge(merge(h, v1), v2), v3), v4)
  } else {
    h = P5
  }
  h = (h + BigInt(len)) & M
  for (; at + 8 <= len; at += 8) {
    h = (rotl(h ^ round(0n, view.getBigUint64(at, true)), 27n) * P1 + P4) & M
  }
  if (at + 4 <= len) {
    h = (rotl(h ^ ((BigInt(view.getUint32(at, true)) * P1) & M), 23n) * P2 + P3) & M
    at += 4
  }
  for (; at < len; at++) h = (rotl(h ^ ((BigInt(data[at]!) * P5) & M), 11n) * P1) & M
  h = ((h ^ (h >> 33n)) * P2) & M
  h = ((h ^ (h >> 29n)) * P3) & M
  return h ^ (h >> 32n)
}

/** The origin's ETag of `data`: XXH64 as 16 hexadecimal digits, quoted. */
export function xxh64Etag(data: Uint8Array): string {
  return `"${xxh64(data).toString(16).padStart(16, '0')}"`
}
