/**
 * Channels laid out like the ffmpeg fixtures, for the selection, inspection and gap tests over
 * real sockets: create a templated channel through the control API, PUT pipeline copies to the
 * ingest listener, GET through delivery. Channels use the fixtures' layout
 * (init-$RepresentationID$.m4s, seg-$RepresentationID$-$Number%05d$.m4s) and D = 1 s, the
 * fixtures' segment duration.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { buildMediaSegment, loadRenditions, type SimRendition } from '../../src/simulate/media.js'
import { dashInit } from '../selection/helpers.js'
import { startOrigin, type TestOrigin } from './origin.js'

export const D = 1000
export const MEDIA = 'seg-$RepresentationID$-$Number%05d$.m4s'
export const INIT = 'init-$RepresentationID$.m4s'

/**
 * Origin settings for these tests: segments read here are mostly DVR class, and the load of a
 * shared test machine must not get them shed (shedding has its own tests).
 */
export const NO_SHEDDING = { 'overload.storageLatencyMs': 10_000, 'overload.eventLoopDelayMs': 10_000 }

let channelCount = 0

/** Creates a channel (D = 1 s, S = 1, pipelines east, west) and PUTs every pipeline's init segments. */
export async function createChannel(
  origin: TestOrigin,
  ast: number,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const name = `qc${++channelCount}-${process.pid}`
  const r = await fetch(`${origin.control}/api/v1/channels/${name}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      segmentDurationMs: D,
      availabilityStartTime: ast,
      startNumber: 1,
      media: MEDIA,
      initialization: INIT,
      pipelines: ['east', 'west'],
      ...extra,
    }),
  })
  assert.equal(r.status, 201, await r.text())
  for (const pipeline of ['east', 'west']) {
    for (const rendition of [0, 1, 2]) {
      const init = await put(origin, name, `init-${rendition}.m4s`, dashInit(rendition), pipeline)
      assert.equal(init.status, 201)
    }
  }
  return name
}

/**
 * An origin (without shedding) and a channel whose first 20 segments were due before now, so
 * that nothing waits and selection alone decides. A late allowance of a minute keeps copies
 * PUT now selectable (a copy committed after A(N)+R never replaces a gap's answer at once).
 */
export async function originWithPastChannel(): Promise<{ origin: TestOrigin; channel: string }> {
  const origin = await startOrigin(NO_SHEDDING)
  return { origin, channel: await createChannel(origin, Date.now() - 20_000, { lateAllowanceMs: 60_000 }) }
}

export interface PutAnswer {
  status: number
  /** `Segment-Defects` the origin echoed ('' when none). */
  defects: string
  /** When the answer arrived (epoch ms). */
  at: number
}

export async function put(
  origin: TestOrigin,
  channel: string,
  path: string,
  body: Uint8Array,
  pipeline: string,
  defects?: string,
): Promise<PutAnswer> {
  const headers: Record<string, string> = { 'Pipeline-Id': pipeline }
  if (defects !== undefined) headers['Segment-Defects'] = defects
  const r = await fetch(`${origin.ingest}/${channel}/${path}`, { method: 'PUT', body, headers })
  const text = await r.text()
  assert.ok(r.status === 201 || r.status === 204, `PUT ${path}: ${r.status} ${text}`)
  return { status: r.status, defects: r.headers.get('segment-defects') ?? '', at: Date.now() }
}

export interface GetAnswer {
  status: number
  headers: Headers
  body: Buffer
  /** When the request was sent and answered (epoch ms). */
  sentAt: number
  at: number
}

export async function get(origin: TestOrigin, channel: string, path: string): Promise<GetAnswer> {
  const sentAt = Date.now()
  const r = await fetch(`${origin.delivery}/${channel}/${path}`)
  const body = Buffer.from(await r.arrayBuffer())
  return { status: r.status, headers: r.headers, body, sentAt, at: Date.now() }
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export function segmentPath(rendition: number | string, n: number): string {
  return `seg-${rendition}-${String(n).padStart(5, '0')}.m4s`
}

let renditions: SimRendition[] | undefined

/**
 * A valid copy of segment `n` of `rendition` for a D = 1 s, S = 1 channel, built from the
 * fixtures' samples; the label makes each pipeline's bytes different, as two encoders' are.
 */
export function validCopy(rendition: number, n: number, pipeline: string): Uint8Array {
  renditions ??= loadRenditions()
  const r = renditions.find((x) => x.id === String(rendition))!
  return buildMediaSegment(r, { number: n, startNumber: 1, segmentDurationMs: D }, { label: pipeline })
}
