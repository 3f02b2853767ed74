/** The lifetime headers every answer carries (docs/protocol.md#timing-headers), from a TTL in milliseconds. */

/** Caching headers of an answer (docs/protocol.md#timing-headers): `Cache-Control` in whole seconds (rounded down) and `Cache-TTL-Ms`. */
export interface CacheHeaders {
  readonly 'Cache-Control': string
  readonly 'Cache-TTL-Ms': string
}

/** `Cache-Control: max-age=⌊ttl/1000⌋` and `Cache-TTL-Ms: ttl` (negative and fractional TTLs floored to whole ms ≥ 0). */
export function cacheControlFor(ttlMs: number): CacheHeaders {
  // Stryker disable next-line EqualityOperator: Math.floor(0) is 0 either way
  const ms = ttlMs > 0 ? Math.floor(ttlMs) : 0
  return { 'Cache-Control': `max-age=${Math.floor(ms / 1000)}`, 'Cache-TTL-Ms': String(ms) }
}
