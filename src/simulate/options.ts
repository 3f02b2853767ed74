/**
 * Options of `liveorigin simulate`: parsed from the command line and checked up front, so
 * that a bad option stops the run with one line naming it (a `ConfigError`: exit code 2)
 * before anything is published.
 */
import { parseArgs } from 'node:util'
import { ConfigError } from '../config/load.js'
import type { Outage } from './fault-plan.js'

export interface SimulateOptions {
  readonly ingest: string
  readonly control: string
  /** Bearer token for control API writes, when the origin has `control.token`. */
  readonly controlToken: string | undefined
  readonly channel: string
  /** Pipeline ids, most preferred first. */
  readonly pipelines: readonly string[]
  readonly segmentDurationMs: number
  /** How long to publish (ms); 0 = until interrupted. */
  readonly durationMs: number
  /** The channel's DVR window (ms): its `dvrWindowMs` and the MPD's `timeShiftBufferDepth`. */
  readonly dvrWindowMs: number
  /** First segment number; undefined = ⌊start time / D⌋, so that runs never reuse numbers. */
  readonly startNumber: number | undefined
  /** Ingest bearer token per pipeline; empty = open mode (`Pipeline-Id`). */
  readonly tokens: Readonly<Record<string, string>>
  readonly defectRate: number
  readonly lateRate: number
  readonly missingRate: number
  readonly outages: readonly Outage[]
  /** Segments no pipeline sends: times after the start (ms), each naming the segment covering it. */
  readonly gapsMs: readonly number[]
  /** Segments whose only copy is cut off: times after the start (ms), as for `gapsMs`. */
  readonly cutsMs: readonly number[]
  /** Segments whose upload one pipeline stops halfway (`--abort`, with `lowLatency`): times after the start (ms). */
  readonly abortsMs: readonly number[]
  /** The delivery listener players read the channel from (where the time source is). */
  readonly delivery: string
  /** The MPD's `UTCTiming` (http-iso) URL; undefined = none. */
  readonly timeSource: string | undefined
  /** Seed of the fault plan; undefined = a random one (printed in the summary). */
  readonly seed: string | undefined
  /** Where to write the JSON report of what was published. */
  readonly report: string | undefined
  /**
   * Low-latency DASH: each segment is PUT as it is made, one CMAF chunk of `chunkMs` at a
   * time over a chunked-transfer request, and the MPD announces `availabilityTimeOffset`.
   */
  readonly lowLatency: boolean
  /** Duration of one CMAF chunk (ms) with `lowLatency`; D is a whole number of them. */
  readonly chunkMs: number
  readonly help: boolean
}

/** Default CMAF chunk duration of `--low-latency`. */
export const DEFAULT_CHUNK_MS = 500

export const SIMULATE_HELP = `liveorigin simulate: publish a live DASH channel to an origin from several pipelines, in real time

Usage:
  liveorigin simulate [options]

Options:
  --ingest <url>           ingest listener (default http://127.0.0.1:8081)
  --control <url>          control listener, to create the channel (default http://127.0.0.1:8082)
  --control-token <token>  bearer token for control API writes (when the origin sets control.token)
  --channel <name>         channel name (default sim)
  --pipelines <a,b,...>    pipeline ids, most preferred first (default east,west)
  --segment-ms <ms>        segment duration D (default 2000)
  --duration <time>        how long to publish, e.g. 120s, 5m; 0 = until Ctrl-C (default 120s)
  --dvr <time>             the channel's DVR window, e.g. 60s, 30m (default 4h,
                           the origin's default)
  --start-number <n>       first segment number (default: start time / D, so runs never reuse numbers)
  --token <pipeline=secret>  ingest bearer token of a pipeline (repeatable; default: Pipeline-Id header)
  --defect-rate <0..1>     chance that a copy is defective: cut off (corrupt), wrong tfdt, or a
                           defect the packager reports in Segment-Defects (default 0)
  --late-rate <0..1>       chance that a copy is sent late: D/2 to 3D/2 after it is due (default 0)
  --missing-rate <0..1>    chance that a copy is never sent (default 0)
  --outage <pipeline:from-to>  no PUTs from a pipeline in [from, to) after the start, e.g.
                           east:20s-40s (repeatable)
  --gap <time>             the segment due at that time after the start is sent by no pipeline,
                           e.g. 30s (repeatable)
  --cut <time>             the segment due at that time after the start has one copy only, cut off
                           inside its mdat: the first pipeline up sends it, the others nothing
                           (repeatable)
  --abort <time>           with --low-latency: the first pipeline up stops its upload of the
                           segment due at that time halfway (closes the connection after half
                           its chunks); the others send theirs whole (repeatable)
  --delivery <url>         delivery listener players use (default http://127.0.0.1:8080)
  --time-source <url|none> the MPD's UTCTiming clock, urn:mpeg:dash:utc:http-iso:2014
                           (default <delivery>/.well-known/time); none = no UTCTiming
  --low-latency            low-latency DASH and LL-HLS: PUT each segment chunk by chunk as it
                           is made (Transfer-Encoding: chunked), on a channel with lowLatency
                           and availabilityTimeOffset = D - chunk duration; the HLS media
                           playlists are PUT after each chunk, listing it as a part (a byte
                           range of its segment)
  --chunk-ms <ms>          CMAF chunk duration with --low-latency; divides --segment-ms
                           (default 500)
  --seed <text>            seed of the fault plan, to reproduce a run (default: random)
  --report <file.json>     write what was published: per segment and pipeline, sha256, faults,
                           the origin's answer
  -h, --help               this text

Random faults are drawn per pipeline, rendition and segment; --gap and --cut hold on every
pipeline and rendition, so no pipeline has a clean copy of that segment; --abort on one
pipeline's uploads of every rendition. The exit code is 0 when every PUT got a 2xx answer
(faults, and the uploads --abort stops, are not errors), 1 otherwise, 2 for bad options.
`

