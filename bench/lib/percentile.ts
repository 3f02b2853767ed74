/**
 * Percentiles and latency summaries over raw samples (nearest-rank method, no interpolation,
 * so every reported value is one that was actually observed).
 */

/** Summary of a list of samples, in the samples' unit (milliseconds for latencies). */
export interface Summary {
  count: number
  min: number
  mean: number
  p50: number
  p90: number
  p99: number
  max: number
}

/**
 * The p-th percentile (0 < p ≤ 100) of `values` by the nearest-rank method: the smallest
 * value such that at least p % of the samples are ≤ it. `values` need not be sorted.
 * Throws on an empty list, because a percentile of nothing is a bug in the caller.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile of an empty sample')
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile out of range: ${p}`)
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}

/** Count, min, mean, p50, p90, p99 and max of `values` (non-empty). */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new RangeError('summary of an empty sample')
  let min = Number.POSITIVE_INFINITY
  let max = Number.NEGATIVE_INFINITY
  let sum = 0
  for (const v of values) {
    if (v < min) min = v
    if (v > max) max = v
    sum += v
  }
  return {
    count: values.length,
    min,
    mean: sum / values.length,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max,
  }
}
