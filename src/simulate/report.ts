/**
 * The JSON report of a run (`--report file.json`): the channel's timing and, per segment,
 * rendition and pipeline, what was sent (sha256, size, fault) and what the origin answered
 * (status, the `Segment-Defects` it echoed). Tests read it to check that the origin served
 * a clean copy wherever one was published.
 */
import { writeFileSync } from 'node:fs'
import type { SimulateOptions } from './options.js'
import { INIT_TEMPLATE, MANIFEST_PATH, MEDIA_TEMPLATE, type SimulationResult } from './publisher.js'

/** Report format version (bumped on incompatible changes). */
export const REPORT_VERSION = 1

export function buildReport(
  options: SimulateOptions,
  renditions: readonly string[],
  result: SimulationResult,
) {
  return {
    version: REPORT_VERSION,
    channel: options.channel,
    ingest: options.ingest,
    control: options.control,
    pipelines: options.pipelines,
    renditions,
    segmentDurationMs: options.segmentDurationMs,
    availabilityStartTime: result.availabilityStartTime,
    startNumber: result.startNumber,
    media: MEDIA_TEMPLATE,
    initialization: INIT_TEMPLATE,
    manifest: MANIFEST_PATH,
    startedAt: result.startedAt,
    endedAt: result.endedAt,
    stopped: result.stopped,
    seed: result.seed,
    faults: {
      defectRate: options.defectRate,
      lateRate: options.lateRate,
      missingRate: options.missingRate,
      outages: options.outages,
      /** `--gap`, `--cut` and `--abort`: when (ms after the start) and which segment number. */
      gaps: options.gapsMs.map((atMs) => ({ atMs, number: forcedNumber(options, result, atMs) })),
      cuts: options.cutsMs.map((atMs) => ({ atMs, number: forcedNumber(options, result, atMs) })),
      aborts: options.abortsMs.map((atMs) => ({ atMs, number: forcedNumber(options, result, atMs) })),
    },
    timeSource: options.timeSource ?? null,
    errors: result.errors,
    pipelineStats: result.pipelines.map(({ latencies: _, ...rest }) => rest),
    segments: result.segments,
  }
}

function forcedNumber(options: SimulateOptions, result: SimulationResult, atMs: number): number {
  return result.startNumber + Math.floor(atMs / options.segmentDurationMs)
}

export type Report = ReturnType<typeof buildReport>

export function writeReport(file: string, report: Report): void {
  writeFileSync(file, `${JSON.stringify(report, null, 1)}\n`)
}
