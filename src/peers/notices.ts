/**
 * The notice one origin node sends its peers after a commit or a removal, as it travels on
 * the wire (`POST /api/v1/peers/notices` on the control listener, docs/running-at-scale.md#peer-notices),
 * and the check of a received body: every field is validated before anything is published.
 */
import { errors } from '../errors.js'
import { parseObjectName } from '../http/names.js'

/** A commit or a removal made on the sending node. */
export type Notice =
  | { type: 'commit'; channel: string; path: string; pipeline: string; token: string; defects: string }
  | { type: 'remove'; channel: string; path: string; pipeline: string }

/** The body of one notice request: the sender's node id and its notices (none: a probe). */
export interface NoticeBatch {
  readonly from: string
  readonly notices: readonly Notice[]
}

/** What a peer answers: its node id and its clock when it answered (epoch ms). */
export interface NoticeAnswer {
  readonly id: string
  readonly at: number
  readonly accepted: number
}

/** Notices in one request at most. */
export const MAX_NOTICES_PER_REQUEST = 256

const NODE_ID = /^[A-Za-z0-9._:-]{1,128}$/
const PIPELINE = /^[A-Za-z0-9._-]{1,64}$/
const MAX_TOKEN = 256
const MAX_DEFECTS = 4096

/** Checks a node id as it appears in heartbeat records and notices. */
export function isNodeId(id: unknown): id is string {
  return typeof id === 'string' && NODE_ID.test(id)
}

/** A received body → the batch it carries; throws 400 naming the first problem. */
export function parseNoticeBatch(body: unknown): NoticeBatch {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw errors.badRequest('a notice body is a JSON object {"from", "notices"}')
  const { from, notices } = body as { from?: unknown; notices?: unknown }
  if (!isNodeId(from)) throw errors.badRequest('from must be a node id ([A-Za-z0-9._:-]{1,128})')
  if (!Array.isArray(notices)) throw errors.badRequest('notices must be an array')
  if (notices.length > MAX_NOTICES_PER_REQUEST)
    throw errors.badRequest(`at most ${MAX_NOTICES_PER_REQUEST} notices per request, got ${notices.length}`)
  return { from, notices: notices.map((n, i) => parseNotice(n, `notices[${i}]`)) }
}

function parseNotice(raw: unknown, where: string): Notice {
  if (typeof raw !== 'object' || raw === null) throw errors.badRequest(`${where} must be an object`)
  const n = raw as Record<string, unknown>
  const text = (field: string, max: number): string => {
    const v = n[field]
    if (typeof v !== 'string' || v.length > max)
      throw errors.badRequest(`${where}.${field} must be a string of at most ${max} characters`)
    return v
  }
  const channel = text('channel', 128)
  const path = text('path', 1024)
  // The same rules as a request's path: a notice can name nothing a PUT could not.
  parseObjectName(`/${channel}/${path}`, false)
  const pipeline = text('pipeline', 64)
  if (!PIPELINE.test(pipeline)) throw errors.badRequest(`${where}.pipeline must match [A-Za-z0-9._-]{1,64}`)
  if (n.type === 'remove') return { type: 'remove', channel, path, pipeline }
  if (n.type !== 'commit') throw errors.badRequest(`${where}.type must be "commit" or "remove"`)
  return {
    type: 'commit',
    channel,
    path,
    pipeline,
    token: text('token', MAX_TOKEN),
    defects: text('defects', MAX_DEFECTS),
  }
}
