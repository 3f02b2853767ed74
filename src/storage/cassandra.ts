/**
 * The `cassandra` storage driver: `StorageDriver` on Apache Cassandra through the DataStax
 * Node.js driver (`cassandra-driver`), for the distributed shape (docs/storage.md).
 *
 * Tables (keyspace `liveorigin` by default; declared, with their options, in
 * `cassandra-schema.ts` and created by `liveorigin schema apply`):
 * - `objects`: commit records, partition (channel, path), clustering pipeline. Listing the
 *   candidates of one object is one single-partition read.
 * - `chunks`: one partition per (upload_token, idx), so no partition holds more than one chunk
 *   (1 MiB by default). Write-once, every row with a TTL: time-window compaction, no
 *   compression.
 * - `records`: control-plane documents, partition namespace, clustering id.
 *
 * Every write runs at LOCAL_QUORUM, every read too but chunk reads, which ask one replica
 * first and a quorum when it has no live row (`readChunk`: chunks are immutable and written at
 * quorum). Statements are prepared and idempotent (commit and remove carry an explicit write
 * timestamp), so the driver retries one on another coordinator after its profile's timeout and
 * hedges it after its profile's delay (`DEFAULT_PROFILES`). Expiry uses Cassandra TTLs (`nativeTtl`), on
 * every row the driver writes (an object that never expires gets the backstop TTL); reads
 * also hide records whose `expiresAt` has passed, because TTLs only have second precision.
 */

import cassandra from 'cassandra-driver'
import { checked } from '../cache/options.js'
import type { LiveOriginError } from '../errors.js'
import { HedgeDelay, type HedgeDelays, ProfileHedgingPolicy } from './cassandra-hedging.js'
import {
  type CassandraDriverOptions,
  type CassandraProfileName,
  type CassandraReplication,
  cassandraOptions,
  DEFAULT_PROFILES,
} from './cassandra-options.js'
import {
  applyCassandraSchema,
  CHUNK_BACKSTOP_TTL_SECONDS,
  cassandraSchema,
  missingTables,
  type SchemaStep,
} from './cassandra-schema.js'
import { storageFailure } from './errors.js'
import type { DriverCapabilities, ObjectKey, ObjectMeta, StorageDriver } from './types.js'

export type {
  CassandraDriverOptions,
  CassandraProfileName,
  CassandraReplication,
} from './cassandra-options.js'
export { DEFAULT_PROFILES } from './cassandra-options.js'
export { cassandraSchema, type SchemaStep } from './cassandra-schema.js'

const DEFAULT_KEYSPACE = 'liveorigin'
/** Cassandra refuses TTLs above 20 years. */
const MAX_TTL_SECONDS = 630_720_000

const { localQuorum, localOne } = cassandra.types.consistencies

/** The profile of a chunk read repeated at quorum (`readChunk`). */
const CHUNK_READ_QUORUM = 'chunkReadQuorum'

interface Statements {
  putChunk: string
  getChunk: string
  deleteChunk: string
  getObject: string
  putObject: string
  deleteObject: string
  listObjects: string
  putRecord: string
  getRecord: string
  listRecords: string
  deleteRecord: string
  ping: string
}

function statements(ks: string): Statements {
  const objectColumns =
    'channel, path, pipeline, upload_token, size, chunk_size, chunks, etag, content_type, committed_at, expires_at, defects'
  return {
    putChunk: `INSERT INTO ${ks}.chunks (upload_token, idx, data, expires_at) VALUES (?, ?, ?, ?) USING TTL ?`,
    getChunk: `SELECT data, expires_at FROM ${ks}.chunks WHERE upload_token = ? AND idx = ?`,
    deleteChunk: `DELETE FROM ${ks}.chunks WHERE upload_token = ? AND idx = ?`,
    getObject: `SELECT ${objectColumns}, WRITETIME(upload_token) AS written FROM ${ks}.objects WHERE channel = ? AND path = ? AND pipeline = ?`,
    putObject: `INSERT INTO ${ks}.objects (${objectColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?`,
    deleteObject: `DELETE FROM ${ks}.objects USING TIMESTAMP ? WHERE channel = ? AND path = ? AND pipeline = ?`,
    listObjects: `SELECT ${objectColumns} FROM ${ks}.objects WHERE channel = ? AND path = ?`,
    putRecord: `INSERT INTO ${ks}.records (namespace, id, value) VALUES (?, ?, ?) USING TTL ?`,
    getRecord: `SELECT value FROM ${ks}.records WHERE namespace = ? AND id = ?`,
    listRecords: `SELECT id, value FROM ${ks}.records WHERE namespace = ?`,
    deleteRecord: `DELETE FROM ${ks}.records WHERE namespace = ? AND id = ?`,
    ping: `SELECT id FROM ${ks}.records WHERE namespace = '_ping' LIMIT 1`,
  }
}

