/**
 * Helpers for the zod schemas of driver options (the storage drivers and the memcached cache
 * tier, which sits below storage): integer ranges with a message that names the value, and a
 * check that throws a `TypeError` naming the bad option, for options given in code.
 */
import { z } from 'zod'

/** An integer option in [min, max], whose message says the range and the value given. */
export function intRange(min: number, max: number) {
  const error = (issue: { input?: unknown }) =>
    `must be an integer from ${min} to ${max}, got ${String(issue.input)}`
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error })
}

/**
 * Checks `value` against `schema`; a bad option throws a `TypeError` whose message starts with
 * the option's path (`replication.dataCenters: …`).
 */
export function checked<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issue = result.error.issues[0]!
  const path = issue.path.map(String)
  if (issue.code === 'unrecognized_keys')
    throw new TypeError(`${[...path, issue.keys[0]].join('.')}: unknown option of ${what}`)
  const at = path.findIndex((p) => /^\d+$/.test(p))
  const [head, rest] = at < 0 ? [path, []] : [path.slice(0, at), path.slice(at)]
  throw new TypeError(
    `${head.join('.') || 'options'}: ${rest.length > 0 ? `${rest.join('.')}: ` : ''}${issue.message}`,
  )
}
