/**
 * RFC 9110 conditional requests and single byte ranges for stored objects:
 * `If-None-Match` / `If-Modified-Since` (304) and `Range: bytes=…` (206/416).
 */
import type { IncomingHttpHeaders } from 'node:http'

/** True when the request's validators say the client's copy is current (answer 304). */
export function notModified(headers: IncomingHttpHeaders, etag: string, lastModifiedMs: number): boolean {
  const inm = headers['if-none-match']
  if (inm !== undefined) {
    if (inm.trim() === '*') return true
    // Weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored.
    const bare = etag.replace(/^W\//, '')
    return inm.split(',').some((t) => t.trim().replace(/^W\//, '') === bare)
  }
  const ims = headers['if-modified-since']
  if (ims !== undefined) {
    const t = Date.parse(ims)
    if (!Number.isNaN(t)) return Math.floor(lastModifiedMs / 1000) * 1000 <= t
  }
  return false
}

export type RangeResult =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number }
  | { kind: 'unsatisfiable' }

/**
 * Interprets a `Range` header for an object of `size` bytes. Only single `bytes` ranges are
 * honoured; anything else (multiple ranges, other units, malformed) is ignored and the full
 * object is sent, as RFC 9110 §14.2 allows. `If-Range` with a non-matching validator also
 * means the full object.
 */
export function parseRange(headers: IncomingHttpHeaders, size: number, etag: string): RangeResult {
  const header = headers.range
  if (header === undefined) return { kind: 'full' }
  const ifRange = headers['if-range']
  if (typeof ifRange === 'string' && ifRange.trim() !== etag) return { kind: 'full' }
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m) return { kind: 'full' }
  const [, a, b] = m
  if (a === '' && b === '') return { kind: 'full' }
  let start: number
  let end: number
  if (a === '') {
    const suffix = Number(b)
    if (suffix === 0) return { kind: 'unsatisfiable' }
    start = Math.max(0, size - suffix)
    end = size - 1
  } else {
    start = Number(a)
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1)
    if (b !== '' && Number(b) < start) return { kind: 'full' }
  }
  if (start >= size || size === 0) return { kind: 'unsatisfiable' }
  return { kind: 'partial', start, end }
}
