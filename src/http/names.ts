/**
 * Object names (docs/protocol.md#paths-and-names): `/{channel}/{object path}`. Validation works on the raw request
 * target, before any decoding, so that encoded separators and traversal never reach storage.
 */
import { errors } from '../errors.js'

export interface ObjectName {
  readonly channel: string
  /** Object path inside the channel, no leading slash. */
  readonly path: string
  /** Raw query string without `?`, '' when absent. */
  readonly query: string
}

const CHANNEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/
const SEGMENT = /^[A-Za-z0-9._-]{1,255}$/
const MAX_PATH_BYTES = 1024
/**
 * A path every rule below accepts, in one test: a channel name, then one or more segments of
 * the allowed characters, none of them `.` or `..`. Anything else takes the rule-by-rule
 * check, which names the problem.
 */
const VALID_PATH = /^\/[A-Za-z0-9][A-Za-z0-9._-]{0,127}(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._-]{1,255})+$/

/** Checks a channel name; throws 400 naming the problem. */
export function checkChannelName(channel: string): void {
  if (!CHANNEL.test(channel)) {
    throw errors.badPath(`channel "${printable(channel)}" must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}`)
  }
}

/**
 * Parses a request target into channel and object path. Throws `LIVEORIGIN_ERR_BAD_PATH`
 * (400) naming the problem. `allowQuery` is false on ingest.
 */
export function parseObjectName(target: string, allowQuery: boolean): ObjectName {
  const q = target.indexOf('?')
  const rawPath = q === -1 ? target : target.slice(0, q)
  const query = q === -1 ? '' : target.slice(q + 1)
  if (q !== -1 && !allowQuery) throw errors.badPath('query strings are not allowed on ingest')
  if (rawPath.length > MAX_PATH_BYTES) throw errors.badPath(`path longer than ${MAX_PATH_BYTES} bytes`)
  if (VALID_PATH.test(rawPath)) {
    const slash = rawPath.indexOf('/', 1)
    return { channel: rawPath.slice(1, slash), path: rawPath.slice(slash + 1), query }
  }
  if (rawPath[0] !== '/') throw errors.badPath('path must start with /')
  const parts = rawPath.slice(1).split('/')
  const channel = parts[0]!
  if (parts.length < 2) throw errors.badPath('path must be /{channel}/{object path}')
  for (let i = 0; i < parts.length; i++) {
    const seg = parts[i]!
    if (seg === '') throw errors.badPath('empty path segment')
    if (seg === '.' || seg === '..') throw errors.badPath(`path segment "${seg}" is not allowed`)
    if (seg.includes('%')) {
      throw errors.badPath(`percent-encoded characters are not allowed ("${printable(seg)}")`)
    }
    if (seg.length > 255) throw errors.badPath(`path segment longer than 255 bytes (${seg.length})`)
    if (i === 0) checkChannelName(seg)
    else if (!SEGMENT.test(seg)) {
      throw errors.badPath(`path segment "${printable(seg)}" must match [A-Za-z0-9._-]{1,255}`)
    }
  }
  return { channel, path: parts.slice(1).join('/'), query }
}

function printable(s: string): string {
  const shown = s.length > 64 ? `${s.slice(0, 64)}…` : s
  let out = ''
  for (const ch of shown) {
    const code = ch.charCodeAt(0)
    out +=
      code < 0x20 || code === 0x7f || ch === '"' || ch === '\\'
        ? `\\x${code.toString(16).padStart(2, '0')}`
        : ch
  }
  return out
}