const PIPELINE_ID = /^[A-Za-z0-9._-]{1,64}$/
const CHANNEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** A time like `20s`, `1.5m`, `500ms`, `2h` (a bare number is seconds) → ms. */
export function parseTime(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim())
  if (!m) throw new ConfigError(`${option}: expected a time like 20s, 1.5m or 500ms, got "${text}"`)
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!)
}

/** `east:20s-40s` → an outage of pipeline east from 20 s to 40 s after the start. */
export function parseOutage(text: string): Outage {
  const m = /^([^:]+):([^-]+)-(.+)$/.exec(text)
  if (!m) throw new ConfigError(`--outage: expected <pipeline>:<from>-<to>, e.g. east:20s-40s, got "${text}"`)
  const fromMs = parseTime(m[2]!, '--outage')
  const toMs = parseTime(m[3]!, '--outage')
  if (!(toMs > fromMs)) throw new ConfigError(`--outage ${text}: the end must be after the start`)
  return { pipeline: m[1]!, fromMs, toMs }
}

function parseRate(text: string | undefined, option: string): number {
  if (text === undefined) return 0
  const v = Number(text)
  if (text.trim() === '' || !(v >= 0 && v <= 1)) {
    throw new ConfigError(`${option}: expected a probability between 0 and 1, got "${text}"`)
  }
  return v
}

function parseInteger(text: string, option: string, min: number, max: number): number {
  const v = Number(text)
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ConfigError(`${option}: expected an integer from ${min} to ${max}, got "${text}"`)
  }
  return v
}

function parseUrl(text: string, option: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new ConfigError(`${option}: not a URL: "${text}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${option}: expected an http:// or https:// URL, got "${text}"`)
  }
  return url.origin
}

