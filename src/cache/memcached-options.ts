/**
 * The options of the memcached cache tier, as a zod schema: the configuration
 * (`cache.memcached`) refuses a bad option at load, and `createMemcachedCache` refuses one
 * given in code, both naming it. Kept apart from the cache so that reading the configuration
 * does not load the memcached client.
 */
import { z } from 'zod'
import { intRange } from './options.js'

const HOST_PORT = /^([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/

function isHostPort(s: string): boolean {
  const m = HOST_PORT.exec(s)
  return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65535
}

const zone = z.object(
  {
    /** Zone name, e.g. an availability zone (`us-east-1a`). */
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, "each zone needs a name of letters, digits, '.', '_' or '-'"),
    /** `host:port` of each memcached server of the zone. */
    servers: z
      .array(
        z.string().refine(isHostPort, { error: (i) => `server ${JSON.stringify(i.input)} is not host:port` }),
      )
      .min(1, 'a zone needs a non-empty servers array of host:port'),
  },
  { error: 'each zone needs a name and servers' },
)
export type MemcachedZone = z.output<typeof zone>

const settings = z.strictObject({
  zones: z
    .array(zone, { error: 'must be a non-empty array of { name, servers }' })
    .min(1, 'must be a non-empty array of { name, servers }')
    .superRefine((zones, ctx) => {
      const seen = new Set<string>()
      for (const z of zones) {
        if (seen.has(z.name)) ctx.addIssue({ code: 'custom', message: `zone ${z.name} is listed twice` })
        seen.add(z.name)
      }
    }),
  /** Name of the zone this node lives in: read first. */
  localZone: z.string(),
  /** Deadline of one memcached request (connect included), in ms. */
  timeoutMs: intRange(1, 60_000),
  /** The servers' item size limit (memcached `-I`). Default 1 MiB, memcached's default. */
  itemMaxBytes: intRange(16 * 1024, 1024 * 1024 * 1024).optional(),
  /** Prefix of every key this cache writes (its namespace). Default `liveorigin:`. */
  keyPrefix: z
    .string()
    .regex(/^[\x21-\x7d]{0,64}$/, "must be at most 64 printable ASCII characters, without spaces or '~'")
    .optional(),
  /** After a failure, skip that server for this long (ms). Default 1000; 0 never skips. */
  downMs: z
    .number()
    .int()
    .min(0, { error: (issue) => `must be an integer ≥ 0, got ${String(issue.input)}` })
    .optional(),
})

function localZoneListed(
  o: { zones: readonly MemcachedZone[]; localZone: string },
  ctx: z.RefinementCtx,
): void {
  const names = o.zones.map((z) => z.name)
  if (!names.includes(o.localZone)) {
    ctx.addIssue({
      code: 'custom',
      path: ['localZone'],
      message: `must be one of the zone names (${names.join(', ')})`,
    })
  }
}

/** What the configuration file may say about the cache tier (`cache.memcached`). */
export const memcachedSettings = settings.superRefine(localZoneListed)

/** One failed cache operation, as reported to `onError` and the diagnostics channel. */
export interface MemcachedErrorEvent {
  readonly op: 'get' | 'set' | 'delete'
  readonly zone: string
  readonly server: string
  readonly key: string
  readonly error: Error
}

const fn = <T>() => z.custom<T>((v) => typeof v === 'function', 'must be a function').optional()

/** The options of `createMemcachedCache`: the settings, and what only code can give. */
export const memcachedOptions = settings
  .extend({
    /** Called for every failed operation of a zone (the failure itself is never thrown). */
    onError: fn<(event: MemcachedErrorEvent) => void>(),
    /** Clock (epoch ms) for value lifetimes. Default `Date.now`. */
    now: fn<() => number>(),
  })
  .superRefine(localZoneListed)
export type MemcachedCacheOptions = z.input<typeof memcachedOptions>
