/**
 * A small reader of the Prometheus text format, for the origin's `/metrics`: enough to sum a
 * counter's samples by label, before and after a scenario.
 */

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** Parses Prometheus text exposition into samples (comments and blank lines skipped). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const m = LINE.exec(line)
    if (!m) continue
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(LABEL)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    }
    const value = Number(m[3])
    if (Number.isNaN(value) && m[3] !== 'NaN') continue
    out.push({ name: m[1]!, labels, value })
  }
  return out
}

/** Sum of the samples named `name` whose labels include every pair of `match`. */
export function sumMetric(
  samples: readonly Sample[],
  name: string,
  match: Record<string, string> = {},
): number {
  let sum = 0
  for (const s of samples) {
    if (s.name !== name) continue
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) sum += s.value
  }
  return sum
}

/** Sums of `name` grouped by the value of `label` (e.g. storage operations by `op`). */
export function sumBy(samples: readonly Sample[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const s of samples) {
    if (s.name !== name) continue
    const key = s.labels[label] ?? ''
    out[key] = (out[key] ?? 0) + s.value
  }
  return out
}

/** Per-key difference `after − before` (keys from both), dropping zeros. */
export function diffCounts(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {}
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const d = (after[key] ?? 0) - (before[key] ?? 0)
    if (d !== 0) out[key] = d
  }
  return out
}

/**
 * Mean of a histogram by one label between two scrapes, in ms (the histogram is in seconds):
 * `{ [value]: { count, meanMs } }` for every value observed in between.
 */
export function histogramMeans(
  before: readonly Sample[],
  after: readonly Sample[],
  name: string,
  label: string,
): Record<string, { count: number; meanMs: number }> {
  const counts = diffCounts(sumBy(before, `${name}_count`, label), sumBy(after, `${name}_count`, label))
  const sums = diffCounts(sumBy(before, `${name}_sum`, label), sumBy(after, `${name}_sum`, label))
  const out: Record<string, { count: number; meanMs: number }> = {}
  for (const [key, count] of Object.entries(counts)) {
    if (count > 0) out[key] = { count, meanMs: ((sums[key] ?? 0) / count) * 1000 }
  }
  return out
}
