/**
 * The channel the overload tests read: `live`, D = 1 s, its availability start 600 segments
 * ago (so that low numbers are DVR class), MPEG-TS media `$RepresentationID$/$Number$.ts`
 * served as stored (random bytes stored as fMP4 would never be served), and a dynamic MPD
 * plus init segments PUT by pipeline `east`.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createChannel } from '../helpers/http.js'

export const D = 1000
export const ast = Date.now() - 600 * D
/** The live edge: segment N is available at AST + N·D (S = 1). */
export const edge = () => Math.floor((Date.now() - ast) / D)

const KINDS = {
  v: { mimeType: 'video/mp4', bandwidth: 1_000_000 },
  a: { mimeType: 'audio/mp4', bandwidth: 128_000 },
}

/** The channel's dynamic MPD, with one adaptation set per rendition. */
export function liveMpd(renditions: ReadonlyArray<keyof typeof KINDS>): string {
  const sets = renditions.map(
    (id) => `<AdaptationSet mimeType="${KINDS[id].mimeType}">
    <SegmentTemplate timescale="1000" duration="${D}" startNumber="1" media="$RepresentationID$/$Number$.ts" initialization="$RepresentationID$/init.mp4"/>
    <Representation id="${id}" bandwidth="${KINDS[id].bandwidth}"/>
  </AdaptationSet>`,
  )
  return `<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" profiles="urn:mpeg:dash:profile:isoff-live:2011"
  availabilityStartTime="${new Date(ast).toISOString()}" minimumUpdatePeriod="PT10S">
  <Period id="0" start="PT0S">${sets.join('')}</Period>
</MPD>
`
}

/**
 * Creates the channel through the control API with late allowance `lateAllowanceMs`, then PUTs
 * its MPD, an init segment per rendition and `extra` objects as pipeline east.
 */
export async function createLiveChannel(
  origin: { control: string; ingest: string },
  renditions: ReadonlyArray<keyof typeof KINDS>,
  lateAllowanceMs: number,
  extra: ReadonlyArray<readonly [path: string, body: Uint8Array]> = [],
): Promise<void> {
  await createChannel(origin, 'live', {
    segmentDurationMs: D,
    availabilityStartTime: ast,
    lateAllowanceMs,
    media: '$RepresentationID$/$Number$.ts',
  })
  const objects: Array<readonly [string, Uint8Array | string]> = [
    ['manifest.mpd', liveMpd(renditions)],
    ...renditions.map((id) => [`${id}/init.mp4`, randomBytes(id === 'v' ? 900 : 700)] as const),
    ...extra,
  ]
  for (const [path, body] of objects) {
    const put = await fetch(`${origin.ingest}/live/${path}`, {
      method: 'PUT',
      body,
      headers: { 'Pipeline-Id': 'east' },
    })
    assert.ok(put.status === 201 || put.status === 204, `PUT ${path}: ${put.status}`)
  }
}
