/**
 * A route table: method and path pattern → handler. A path no route matches is answered 404,
 * a method a matching route does not serve 405 with `Allow` listing the ones it does (HEAD
 * wherever GET is, served by the GET handler, which leaves the body out).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { errors } from '../errors.js'

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE'

/** Path parameters by name, as they came (never percent-decoded). */
export type Params = Readonly<Record<string, string>>

export type RouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  params: Params,
  url: URL,
) => Promise<void> | void

export interface Route {
  /** Literal segments and `:name` parameters, e.g. `/api/v1/channels/:channel/masks`. */
  readonly path: string
  readonly methods: Readonly<Partial<Record<Method, RouteHandler>>>
  /**
   * Runs once the path matches, before the method is looked up: checks of the parameters and
   * guards that must answer first, whatever the method.
   */
  readonly before?: (req: IncomingMessage, params: Params) => void
}

interface Compiled {
  readonly route: Route
  readonly segments: readonly string[]
  readonly allow: string
}

/** Segments of a path; empty segments (doubled or trailing slashes) are not counted. */
const segmentsOf = (path: string): string[] => path.split('/').filter(Boolean)

function matchOf(pattern: readonly string[], parts: readonly string[]): Params | undefined {
  if (pattern.length !== parts.length) return undefined
  const params: Record<string, string> = {}
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!
    if (p.startsWith(':')) params[p.slice(1)] = parts[i]!
    else if (p !== parts[i]) return undefined
  }
  return params
}

/** The handler of a route table: resolves once answered, rejects with the error to answer. */
export function createRouter(
  routes: readonly Route[],
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const table: Compiled[] = routes.map((route) => {
    const methods = Object.keys(route.methods)
    const allow = methods.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])).join(', ')
    return { route, segments: segmentsOf(route.path), allow }
  })
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://listener')
    const parts = segmentsOf(url.pathname)
    for (const { route, segments, allow } of table) {
      const params = matchOf(segments, parts)
      if (!params) continue
      route.before?.(req, params)
      const method = req.method ?? ''
      const key = method === 'HEAD' ? 'GET' : method
      const handler = Object.hasOwn(route.methods, key) ? route.methods[key as Method] : undefined
      if (!handler) throw errors.methodNotAllowed(method || '?', allow)
      return handler(req, res, params, url)
    }
    throw errors.notFound(`route ${url.pathname}`)
  }
}
