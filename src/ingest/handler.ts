/**
 * The ingest listener (PUT/POST/DELETE from packagers, docs/protocol.md#ingest): the request's name and
 * credentials are checked here, the upload or removal is `upload.ts`'s work, and every
 * answer is counted and logged. An upload that fails, stalls or is cut off leaves nothing
 * visible.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { LiveOriginError } from '../errors.js'
import type { Exchange } from '../http/listener.js'
import { parseObjectName } from '../http/names.js'
import { checkMethod, sendError, toLiveOriginError, ttlHeaders } from '../http/respond.js'
import type { Authenticator } from './auth.js'
import type { IngestDeps } from './deps.js'
import { createUploads } from './upload.js'

const ALLOW = ['PUT', 'POST', 'DELETE']

export function createIngestHandler(ctx: IngestDeps, auth: Authenticator) {
  const uploads = createUploads(ctx)
  return (req: IncomingMessage, res: ServerResponse, exchange: Exchange): void => {
    const log = exchange.log
    const refuse = (err: unknown) => {
      const e: LiveOriginError = toLiveOriginError(err)
      if (e.status >= 500) log.error({ err, method: req.method, url: req.url }, 'ingest failed')
      else log.info({ method: req.method, url: req.url, status: e.status, code: e.code }, 'ingest refused')
      // The body was not read: close the connection rather than read an unwanted upload.
      const close = !req.complete ? { Connection: 'close' } : {}
      sendError(req, res, e, { ...ttlHeaders(0), ...close })
      if (!req.complete) res.once('finish', () => req.destroy())
    }

    let pipeline: string
    let name: ReturnType<typeof parseObjectName>
    try {
      checkMethod(req, ALLOW)
      name = parseObjectName(req.url ?? '/', false)
      pipeline = auth.pipelineFor(req.headers, name.channel)
    } catch (err) {
      refuse(err)
      return
    }
    const key = { channel: name.channel, path: name.path, pipeline }
    const work =
      req.method === 'DELETE' ? uploads.remove(req, res, log, key) : uploads.upload(req, res, log, key)
    work.catch(refuse)
  }
}
