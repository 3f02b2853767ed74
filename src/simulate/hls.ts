/**
 * The HLS playlists the simulator publishes beside the MPD, for the same CMAF segments (what
 * a packager writing DASH and HLS from one encode does): per rendition a live fMP4 media
 * playlist (`EXT-X-MAP` to the rendition's init segment, a sliding window of `EXTINF`
 * entries ending at the last segment published, `EXT-X-PROGRAM-DATE-TIME` of its first
 * entry), and one multivariant playlist (a `EXT-X-STREAM-INF` per video rendition, the audio
 * rendition as an `EXT-X-MEDIA` group). Pure.
 */
import type { RenditionInfo } from './media.js'

/** Name of a rendition's media playlist, relative to the channel (and to the multivariant playlist). */
export function mediaPlaylistName(renditionId: string): string {
  return `media-${renditionId}.m3u8`
}

/** The multivariant playlist's name. */
export const MULTIVARIANT_PATH = 'master.m3u8'

/** How many segments a media playlist lists (the sliding window). */
export const HLS_WINDOW_SEGMENTS = 10

/** The audio group every video variant refers to. */
const AUDIO_GROUP = 'audio'

export interface MediaPlaylistOptions {
  readonly availabilityStartTime: number
  readonly segmentDurationMs: number
  readonly startNumber: number
  /** The last segment number published (its A(N) has passed). */
  readonly lastNumber: number
  /** Path of segment `n` of this rendition, relative to the playlist. */
  readonly segmentPath: (n: number) => string
  /** The rendition's init segment, relative to the playlist. */
  readonly initPath: string
  /** How many segments to list; default `HLS_WINDOW_SEGMENTS`. */
  readonly windowSegments?: number
}

function secondsText(ms: number): string {
  return (ms / 1000).toFixed(3)
}

/**
 * A live media playlist (no `EXT-X-ENDLIST`): version 7 (fMP4 with `EXT-X-MAP`), target
 * duration ⌈D⌉ s, media sequence = the first number listed (segment numbers are the media
 * sequence numbers, so `_HLS_msn` and the channel's template agree), and the program date
 * time of that segment: AST + (N−S)·D.
 */
export function renderMediaPlaylist(o: MediaPlaylistOptions): string {
  const d = o.segmentDurationMs
  const window = o.windowSegments ?? HLS_WINDOW_SEGMENTS
  const first = Math.max(o.startNumber, o.lastNumber - window + 1)
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${Math.ceil(d / 1000)}`,
    `#EXT-X-MEDIA-SEQUENCE:${first}`,
    '#EXT-X-INDEPENDENT-SEGMENTS',
    `#EXT-X-MAP:URI="${o.initPath}"`,
    `#EXT-X-PROGRAM-DATE-TIME:${new Date(o.availabilityStartTime + (first - o.startNumber) * d).toISOString()}`,
  ]
  for (let n = first; n <= o.lastNumber; n++) lines.push(`#EXTINF:${secondsText(d)},`, o.segmentPath(n))
  lines.push('')
  return lines.join('\n')
}

function resolution(r: RenditionInfo): string {
  return r.width !== undefined && r.height !== undefined ? `,RESOLUTION=${r.width}x${r.height}` : ''
}

function frameRate(r: RenditionInfo): string {
  if (r.frameRate === undefined) return ''
  const [num, den] = r.frameRate.split('/').map(Number)
  const fps = (num ?? 0) / (den ?? 1)
  return Number.isFinite(fps) && fps > 0 ? `,FRAME-RATE=${fps.toFixed(3)}` : ''
}

/**
 * The multivariant playlist: the first audio rendition as the default of audio group
 * `audio` (`EXT-X-MEDIA`), then one `EXT-X-STREAM-INF` per video rendition, highest
 * bandwidth first, with BANDWIDTH = video + audio bandwidth and CODECS naming both. Throws
 * when there is no video rendition.
 */
export function renderMultivariantPlaylist(renditions: readonly RenditionInfo[]): string {
  const video = renditions.filter((r) => r.contentType === 'video').sort((a, b) => b.bandwidth - a.bandwidth)
  const audio = renditions.find((r) => r.contentType === 'audio')
  if (video.length === 0) throw new Error('a multivariant playlist needs a video rendition')
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS']
  if (audio) {
    lines.push(
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="${AUDIO_GROUP}",NAME="audio ${audio.id}",DEFAULT=YES,AUTOSELECT=YES,` +
        `CHANNELS="${audio.channels ?? 2}",URI="${mediaPlaylistName(audio.id)}"`,
    )
  }
  for (const v of video) {
    const codecs = audio ? `${v.codecs},${audio.codecs}` : v.codecs
    const bandwidth = v.bandwidth + (audio?.bandwidth ?? 0)
    lines.push(
      `#EXT-X-STREAM-INF:BANDWIDTH=${bandwidth},CODECS="${codecs}"${resolution(v)}${frameRate(v)}` +
        `${audio ? `,AUDIO="${AUDIO_GROUP}"` : ''}`,
      mediaPlaylistName(v.id),
    )
  }
  lines.push('')
  return lines.join('\n')
}
