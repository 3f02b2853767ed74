/**
 * Pipeline identity on ingest (docs/protocol.md#ingest). With tokens configured, `Authorization: Bearer`
 * names the pipeline (each token belongs to one pipeline, optionally limited to channels).
 * Without tokens (open mode), the `Pipeline-Id` header names it.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { TokenEntry } from '../config/schema.js'
import { errors } from '../errors.js'

const PIPELINE_ID = /^[A-Za-z0-9._-]{1,64}$/

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

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest()
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
      if (open) {
        const id = headers['pipeline-id']
        if (id === undefined || id === '')
          throw errors.badHeader('Pipeline-Id', 'required when no ingest tokens are configured')
        if (Array.isArray(id) || !PIPELINE_ID.test(id))
          throw errors.badHeader('Pipeline-Id', 'must match [A-Za-z0-9._-]{1,64}')
        return id
      }
      const auth = headers.authorization
      if (!auth) throw errors.unauthorized('missing Authorization: Bearer token')
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth)
      if (!m) throw errors.unauthorized('Authorization must be "Bearer <token>"')
      const d = digest(m[1]!)
      // Compare against every grant so the time taken does not depend on which one matches.
      let found: Grant | undefined
      for (const g of grants) if (timingSafeEqual(g.digest, d)) found ??= g
      if (!found) throw errors.unauthorized('unknown token')
      if (found.channels && !found.channels.has(channel)) {
        throw errors.forbidden(`pipeline ${found.pipeline} may not write to channel ${channel}`)
      }
      return found.pipeline
    },
  }
}