/** The execution profile of each statement; statements not named use the client defaults. */
function profileOf(q: Statements): Map<string, CassandraProfileName> {
  return new Map<string, CassandraProfileName>([
    [q.getObject, 'metadata'],
    [q.putObject, 'metadata'],
    [q.deleteObject, 'metadata'],
    [q.listObjects, 'metadata'],
    [q.putRecord, 'metadata'],
    [q.getRecord, 'metadata'],
    [q.deleteRecord, 'metadata'],
    [q.getChunk, 'chunkRead'],
    [q.putChunk, 'chunkWrite'],
    [q.deleteChunk, 'chunkWrite'],
  ])
}

/**
 * The driver's default policy, plus one retry on another coordinator after a write timeout
 * when the statement is idempotent (all of ours are): with RF 3 and one replica lost, a
 * timeout usually means a slow coordinator rather than a lost quorum.
 */
class IdempotentRetryPolicy extends cassandra.policies.retry.RetryPolicy {
  override onWriteTimeout(
    info: cassandra.policies.retry.OperationInfo,
    consistencyLevel: cassandra.types.consistencies,
    received: number,
    blockFor: number,
    writeType: string,
  ): cassandra.policies.retry.DecisionInfo {
    if (info.nbRetry < 1 && info.executionOptions.isIdempotent())
      return this.retryResult(consistencyLevel, false)
    return super.onWriteTimeout(info, consistencyLevel, received, blockFor, writeType)
  }
  override onRequestError(
    info: cassandra.policies.retry.OperationInfo,
    consistencyLevel: cassandra.types.consistencies,
    err: Error,
  ): cassandra.policies.retry.DecisionInfo {
    if (!info.executionOptions.isIdempotent()) return this.rethrowResult()
    return super.onRequestError(info, consistencyLevel, err)
  }
}

type Row = cassandra.types.Row

/** The keyspace lacks tables and the driver was not asked to create them. */
class MissingSchemaError extends Error {
  constructor(keyspace: string, tables: string[]) {
    super(
      `Cassandra keyspace ${keyspace} has no table ${tables.join(', ')}: create the schema with \`liveorigin schema apply --config <file>\` (or set storage.cassandra.createSchema: true)`,
    )
    this.name = 'MissingSchemaError'
  }
}

/** A CQL bigint parameter (epoch ms and sizes are integers, but nothing enforces it). */
const long = (n: number): bigint => BigInt(Math.trunc(n))

function toNumber(v: unknown): number {
  if (typeof v === 'bigint') return Number(v)
  if (typeof v === 'number') return v
  if (v === null || v === undefined) return 0
  return Number(v)
}

function rowToMeta(row: Row): ObjectMeta {
  return {
    channel: row.get('channel') as string,
    path: row.get('path') as string,
    pipeline: row.get('pipeline') as string,
    token: row.get('upload_token') as string,
    size: toNumber(row.get('size')),
    chunkSize: toNumber(row.get('chunk_size')),
    chunks: toNumber(row.get('chunks')),
    etag: row.get('etag') as string,
    contentType: (row.get('content_type') as string | null) ?? '',
    committedAt: toNumber(row.get('committed_at')),
    expiresAt: toNumber(row.get('expires_at')),
    defects: (row.get('defects') as string | null) ?? '',
  }
}

