/**
 * What the simulator prints: the live progress line (redrawn in place on a terminal, a line
 * every few seconds otherwise) and the summary at the end. Pure formatting of a
 * `SimulationState`; the caller writes the strings.
 */
import type { PipelineStats, SimulationResult, SimulationState } from './publisher.js'

/** Seconds with one decimal: `12.3s`. */
function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`
}

function faultCount(s: PipelineStats): number {
  const f = s.faults
  return f.corrupt + f.tfdt + f.reported + f.late + f.missing + f.outage + f.gap + f.cut + f.abort
}

/** One line: elapsed time, segment number, per pipeline segments and faults, errors. */
export function progressLine(state: SimulationState): string {
  const edge = state.liveNumber === null ? '-' : String(state.liveNumber)
  const pipes = state.pipelines.map((s) => {
    const down = s.down ? ' DOWN' : ''
    return `${s.pipeline}${down} ${s.segmentsOk} seg, ${faultCount(s)} faults`
  })
  const errors = state.errors === 1 ? '1 error' : `${state.errors} errors`
  return `${seconds(state.elapsedMs)}  segment ${edge}  ${pipes.join('  ')}  ${errors}`
}

/** Percentile of an unsorted list (nearest rank); null when empty. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

function ms(v: number | null): string {
  return v === null ? '-' : `${v.toFixed(1)} ms`
}

/** The summary printed at the end of a run. */
export function summaryText(result: SimulationResult, channel: string): string {
  const numbers = new Set(result.segments.map((s) => s.number))
  const lines = [
    `liveorigin simulate: channel ${channel}, ${numbers.size} segments × ${new Set(result.segments.map((s) => s.rendition)).size} renditions in ${seconds(result.endedAt - result.startedAt)}${result.stopped ? ' (stopped)' : ''}`,
    `  seed ${result.seed}, start number ${result.startNumber}, AST ${new Date(result.availabilityStartTime).toISOString()}`,
  ]
  for (const s of result.pipelines) {
    const f = s.faults
    lines.push(
      `  ${s.pipeline}: ${s.segmentsOk} segment PUTs ok, ${s.segmentsFailed} failed; ${s.othersOk} init/manifest PUTs ok, ${s.othersFailed} failed`,
      `    faults: ${f.corrupt} corrupt, ${f.tfdt} wrong tfdt, ${f.reported} reported, ${f.late} late, ${f.missing} missing, ${f.outage} skipped in outage` +
        (f.gap + f.cut > 0 ? `, ${f.gap} withheld and ${f.cut} cut off by --gap/--cut` : '') +
        (f.abort > 0 ? `, ${f.abort} stopped halfway by --abort` : ''),
      `    PUT latency p50 ${ms(percentile(s.latencies, 50))}, p99 ${ms(percentile(s.latencies, 99))}, max ${ms(percentile(s.latencies, 100))}`,
    )
    if (s.flaggedClean > 0 || s.unflaggedDefects > 0) {
      lines.push(
        `    origin disagreed: flagged ${s.flaggedClean} clean copies defective, found nothing wrong in ${s.unflaggedDefects} broken ones`,
      )
    }
  }
  lines.push(
    result.errors === 0
      ? '  every PUT got a 2xx answer'
      : `  ${result.errors} PUTs failed; last: ${result.lastError ?? ''}`,
  )
  return `${lines.join('\n')}\n`
}