/** Parses and checks `simulate`'s arguments. Throws `ConfigError` naming the bad option. */
export function parseSimulateArgs(argv: readonly string[]): SimulateOptions {
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        ingest: { type: 'string' },
        control: { type: 'string' },
        'control-token': { type: 'string' },
        channel: { type: 'string' },
        pipelines: { type: 'string' },
        'segment-ms': { type: 'string' },
        duration: { type: 'string' },
        dvr: { type: 'string' },
        'start-number': { type: 'string' },
        token: { type: 'string', multiple: true },
        'defect-rate': { type: 'string' },
        'late-rate': { type: 'string' },
        'missing-rate': { type: 'string' },
        outage: { type: 'string', multiple: true },
        gap: { type: 'string', multiple: true },
        cut: { type: 'string', multiple: true },
        abort: { type: 'string', multiple: true },
        delivery: { type: 'string' },
        'time-source': { type: 'string' },
        seed: { type: 'string' },
        report: { type: 'string' },
        'low-latency': { type: 'boolean' },
        'chunk-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    throw new ConfigError(`simulate: ${(err as Error).message.split('\n')[0]}`)
  }
  const v = parsed.values as Record<string, string | string[] | boolean | undefined>
  const str = (name: string) => v[name] as string | undefined
  const list = (name: string) => (v[name] as string[] | undefined) ?? []

  const channel = str('channel') ?? 'sim'
  if (!CHANNEL.test(channel)) throw new ConfigError(`--channel: invalid channel name "${channel}"`)
  const pipelines = (str('pipelines') ?? 'east,west').split(',').map((p) => p.trim())
  for (const p of pipelines) {
    if (!PIPELINE_ID.test(p)) throw new ConfigError(`--pipelines: invalid pipeline id "${p}"`)
  }
  if (new Set(pipelines).size !== pipelines.length)
    throw new ConfigError('--pipelines: a pipeline is listed twice')

  const tokens: Record<string, string> = {}
  for (const t of list('token')) {
    const eq = t.indexOf('=')
    const pipeline = t.slice(0, eq)
    if (eq <= 0 || eq === t.length - 1)
      throw new ConfigError(`--token: expected <pipeline>=<secret>, got "${t}"`)
    if (!pipelines.includes(pipeline))
      throw new ConfigError(`--token: "${pipeline}" is not one of --pipelines`)
    tokens[pipeline] = t.slice(eq + 1)
  }
  const withToken = Object.keys(tokens)
  if (withToken.length > 0 && withToken.length < pipelines.length) {
    const without = pipelines.filter((p) => !(p in tokens))
    throw new ConfigError(
      `--token: no token for pipeline ${without.join(', ')} (give every pipeline one, or none)`,
    )
  }

  const outages = list('outage').map(parseOutage)
  for (const o of outages) {
    if (!pipelines.includes(o.pipeline))
      throw new ConfigError(`--outage: "${o.pipeline}" is not one of --pipelines`)
  }

  const segmentMs = str('segment-ms')
  const segmentDurationMs =
    segmentMs === undefined ? 2000 : parseInteger(segmentMs, '--segment-ms', 100, 3_600_000)
  const durationMs = parseTime(str('duration') ?? '120s', '--duration')
  const dvrWindowMs = parseTime(str('dvr') ?? '4h', '--dvr')
  if (dvrWindowMs < segmentDurationMs)
    throw new ConfigError(`--dvr: must be at least one segment (${segmentDurationMs} ms)`)
  const forced = new Map<number, string>()
  const forcedTimes = (option: '--gap' | '--cut' | '--abort') =>
    list(option.slice(2)).map((text) => {
      const ms = parseTime(text, option)
      if (durationMs > 0 && ms >= durationMs) {
        throw new ConfigError(
          `${option} ${text}: not before the end of the run (--duration ${durationMs / 1000}s)`,
        )
      }
      const index = Math.floor(ms / segmentDurationMs)
      const other = forced.get(index)
      if (other !== undefined && !other.startsWith(option)) {
        throw new ConfigError(`${option} ${text}: the same segment as ${other}`)
      }
      forced.set(index, `${option} ${text}`)
      return ms
    })
  const gapsMs = forcedTimes('--gap')
  const cutsMs = forcedTimes('--cut')
  const abortsMs = forcedTimes('--abort')
  const delivery = parseUrl(str('delivery') ?? 'http://127.0.0.1:8080', '--delivery')
  const timeSourceText = str('time-source')
  let timeSource: string | undefined = `${delivery}/.well-known/time`
  if (timeSourceText === 'none') timeSource = undefined
  else if (timeSourceText !== undefined) {
    parseUrl(timeSourceText, '--time-source')
    timeSource = new URL(timeSourceText).href
  }
  const lowLatency = v['low-latency'] === true
  const chunkText = str('chunk-ms')
  if (chunkText !== undefined && !lowLatency) throw new ConfigError('--chunk-ms: only with --low-latency')
  const chunkMs =
    chunkText === undefined
      ? Math.min(DEFAULT_CHUNK_MS, Math.floor(segmentDurationMs / 2))
      : parseInteger(chunkText, '--chunk-ms', 10, Math.floor(segmentDurationMs / 2))
  if (abortsMs.length > 0 && !lowLatency) {
    throw new ConfigError('--abort: only with --low-latency (an upload sent chunk by chunk)')
  }
  if (lowLatency && segmentDurationMs % chunkMs !== 0) {
    throw new ConfigError(
      `--chunk-ms: ${chunkMs} does not divide --segment-ms ${segmentDurationMs} into whole chunks`,
    )
  }
  const startNumber = str('start-number')
  return {
    ingest: parseUrl(str('ingest') ?? 'http://127.0.0.1:8081', '--ingest'),
    control: parseUrl(str('control') ?? 'http://127.0.0.1:8082', '--control'),
    controlToken: str('control-token'),
    channel,
    pipelines,
    segmentDurationMs,
    durationMs,
    dvrWindowMs,
    startNumber:
      startNumber === undefined
        ? undefined
        : parseInteger(startNumber, '--start-number', 0, Number.MAX_SAFE_INTEGER),
    tokens,
    defectRate: parseRate(str('defect-rate'), '--defect-rate'),
    lateRate: parseRate(str('late-rate'), '--late-rate'),
    missingRate: parseRate(str('missing-rate'), '--missing-rate'),
    outages,
    gapsMs,
    cutsMs,
    abortsMs,
    delivery,
    timeSource,
    seed: str('seed'),
    report: str('report'),
    lowLatency,
    chunkMs,
    help: v.help === true,
  }
}