/**
 * Whether the driver gave up only because coordinators were slow: at least one let the
 * profile's timeout pass, and every other one was already known to be down (skipped) or lost
 * its connection. That is a ring with a node just killed and the others busy, which the
 * default timeout rides out; any answer from Cassandra itself (unavailable, write timeout,
 * a bad statement) is final.
 */
export function onlySlowOrDownHosts(err: unknown): boolean {
  const timedOut = (e: unknown) => e instanceof cassandra.errors.OperationTimedOutError
  if (timedOut(err)) return true
  if (!(err instanceof cassandra.errors.NoHostAvailableError)) return false
  const inner = Object.values((err as { innerErrors?: Record<string, unknown> }).innerErrors ?? {})
  // The driver records a host it skipped as down with a string, not an error.
  const down = (e: unknown) =>
    typeof e === 'string' || (e as { isSocketError?: unknown } | null)?.isSocketError === true
  return inner.some(timedOut) && inner.every((e) => timedOut(e) || down(e))
}

/** One line saying why a request failed (the driver's own messages span several lines). */
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const inner = (err as { innerErrors?: Record<string, unknown> }).innerErrors
  if (inner && typeof inner === 'object' && Object.keys(inner).length > 0) {
    const hosts = Object.entries(inner).map(([host, e]) => {
      const code = (e as { code?: unknown } | null)?.code
      return `${host}: ${typeof code === 'string' ? code : e instanceof Error ? e.message : String(e)}`
    })
    return `no host answered (${hosts.join(', ')})`.replace(/\s+/g, ' ').slice(0, 500)
  }
  return `${err.name}: ${err.message}`.replace(/\s+/g, ' ').slice(0, 500)
}

function storageError(op: string, err: unknown): LiveOriginError {
  return storageFailure('cassandra', op, err, describeError)
}

type CheckedOptions = ReturnType<typeof cassandraOptions.parse>

function schemaOf(options: CheckedOptions): { keyspace: string; replication: CassandraReplication } {
  return {
    keyspace: options.keyspace ?? DEFAULT_KEYSPACE,
    replication: options.replication ?? {
      class: 'NetworkTopologyStrategy',
      dataCenters: { [options.localDataCenter]: 3 },
    },
  }
}

/** The settings of each profile: the defaults, overridden by what the options give. */
function profilesOf(
  options: CheckedOptions,
): Record<CassandraProfileName, { timeoutMs: number; hedgeAfterMs: number }> {
  const given = options.profiles ?? {}
  const merge = (name: CassandraProfileName) => ({
    timeoutMs: given[name]?.timeoutMs ?? DEFAULT_PROFILES[name].timeoutMs,
    hedgeAfterMs: given[name]?.hedgeAfterMs ?? DEFAULT_PROFILES[name].hedgeAfterMs,
  })
  return { metadata: merge('metadata'), chunkRead: merge('chunkRead'), chunkWrite: merge('chunkWrite') }
}

function hedgeDelaysOf(options: CheckedOptions): HedgeDelays {
  const p = profilesOf(options)
  const of = (name: CassandraProfileName) => new HedgeDelay(p[name].hedgeAfterMs, p[name].timeoutMs)
  return { metadata: of('metadata'), chunkRead: of('chunkRead'), chunkWrite: of('chunkWrite') }
}

