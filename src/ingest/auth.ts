/**
 * Pipeline identity on ingest (docs/protocol.md#pipeline-identity, docs/packagers.md). With tokens configured, each
 * token belongs to one pipeline (optionally limited to channels) and arrives as
 * `Authorization: Bearer <token>` or as HTTP Basic with the pipeline as user and the token as
 * password (what encoders that only take a URL with user and password send). Without tokens
 * (open mode), the `Pipeline-Id` header or the Basic user names the pipeline; with neither it
 * is `default`, so that a single encoder just works.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { TokenEntry } from '../config/schema.js'
import { errors, LiveOriginError } from '../errors.js'

const PIPELINE_ID = /^[A-Za-z0-9._-]{1,64}$/
const PIPELINE_RULE = 'must match [A-Za-z0-9._-]{1,64}'

/** The pipeline of an open-mode PUT that names none. */
export const DEFAULT_PIPELINE = 'default'

/** What a 401 on ingest offers: Basic first (the scheme URL-only encoders answer), then Bearer. */
const INGEST_CHALLENGE = 'Basic realm="liveorigin", Bearer realm="liveorigin"'

interface Grant {
  pipeline: string
  digest: Buffer
  channels: ReadonlySet<string> | undefined
}

export interface Authenticator {
  readonly open: boolean
  /** The pipeline a request writes as; throws 400/401/403. */
  pipelineFor(headers: IncomingHttpHeaders, channel: string): string
}

/** What an `Authorization` header carries. */
type Credentials =
  | { scheme: 'none' }
  | { scheme: 'bearer'; token: string }
  | { scheme: 'basic'; user: string; password: string }

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

function unauthorized(why: string): LiveOriginError {
  return new LiveOriginError(errors.unauthorized.code, errors.unauthorized.status, why, {
    headers: { 'WWW-Authenticate': INGEST_CHALLENGE },
  })
}

/** Parses `Authorization`; throws 401 for a scheme or a value the origin cannot read. */
function credentials(header: string | undefined): Credentials {
  if (header === undefined || header === '') return { scheme: 'none' }
  const m = /^(\S+)\s+(\S+)\s*$/.exec(header)
  const scheme = m?.[1]?.toLowerCase()
  if (m && scheme === 'bearer') return { scheme: 'bearer', token: m[2]! }
  if (m && scheme === 'basic') {
    const b64 = m[2]!
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64))
      throw unauthorized('Authorization: Basic must carry base64 of "user:password"')
    const decoded = Buffer.from(b64, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon < 0)
      throw unauthorized('Authorization: Basic must carry base64 of "user:password" (no colon found)')
    return { scheme: 'basic', user: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
  }
  throw unauthorized('Authorization must be "Bearer <token>" or "Basic <base64 of pipeline:token>"')
}

function checkPipelineName(id: string, source: string): string {
  if (!PIPELINE_ID.test(id))
    throw errors.badHeader(source, `pipeline name ${JSON.stringify(id)} ${PIPELINE_RULE}`)
  return id
}

/** Open mode: `Pipeline-Id`, else the Basic user, else `default`; both must agree when both are sent. */
function openPipeline(headers: IncomingHttpHeaders): string {
  const raw = headers['pipeline-id']
  if (Array.isArray(raw)) throw errors.badHeader('Pipeline-Id', 'sent more than once')
  const header = raw === undefined || raw === '' ? undefined : checkPipelineName(raw, 'Pipeline-Id')
  const auth = credentials(headers.authorization)
  const user =
    auth.scheme === 'basic' && auth.user !== '' ? checkPipelineName(auth.user, 'Authorization') : undefined
  if (header !== undefined && user !== undefined && header !== user) {
    throw errors.badHeader('Pipeline-Id', `names pipeline ${header} but the Basic user names ${user}`)
  }
  return header ?? user ?? DEFAULT_PIPELINE
}

export function createAuthenticator(tokens: Record<string, TokenEntry>): Authenticator {
  const grants: Grant[] = Object.entries(tokens).map(([pipeline, entry]) => {
    const token = typeof entry === 'string' ? entry : entry.token
    const channels = typeof entry === 'string' || !entry.channels ? undefined : new Set(entry.channels)
    return { pipeline, digest: digest(token), channels }
  })
  const open = grants.length === 0
  return {
    open,
    pipelineFor(headers, channel) {
      if (open) return openPipeline(headers)
      const auth = credentials(headers.authorization)
      if (auth.scheme === 'none') {
        throw unauthorized(
          'missing Authorization: "Bearer <token>" or Basic with the pipeline as user and its token as password',
        )
      }
      const d = digest(auth.scheme === 'bearer' ? auth.token : auth.password)
      // Compare against every grant so the time taken does not depend on which one matches.
      let found: Grant | undefined
      for (const g of grants) if (timingSafeEqual(g.digest, d)) found ??= g
      if (!found)
        throw unauthorized(auth.scheme === 'basic' ? `unknown token for user ${auth.user}` : 'unknown token')
      if (auth.scheme === 'basic' && auth.user !== found.pipeline) {
        throw unauthorized(`the token given for user ${auth.user} belongs to another pipeline`)
      }
      if (found.channels && !found.channels.has(channel)) {
        throw errors.forbidden(`pipeline ${found.pipeline} may not write to channel ${channel}`)
      }
      return found.pipeline
    },
  }
}
