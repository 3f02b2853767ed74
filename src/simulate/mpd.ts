/**
 * The dynamic MPD the simulator publishes (DASH-IF live profile, number-based
 * SegmentTemplate): availabilityStartTime is the channel's AST and the templates are the
 * channel's, so that a DASH player pointed at the delivery listener plays the channel.
 */
import { presentationDelayMs } from '../timing/schedule.js'
import type { RenditionInfo } from './media.js'

export interface MpdOptions {
  readonly availabilityStartTime: number
  readonly publishTime: number
  readonly segmentDurationMs: number
  readonly startNumber: number
  /** DASH templates, relative to the MPD (the channel's `media` and `initialization`). */
  readonly media: string
  readonly initialization: string
  readonly timeShiftBufferDepthMs: number
  /**
   * The channel's late allowance R (the origin's `lateAllowanceMs`; default 2·D): the MPD
   * tells players to keep a presentation delay of R + 2·D (docs/timing.md).
   */
  readonly lateAllowanceMs?: number | undefined
  readonly renditions: readonly RenditionInfo[]
  /**
   * A clock players sync to (`UTCTiming`, scheme `urn:mpeg:dash:utc:http-iso:2014`: a GET
   * answers the current time as ISO-8601); undefined = no `UTCTiming`.
   */
  readonly timeSource?: string | undefined
  /**
   * Low-latency DASH: the CMAF chunk duration (ms). The SegmentTemplate then says
   * `availabilityTimeOffset` = D − chunk and `availabilityTimeComplete="false"` (a segment
   * is requestable once its first chunk is made, and arrives as it is made), and a
   * `ServiceDescription` gives the target latency, which dash.js plays at.
   */
  readonly chunkMs?: number | undefined
}

/** The latency a low-latency MPD asks players to keep (ms): D behind the wall clock, at least 3 chunks. */
export function targetLatencyMs(segmentDurationMs: number, chunkMs: number): number {
  return Math.max(segmentDurationMs, 3 * chunkMs)
}

/** The `UTCTiming` scheme of a URL answering the time in ISO-8601. */
export const UTC_TIMING_HTTP_ISO = 'urn:mpeg:dash:utc:http-iso:2014'

/** ISO-8601 duration in seconds with milliseconds, e.g. `PT2.000S`. */
export function isoDuration(ms: number): string {
  return `PT${(ms / 1000).toFixed(3)}S`
}

function attr(name: string, value: string | number | undefined): string {
  return value === undefined
    ? ''
    : ` ${name}="${String(value).replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"`
}

/** Renders the MPD: one Period from AST, a video and an audio AdaptationSet. */
export function renderMpd(o: MpdOptions): string {
  const ll = o.chunkMs !== undefined
  const lowLatency = ll
    ? `${attr('availabilityTimeOffset', ((o.segmentDurationMs - o.chunkMs!) / 1000).toFixed(3))} availabilityTimeComplete="false"`
    : ''
  const template =
    `<SegmentTemplate timescale="1000"${attr('duration', o.segmentDurationMs)}${attr('startNumber', o.startNumber)}` +
    `${attr('initialization', o.initialization)}${attr('media', o.media)}${lowLatency}/>`
  const targetMs = ll ? targetLatencyMs(o.segmentDurationMs, o.chunkMs!) : undefined
  // The wall-clock time at which media time 0 was made: the latency players measure is from it.
  const producerTime = ll
    ? `      <ProducerReferenceTime id="0" type="encoder" presentationTime="0"${attr('wallClockTime', new Date(o.availabilityStartTime).toISOString())}/>`
    : undefined
  const sets = (['video', 'audio'] as const)
    .map((type, index) => {
      const reps = o.renditions.filter((r) => r.contentType === type)
      if (reps.length === 0) return ''
      const lines = reps.map((r) => {
        const common = `${attr('id', r.id)}${attr('mimeType', `${type}/mp4`)}${attr('codecs', r.codecs)}${attr('bandwidth', r.bandwidth)}`
        if (type === 'video') {
          return `      <Representation${common}${attr('width', r.width)}${attr('height', r.height)}${attr('frameRate', r.frameRate)} sar="1:1"/>`
        }
        return [
          `      <Representation${common}${attr('audioSamplingRate', r.sampleRate)}>`,
          `        <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011"${attr('value', r.channels ?? 2)}/>`,
          '      </Representation>',
        ].join('\n')
      })
      return [
        `    <AdaptationSet id="${index}" contentType="${type}" segmentAlignment="true" startWithSAP="1">`,
        ...(producerTime === undefined ? [] : [producerTime]),
        `      ${template}`,
        ...lines,
        '    </AdaptationSet>',
      ].join('\n')
    })
    .filter(Boolean)
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic"' +
      `${attr('availabilityStartTime', new Date(o.availabilityStartTime).toISOString())}` +
      `${attr('publishTime', new Date(o.publishTime).toISOString())}` +
      `${attr('minimumUpdatePeriod', isoDuration(o.segmentDurationMs))}` +
      `${attr('minBufferTime', isoDuration(2 * o.segmentDurationMs))}` +
      `${attr(
        'suggestedPresentationDelay',
        isoDuration(
          targetMs ??
            presentationDelayMs({
              segmentDurationMs: o.segmentDurationMs,
              lateAllowanceMs: o.lateAllowanceMs ?? 2 * o.segmentDurationMs,
            }),
        ),
      )}` +
      `${attr('timeShiftBufferDepth', isoDuration(o.timeShiftBufferDepthMs))}` +
      `${attr('maxSegmentDuration', isoDuration(o.segmentDurationMs))}>`,
    ...(targetMs === undefined
      ? []
      : [
          '  <ServiceDescription id="0">',
          `    <Latency referenceId="0"${attr('target', targetMs)}${attr('min', Math.round(targetMs / 2))}${attr('max', 2 * targetMs)}/>`,
          '    <PlaybackRate min="0.9" max="1.1"/>',
          '  </ServiceDescription>',
        ]),
    '  <Period id="0" start="PT0S">',
    ...sets,
    '  </Period>',
    ...(o.timeSource === undefined
      ? []
      : [`  <UTCTiming${attr('schemeIdUri', UTC_TIMING_HTTP_ISO)}${attr('value', o.timeSource)}/>`]),
    '</MPD>',
    '',
  ].join('\n')
}
