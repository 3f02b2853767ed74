/**
 * The options of the `cassandra` storage driver, as a zod schema: the configuration
 * (`storage.cassandra`) refuses a bad option at load, and `createCassandraDriver` refuses one
 * given in code, both naming it. Kept apart from the driver so that reading the
 * configuration does not load `cassandra-driver`.
 */
import { z } from 'zod'
import { intRange } from '../cache/options.js'

const factor = intRange(1, 64)

/** A CQL identifier of at most 48 characters (Cassandra's limit for keyspace names). */
export const keyspaceName = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,47}$/, {
  error: (issue) => `must be a CQL identifier of at most 48 characters, got ${JSON.stringify(issue.input)}`,
})

/** Keyspace replication: per-datacenter factors, or a single factor for SimpleStrategy. */
export const cassandraReplication = z.discriminatedUnion(
  'class',
  [
    z.object({
      class: z.literal('NetworkTopologyStrategy'),
      dataCenters: z
        .record(
          z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, {
            error: (issue) => `invalid datacenter name ${JSON.stringify(issue.input)}`,
          }),
          factor,
        )
        .refine((dcs) => Object.keys(dcs).length > 0, 'must name at least one datacenter'),
    }),
    z.object({ class: z.literal('SimpleStrategy'), replicationFactor: factor }),
  ],
  { error: 'must be NetworkTopologyStrategy or SimpleStrategy' },
)
export type CassandraReplication = z.output<typeof cassandraReplication>

/**
 * One execution profile: how long one coordinator gets before the statement is retried on the
 * next one, and after how long the statement is also sent to the next coordinator (hedging;
 * every statement of the driver is idempotent).
 */
const profile = z.strictObject({
  /** Client-side timeout on one coordinator, ms. */
  timeoutMs: intRange(1, 2 ** 31 - 1).optional(),
  /**
   * Send the statement to the next coordinator too when the first has not answered after this
   * many ms, or after the p99 of the profile's recent latencies when that is longer (at most
   * half of `timeoutMs`).
   */
  hedgeAfterMs: intRange(0, 2 ** 31 - 1).optional(),
})

/** The kinds of statement that have their own execution profile. */
export type CassandraProfileName = 'metadata' | 'chunkRead' | 'chunkWrite'

/**
 * Profile defaults. Healthy loopback and same-zone rings answer in a few ms; these bounds
 * make a stalled coordinator (a GC pause, a hung disk, a stopped process) cost one hedge
 * delay, not a timeout. Chunk writes hedge later than reads: a 1 MiB chunk sent twice costs
 * more than a small read sent twice.
 */
export const DEFAULT_PROFILES: Readonly<
  Record<CassandraProfileName, { readonly timeoutMs: number; readonly hedgeAfterMs: number }>
> = {
  metadata: { timeoutMs: 800, hedgeAfterMs: 75 },
  chunkRead: { timeoutMs: 1500, hedgeAfterMs: 150 },
  chunkWrite: { timeoutMs: 1500, hedgeAfterMs: 300 },
}

const contactPoint = (issue: { input?: unknown }) => `invalid entry ${JSON.stringify(issue.input)}`

/** What the configuration file may say about the driver (`storage.cassandra`). */
export const cassandraSettings = z.strictObject({
  /** Seed hosts, `host` or `host:port` (the port defaults to `port`). */
  contactPoints: z
    .array(z.string({ error: contactPoint }).regex(/^[A-Za-z0-9._:[\]-]+$/, { error: contactPoint }), {
      error: 'must be a non-empty array of host or host:port strings',
    })
    .min(1, 'must be a non-empty array of host or host:port strings'),
  /** Datacenter whose replicas serve LOCAL_QUORUM, as the snitch names it (e.g. `datacenter1`). */
  localDataCenter: z
    .string({ error: 'must be a non-empty string (the datacenter name the snitch reports)' })
    .min(1, 'must be a non-empty string (the datacenter name the snitch reports)'),
  /** Keyspace name. Default `liveorigin`. */
  keyspace: keyspaceName.optional(),
  /** Used only when the keyspace is created. Default NetworkTopologyStrategy, RF 3 in the local DC. */
  replication: cassandraReplication.optional(),
  /**
   * Apply the declared schema at first use (create what is missing, put back table options).
   * Default false: a fleet runs `liveorigin schema apply` once, and a node that finds no
   * schema fails at start, naming that command.
   */
  createSchema: z.boolean({ error: 'must be a boolean' }).optional(),
  /** CQL native port for contact points given without one. Default 9042. */
  port: intRange(1, 65535).optional(),
  credentials: z
    .object(
      { username: z.string(), password: z.string() },
      { error: 'must be { username: string, password: string }' },
    )
    .optional(),
  /**
   * Client-side timeout of one request on one coordinator, for what no profile covers
   * (schema checks, `ping`, listing a control-plane namespace), and of the last attempt of a
   * statement whose profile's timeout passed on every coordinator. Default 10000.
   */
  requestTimeoutMs: intRange(1, 2 ** 31 - 1).optional(),
  /** TCP connect timeout. Default 5000. */
  connectTimeoutMs: intRange(1, 2 ** 31 - 1).optional(),
  /**
   * Timeouts and hedging per kind of statement (`DEFAULT_PROFILES`): commit records and
   * control-plane records (`metadata`), chunk reads (`chunkRead`), chunk writes (`chunkWrite`).
   * A profile given in part keeps the defaults of the rest.
   */
  profiles: z
    .strictObject({ metadata: profile, chunkRead: profile, chunkWrite: profile })
    .partial()
    .optional(),
  /** Extra executions of one hedged statement. Default 1; 0 turns hedging off. */
  maxHedges: intRange(0, 8).optional(),
  /**
   * Connections the driver keeps to each host of the local datacenter. Default 2: a 1 MiB
   * chunk frame on a connection delays every small statement queued behind it.
   */
  connectionsPerHost: intRange(1, 16).optional(),
  /**
   * Consistency of chunk reads: `localOne` (default) reads one replica and asks a quorum when
   * it has no live row; `localQuorum` always asks a quorum.
   */
  chunkReadConsistency: z
    .enum(['localOne', 'localQuorum'], { error: 'must be "localOne" or "localQuorum"' })
    .optional(),
  /** Parallel deletes in `deleteChunks`. Default 16. */
  deleteConcurrency: intRange(1, 1024).optional(),
})

/** The options of `createCassandraDriver`: the settings, and what only code can give. */
export const cassandraOptions = cassandraSettings.extend({
  /** Clock (epoch ms) used to hide expired records and compute TTLs. Default `Date.now`. */
  now: z.custom<() => number>((v) => typeof v === 'function', 'must be a function').optional(),
})
export type CassandraDriverOptions = z.input<typeof cassandraOptions>