function clientOptionsFor(
  options: CheckedOptions,
  keyspace: string,
  hedges: HedgeDelays = hedgeDelaysOf(options),
): cassandra.DseClientOptions {
  const profiles = profilesOf(options)
  const chunkReads = options.chunkReadConsistency === 'localQuorum' ? localQuorum : localOne
  const connections = options.connectionsPerHost ?? 2
  return {
    contactPoints: [...options.contactPoints],
    localDataCenter: options.localDataCenter,
    protocolOptions: { port: options.port ?? 9042, maxSchemaAgreementWaitSeconds: 30 },
    socketOptions: {
      readTimeout: options.requestTimeoutMs ?? 10_000,
      connectTimeout: options.connectTimeoutMs ?? 5_000,
    },
    pooling: {
      coreConnectionsPerHost: {
        [cassandra.types.distance.local]: connections,
        [cassandra.types.distance.remote]: 1,
        [cassandra.types.distance.ignored]: 0,
      },
    },
    queryOptions: { consistency: localQuorum, prepare: true, isIdempotent: true },
    encoding: { useBigIntAsLong: true },
    profiles: [
      new cassandra.ExecutionProfile('metadata', { readTimeout: profiles.metadata.timeoutMs }),
      new cassandra.ExecutionProfile('chunkRead', {
        readTimeout: profiles.chunkRead.timeoutMs,
        consistency: chunkReads,
      }),
      new cassandra.ExecutionProfile(CHUNK_READ_QUORUM, { readTimeout: profiles.chunkRead.timeoutMs }),
      new cassandra.ExecutionProfile('chunkWrite', { readTimeout: profiles.chunkWrite.timeoutMs }),
    ],
    policies: {
      retry: new IdempotentRetryPolicy(),
      // The driver's default (named here because the design relies on it): token-aware, the
      // replica with fewer requests in flight of two first, and a replica with requests in
      // flight but no answers sent to the back of the plan, so a stalled node soon gets none.
      loadBalancing: new cassandra.policies.loadBalancing.DefaultLoadBalancingPolicy({
        localDc: options.localDataCenter,
      }),
      speculativeExecution: new ProfileHedgingPolicy(
        profileOf(statements(keyspace)),
        hedges,
        options.maxHedges ?? 1,
      ),
    },
    ...(options.credentials === undefined
      ? {}
      : { credentials: { username: options.credentials.username, password: options.credentials.password } }),
  }
}

/**
 * Brings the cluster named by the driver options to the declared schema (keyspace and
 * replication from the same options): `liveorigin schema apply`. See `applyCassandraSchema`.
 */
export async function applySchema(
  given: CassandraDriverOptions,
  onStep?: (step: SchemaStep) => void,
): Promise<SchemaStep[]> {
  const options = checked(cassandraOptions, given, 'the cassandra storage driver')
  const { keyspace, replication } = schemaOf(options)
  const client = new cassandra.Client(clientOptionsFor(options, keyspace))
  try {
    await client.connect()
    return await applyCassandraSchema(client, keyspace, replication, onStep)
  } finally {
    await client.shutdown()
  }
}

/** The CQL of the declared schema for the keyspace and replication of the driver options. */
export function schemaStatements(given: CassandraDriverOptions): string[] {
  const { keyspace, replication } = schemaOf(checked(cassandraOptions, given, 'the cassandra storage driver'))
  return cassandraSchema(keyspace, replication)
}

/**
 * Creates a `StorageDriver` on a Cassandra cluster. Options are checked here (a `TypeError`
 * naming the option); the connection is made on first use, and then fails when the keyspace
 * lacks a table (unless `createSchema`, which applies the declared schema).
 */
