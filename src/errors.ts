/**
 * The error catalogue. Every error the origin answers with is a `LiveOriginError` with a
 * stable `code`, the HTTP status it maps to and a message; `docs/errors.md` documents each
 * code (a test checks that it does).
 */

export interface ErrorBody {
  error: { code: string; message: string }
}

export class LiveOriginError extends Error {
  readonly code: string
  readonly status: number
  /** Extra response headers (e.g. `Allow`, `Retry-After`). */
  readonly headers: Readonly<Record<string, string>>

  constructor(
    code: string,
    status: number,
    message: string,
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'LiveOriginError'
    this.code = code
    this.status = status
    this.headers = options?.headers ?? {}
  }

  toJSON(): ErrorBody {
    return { error: { code: this.code, message: this.message } }
  }
}

type Factory<A extends unknown[]> = ((...args: A) => LiveOriginError) & { code: string; status: number }

function define<A extends unknown[]>(
  code: string,
  status: number,
  message: (...args: A) => string,
  headers?: (...args: A) => Record<string, string>,
): Factory<A> {
  const fullCode = `LIVEORIGIN_ERR_${code}`
  const make = (...args: A) => {
    // Client errors are answers, not faults: skip the stack trace (most of their cost).
    const limit = Error.stackTraceLimit
    if (status < 500) Error.stackTraceLimit = 0
    try {
      return new LiveOriginError(
        fullCode,
        status,
        message(...args),
        headers ? { headers: headers(...args) } : undefined,
      )
    } finally {
      Error.stackTraceLimit = limit
    }
  }
  return Object.assign(make, { code: fullCode, status })
}

/** All error factories, by name. Keep `docs/errors.md` in step. */
export const errors = {
  badPath: define('BAD_PATH', 400, (why: string) => `invalid object path: ${why}`),
  badHeader: define('BAD_HEADER', 400, (name: string, why: string) => `invalid ${name} header: ${why}`),
  badQuery: define('BAD_QUERY', 400, (why: string) => `invalid query: ${why}`),
  badRequest: define('BAD_REQUEST', 400, (why: string) => why),
  badConfig: define('BAD_CONFIG', 400, (field: string, why: string) => `invalid field ${field}: ${why}`),
  badMpd: define(
    'BAD_MPD',
    400,
    (field: string, why: string) => `MPD refused: ${field} ${why}; the channel was not changed`,
  ),
  badPlaylist: define(
    'BAD_PLAYLIST',
    400,
    (why: string) => `HLS playlist refused: ${why}; nothing was stored`,
  ),
  unauthorized: define(
    'UNAUTHORIZED',
    401,
    (why: string) => why,
    () => ({ 'WWW-Authenticate': 'Bearer realm="liveorigin"' }),
  ),
  forbidden: define('FORBIDDEN', 403, (why: string) => why),
  crossSite: define('CROSS_SITE', 403, (why: string) => `cross-site control request refused: ${why}`),
  notFound: define('NOT_FOUND', 404, (what: string) => `${what} not found`),
  unknownChannel: define('UNKNOWN_CHANNEL', 404, (channel: string) => `channel ${channel} does not exist`),
  methodNotAllowed: define(
    'METHOD_NOT_ALLOWED',
    405,
    (method: string, allow: string) => `method ${method} is not served on this listener (allowed: ${allow})`,
    (_method: string, allow: string) => ({ Allow: allow }),
  ),
  uploadTimeout: define(
    'UPLOAD_TIMEOUT',
    408,
    (idleMs: number) => `upload stalled: no bytes for ${idleMs} ms`,
  ),
  gone: define('GONE', 410, (what: string) => `${what} will never be available`),
  lengthRequired: define(
    'LENGTH_REQUIRED',
    411,
    () => 'Content-Length or Transfer-Encoding: chunked is required',
  ),
  limitReached: define(
    'LIMIT_REACHED',
    409,
    (what: string, limit: number, setting: string) => `${what}: the limit is ${limit} (${setting})`,
  ),
  tooLarge: define('TOO_LARGE', 413, (limit: number) => `object larger than maxObjectBytes (${limit} bytes)`),
  manifestTooLarge: define(
    'MANIFEST_TOO_LARGE',
    413,
    (limit: number) => `manifest larger than maxManifestBytes (${limit} bytes)`,
  ),
  unsupportedMediaType: define(
    'UNSUPPORTED_MEDIA_TYPE',
    415,
    (got: string) => `control API writes take Content-Type: application/json (got ${got || 'none'})`,
  ),
  rangeNotSatisfiable: define(
    'RANGE_NOT_SATISFIABLE',
    416,
    (size: number) => `range not satisfiable for an object of ${size} bytes`,
    (size: number) => ({ 'Content-Range': `bytes */${size}` }),
  ),
  headersTooLarge: define('HEADERS_TOO_LARGE', 431, () => 'request headers too large'),
  tooManyUploads: define(
    'TOO_MANY_UPLOADS',
    429,
    (pipeline: string, limit: number) => `pipeline ${pipeline} already has ${limit} uploads in progress`,
    () => ({ 'Retry-After': '1' }),
  ),
  uploadTooSlow: define(
    'UPLOAD_TOO_SLOW',
    408,
    (bytes: number, windowMs: number, minRate: number) =>
      `upload too slow: ${bytes} bytes in ${windowMs} ms (minUploadBytesPerSecond is ${minRate})`,
  ),
  uploadBudgetExhausted: define(
    'UPLOAD_BUDGET_EXHAUSTED',
    503,
    (limit: number) => `uploads in progress already hold maxInFlightBytes (${limit} bytes); retry shortly`,
    () => ({ 'Retry-After': '1' }),
  ),
  internal: define('INTERNAL', 500, () => 'internal error'),
  storageUnavailable: define(
    'STORAGE_UNAVAILABLE',
    503,
    (why: string) => `storage unavailable: ${why}`,
    () => ({ 'Retry-After': '1' }),
  ),
  overloaded: define(
    'OVERLOADED',
    503,
    (klass: string) => `origin under pressure: ${klass} requests are shed`,
    () => ({ 'Retry-After': '5' }),
  ),
  shuttingDown: define(
    'SHUTTING_DOWN',
    503,
    () => 'origin is shutting down',
    () => ({ 'Retry-After': '1', Connection: 'close' }),
  ),
} as const

export function isLiveOriginError(err: unknown): err is LiveOriginError {
  return err instanceof LiveOriginError
}