export function createCassandraDriver(given: CassandraDriverOptions): StorageDriver {
  const options = checked(cassandraOptions, given, 'the cassandra storage driver')
  const { keyspace, replication } = schemaOf(options)
  const createSchema = options.createSchema ?? false
  const now = options.now ?? Date.now
  const deleteConcurrency = options.deleteConcurrency ?? 16
  const q = statements(keyspace)
  const hedges = hedgeDelaysOf(options)
  const clientOptions = clientOptionsFor(options, keyspace, hedges)
  const profileFor = profileOf(q)
  const quorumChunkReads = options.chunkReadConsistency === 'localQuorum'

  let client: cassandra.Client | undefined
  let ready: Promise<cassandra.Client> | undefined
  let closed = false
  // Write timestamps (µs) for commit and remove: strictly increasing within this process and
  // at least 2 µs after the record they replace, whatever the clocks of other nodes say. An
  // `extend` rewrites a record 1 µs after it, so it never wins over a commit or remove of the
  // same record, wherever that ran.
  let lastMicros = 0

  function nextMicros(after: bigint | undefined): bigint {
    let micros = now() * 1000
    if (micros <= lastMicros) micros = lastMicros + 1
    lastMicros = micros
    const ts = BigInt(Math.trunc(micros))
    return after !== undefined && after + 1n >= ts ? after + 2n : ts
  }

  async function connect(): Promise<cassandra.Client> {
    const c = new cassandra.Client(clientOptions)
    client = c
    try {
      await c.connect()
      if (createSchema) {
        await applyCassandraSchema(c, keyspace, replication)
      } else {
        const missing = await missingTables(c, keyspace)
        if (missing.length > 0) throw new MissingSchemaError(keyspace, missing)
      }
      return c
    } catch (err) {
      client = undefined
      await c.shutdown().catch(() => {})
      throw err
    }
  }

  function session(): Promise<cassandra.Client> {
    if (closed) return Promise.reject(storageError('connect', new Error('driver is closed')))
    if (!ready) {
      ready = connect()
      // A failed first connection must not poison every later call: the next call retries.
      ready.catch(() => {
        ready = undefined
      })
    }
    return ready
  }

  async function run(
    op: string,
    query: string,
    params: unknown[],
    profile: string | undefined = profileFor.get(query),
  ): Promise<cassandra.types.ResultSet> {
    try {
      const c = await session()
      if (profile === undefined) return await c.execute(query, params)
      const started = performance.now()
      try {
        return await c.execute(query, params, { executionProfile: profile })
      } catch (err) {
        // The profile's short timeouts are there to leave a stalled coordinator, not to fail a
        // statement that every coordinator is merely slow to answer (an overloaded ring, or one
        // that just lost a node): once more, with the default timeout (`requestTimeoutMs`) and
        // at LOCAL_QUORUM.
        if (!onlySlowOrDownHosts(err)) throw err
        return await c.execute(query, params)
      } finally {
        hedges[profile === CHUNK_READ_QUORUM ? 'chunkRead' : (profile as CassandraProfileName)].record(
          performance.now() - started,
        )
      }
    } catch (err) {
      throw storageError(op, err)
    }
  }

  // Every row the driver writes has a TTL: "never" (0) is the chunks table's backstop TTL, so
  // that no row pins a time window of the chunks table (docs/running-at-scale.md).
  function ttlFor(expiresAt: number): number {
    if (expiresAt === 0) return CHUNK_BACKSTOP_TTL_SECONDS
    const seconds = Math.ceil((expiresAt - now()) / 1000)
    return Math.min(Math.max(seconds, 1), MAX_TTL_SECONDS)
  }

  const live = (expiresAt: number): boolean => expiresAt === 0 || expiresAt > now()

  async function writeObject(op: string, meta: ObjectMeta, timestamp: bigint): Promise<void> {
    await run(op, q.putObject, [
      meta.channel,
      meta.path,
      meta.pipeline,
      meta.token,
      long(meta.size),
      meta.chunkSize,
      meta.chunks,
      meta.etag,
      meta.contentType,
      long(meta.committedAt),
      long(meta.expiresAt),
      meta.defects,
      ttlFor(meta.expiresAt),
      timestamp,
    ])
  }

  async function readObject(
    op: string,
    key: ObjectKey,
  ): Promise<{ meta: ObjectMeta; written: bigint } | undefined> {
    const rs = await run(op, q.getObject, [key.channel, key.path, key.pipeline])
    const row = rs.first()
    if (!row) return undefined
    const written = row.get('written') as bigint | null
    return { meta: rowToMeta(row), written: written ?? 0n }
  }

  /**
   * A live chunk row, from one replica when it has one, else from a quorum. Safe because a
   * chunk is written once, at LOCAL_QUORUM, under a token no other upload uses: any replica's
   * row holds the same bytes, and a replica that missed the write (or the rewrite of `extend`,
   * which only lengthens the TTL) answers nothing or an earlier expiry, which the quorum read
   * then corrects (a quorum overlaps every quorum the chunk was written to).
   */
  async function readChunk(token: string, index: number): Promise<Row | undefined> {
    const isLive = (row: Row | null): row is Row => row !== null && live(toNumber(row.get('expires_at')))
    const first = (await run('getChunk', q.getChunk, [token, index])).first()
    if (isLive(first) || quorumChunkReads) return isLive(first) ? first : undefined
    const again = (await run('getChunk', q.getChunk, [token, index], CHUNK_READ_QUORUM)).first()
    return isLive(again) ? again : undefined
  }

  const capabilities: DriverCapabilities = { nativeTtl: true, multiProcess: true }

  return {
    name: 'cassandra',
    capabilities,

    async putChunk(token, index, data, expiresAt) {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      await run('putChunk', q.putChunk, [token, index, buf, long(expiresAt), ttlFor(expiresAt)])
    },

    async getChunk(token, index) {
      const row = await readChunk(token, index)
      if (!row) return undefined
      const data = row.get('data') as Buffer | null
      return data ?? Buffer.alloc(0)
    },

    async deleteChunks(token, count) {
      let next = 0
      const worker = async (): Promise<void> => {
        while (next < count) {
          const index = next++
          await run('deleteChunks', q.deleteChunk, [token, index])
        }
      }
      await Promise.all(Array.from({ length: Math.min(deleteConcurrency, count) }, worker))
    },

    async commit(meta, options) {
      // A write-once key is written without reading the record it replaces: one quorum write.
      if (options?.writeOnce) {
        await writeObject('commit', meta, nextMicros(undefined))
        return undefined
      }
      const previous = await readObject('commit', meta)
      await writeObject('commit', meta, nextMicros(previous?.written))
      return previous && live(previous.meta.expiresAt) ? previous.meta : undefined
    },

    async extend(meta, expiresAt) {
      const current = await readObject('extend', meta)
      if (!current || current.meta.token !== meta.token || !live(current.meta.expiresAt)) return undefined
      if (current.meta.expiresAt === 0 || current.meta.expiresAt >= expiresAt) return current.meta
      // Chunks first, so that the record never outlives them. A TTL is only changed by
      // writing the cell again.
      for (let index = 0; index < current.meta.chunks; index++) {
        const rs = await run('extend', q.getChunk, [meta.token, index], CHUNK_READ_QUORUM)
        const data = rs.first()?.get('data') as Buffer | null | undefined
        if (data === undefined || data === null) return undefined
        await run('extend', q.putChunk, [meta.token, index, data, long(expiresAt), ttlFor(expiresAt)])
      }
      const extended = { ...current.meta, expiresAt }
      await writeObject('extend', extended, current.written + 1n)
      return extended
    },

    async list(channel, path) {
      const rs = await run('list', q.listObjects, [channel, path])
      return rs.rows.map(rowToMeta).filter((m) => live(m.expiresAt))
    },

    async remove(key) {
      const previous = await readObject('remove', key)
      if (!previous) return undefined
      await run('remove', q.deleteObject, [nextMicros(previous.written), key.channel, key.path, key.pipeline])
      return live(previous.meta.expiresAt) ? previous.meta : undefined
    },

    async putRecord(namespace, id, value, expiresAt = 0) {
      const json = JSON.stringify(value)
      if (json === undefined) throw new TypeError('putRecord: value must be JSON-serialisable')
      // TTL 0: no expiry (and no backstop: control-plane records live until changed).
      await run('putRecord', q.putRecord, [namespace, id, json, expiresAt > 0 ? ttlFor(expiresAt) : 0])
    },

    async getRecord<T>(namespace: string, id: string): Promise<T | undefined> {
      const rs = await run('getRecord', q.getRecord, [namespace, id])
      const row = rs.first()
      return row ? (JSON.parse(row.get('value') as string) as T) : undefined
    },

    async listRecords<T>(namespace: string): Promise<Array<{ id: string; value: T }>> {
      const out: Array<{ id: string; value: T }> = []
      try {
        const c = await session()
        const rs = await c.execute(q.listRecords, [namespace], { fetchSize: 500 })
        for await (const row of rs) {
          out.push({ id: row.get('id') as string, value: JSON.parse(row.get('value') as string) as T })
        }
      } catch (err) {
        throw storageError('listRecords', err)
      }
      return out
    },

    async deleteRecord(namespace, id) {
      await run('deleteRecord', q.deleteRecord, [namespace, id])
    },

    async sweep() {
      return 0
    },

    async ping() {
      await run('ping', q.ping, [])
    },

    async close() {
      if (closed) return
      closed = true
      const pending = ready
      ready = undefined
      if (pending) await pending.catch(() => {})
      const c = client
      client = undefined
      if (c) await c.shutdown()
    },
  }
}
