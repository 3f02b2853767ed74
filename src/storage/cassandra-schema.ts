/**
 * The Cassandra schema of the `cassandra` storage driver, declared in one place: keyspace,
 * tables and their options (compaction, TTL, gc_grace, read repair), the CQL that creates
 * them (`liveorigin schema print`), and `applyCassandraSchema`, which creates what is missing
 * and ALTERs table options that differ from the declared ones (`liveorigin schema apply`).
 * Why these numbers: docs/running-at-scale.md#expiry-model.
 */
import type cassandra from 'cassandra-driver'
import { z } from 'zod'
import { checked } from '../cache/options.js'
import { type CassandraReplication, cassandraReplication, keyspaceName } from './cassandra-options.js'

/** The options a table is declared with; `apply` puts back any that differ on the cluster. */
export interface TableOptions {
  /** `compaction` map; `class` by its short name. Only the keys given are compared. */
  readonly compaction: Readonly<Record<string, string>>
  /** `compression` map. Only the keys given are compared. */
  readonly compression?: Readonly<Record<string, string>>
  readonly defaultTimeToLive: number
  readonly gcGraceSeconds: number
  readonly readRepair: 'BLOCKING' | 'NONE'
  /** `memtable_flush_period_in_ms`: flush the memtable at least this often (0: when full). Default 0. */
  readonly memtableFlushPeriodMs?: number
}

export interface TableDefinition {
  readonly name: 'objects' | 'chunks' | 'records'
  /** Column and key definitions, the body of `CREATE TABLE (…)`. */
  readonly columns: string
  readonly options: TableOptions
}

const HOUR_S = 3600

/**
 * Chunk rows: each written once with a TTL from its object's `expiresAt`. The TTL the driver
 * gives an object stored with `expiresAt` 0 ("never"), and the table's default for a row
 * written without one: no chunk row lives without a TTL.
 */
export const CHUNK_BACKSTOP_TTL_SECONDS = 24 * HOUR_S

/** The tables, in creation order. */
export const cassandraTables: readonly TableDefinition[] = [
  {
    // Commit records: small, read on every request, manifests replaced in place every segment.
    name: 'objects',
    columns: `channel text, path text, pipeline text,
  upload_token text, size bigint, chunk_size int, chunks int, etag text, content_type text,
  committed_at bigint, expires_at bigint, defects text,
  PRIMARY KEY ((channel, path), pipeline)`,
    options: {
      compaction: { class: 'LeveledCompactionStrategy' },
      defaultTimeToLive: 0,
      gcGraceSeconds: 3 * HOUR_S,
      readRepair: 'BLOCKING',
    },
  },
  {
    // Bytes, 1 MiB per row, write-once, every row with a TTL of about the DVR window.
    name: 'chunks',
    columns: `upload_token text, idx int, data blob, expires_at bigint,
  PRIMARY KEY ((upload_token, idx))`,
    options: {
      compaction: {
        class: 'TimeWindowCompactionStrategy',
        compaction_window_unit: 'HOURS',
        compaction_window_size: '1',
      },
      compression: { enabled: 'false' },
      defaultTimeToLive: CHUNK_BACKSTOP_TTL_SECONDS,
      gcGraceSeconds: 1 * HOUR_S,
      readRepair: 'NONE',
    },
  },
  {
    // Control-plane documents (channels, tokens, masks): few, small, never expire.
    name: 'records',
    columns: `namespace text, id text, value text,
  PRIMARY KEY ((namespace), id)`,
    options: {
      compaction: { class: 'SizeTieredCompactionStrategy' },
      defaultTimeToLive: 0,
      gcGraceSeconds: 10 * 24 * HOUR_S,
      readRepair: 'BLOCKING',
    },
  },
]

const schemaOptions = z.object({ keyspace: keyspaceName, replication: cassandraReplication })

const cqlMap = (m: Readonly<Record<string, string>>): string =>
  `{${Object.entries(m)
    .map(([k, v]) => `'${k}': '${v}'`)
    .join(', ')}}`

function replicationCql(replication: CassandraReplication): string {
  return replication.class === 'SimpleStrategy'
    ? `{'class': 'SimpleStrategy', 'replication_factor': ${replication.replicationFactor}}`
    : `{'class': 'NetworkTopologyStrategy', ${Object.entries(replication.dataCenters)
        .map(([dc, rf]) => `'${dc}': ${rf}`)
        .join(', ')}}`
}

type OptionName =
  | 'compaction'
  | 'compression'
  | 'default_time_to_live'
  | 'gc_grace_seconds'
  | 'read_repair'
  | 'memtable_flush_period_in_ms'

function optionClauses(o: TableOptions): Array<[OptionName, string]> {
  const out: Array<[OptionName, string]> = [['compaction', cqlMap(o.compaction)]]
  if (o.compression) out.push(['compression', cqlMap(o.compression)])
  out.push(
    ['default_time_to_live', String(o.defaultTimeToLive)],
    ['gc_grace_seconds', String(o.gcGraceSeconds)],
    ['read_repair', `'${o.readRepair}'`],
  )
  if (o.memtableFlushPeriodMs !== undefined)
    out.push(['memtable_flush_period_in_ms', String(o.memtableFlushPeriodMs)])
  return out
}

const withClause = (clauses: Array<[OptionName, string]>): string =>
  clauses.map(([k, v]) => `${k} = ${v}`).join('\n  AND ')

/**
 * The CQL that creates the keyspace and tables with their declared options (what
 * `liveorigin schema print` writes).
 */
export function cassandraSchema(
  keyspace: string,
  replication: CassandraReplication,
  tables: readonly TableDefinition[] = cassandraTables,
): string[] {
  checked(schemaOptions, { keyspace, replication }, 'cassandraSchema')
  return [
    `CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = ${replicationCql(replication)}`,
    ...tables.map(
      (t) =>
        `CREATE TABLE IF NOT EXISTS ${keyspace}.${t.name} (\n  ${t.columns}\n) WITH ${withClause(optionClauses(t.options))}`,
    ),
  ]
}

/** A table's options as `system_schema.tables` holds them. */
export interface LiveTableOptions {
  readonly compaction: Readonly<Record<string, string>>
  readonly compression: Readonly<Record<string, string>>
  readonly defaultTimeToLive: number
  readonly gcGraceSeconds: number
  readonly readRepair: string
  readonly memtableFlushPeriodMs: number
}

/** The declared options `live` differs in, as `name: live → declared` lines (empty when none). */
export function optionDifferences(
  declared: TableOptions,
  live: LiveTableOptions,
): Array<[OptionName, string]> {
  const out: Array<[OptionName, string]> = []
  const mapDiffers = (want: Readonly<Record<string, string>>, have: Readonly<Record<string, string>>) =>
    Object.entries(want).some(([k, v]) =>
      k === 'class' ? !(have.class === v || (have.class ?? '').endsWith(`.${v}`)) : have[k] !== v,
    )
  const show = (m: Readonly<Record<string, string>>, keys: string[]) =>
    cqlMap(
      Object.fromEntries(keys.map((k) => [k, (m[k] ?? '').replace(/^org\.apache\.cassandra\.[\w.]+\./, '')])),
    )
  if (mapDiffers(declared.compaction, live.compaction))
    out.push([
      'compaction',
      `${show(live.compaction, Object.keys(declared.compaction))} → ${cqlMap(declared.compaction)}`,
    ])
  if (declared.compression && mapDiffers(declared.compression, live.compression))
    out.push([
      'compression',
      `${show(live.compression, Object.keys(declared.compression))} → ${cqlMap(declared.compression)}`,
    ])
  if (live.defaultTimeToLive !== declared.defaultTimeToLive)
    out.push(['default_time_to_live', `${live.defaultTimeToLive} → ${declared.defaultTimeToLive}`])
  if (live.gcGraceSeconds !== declared.gcGraceSeconds)
    out.push(['gc_grace_seconds', `${live.gcGraceSeconds} → ${declared.gcGraceSeconds}`])
  if (live.readRepair !== declared.readRepair)
    out.push(['read_repair', `${live.readRepair} → ${declared.readRepair}`])
  const flushPeriod = declared.memtableFlushPeriodMs ?? 0
  if (live.memtableFlushPeriodMs !== flushPeriod)
    out.push(['memtable_flush_period_in_ms', `${live.memtableFlushPeriodMs} → ${flushPeriod}`])
  return out
}

/** One step of `applyCassandraSchema`: what it found or did, and the statement it ran, if any. */
export interface SchemaStep {
  readonly action: 'created' | 'altered' | 'unchanged' | 'differs'
  /** `keyspace` or the table name. */
  readonly object: string
  readonly detail: string
  readonly statement?: string
}

/** Reads the options of the keyspace's tables from `system_schema.tables`. */
export async function liveTableOptions(
  client: cassandra.Client,
  keyspace: string,
): Promise<Map<string, LiveTableOptions>> {
  const rs = await client.execute(
    'SELECT table_name, compaction, compression, default_time_to_live, gc_grace_seconds, read_repair, memtable_flush_period_in_ms FROM system_schema.tables WHERE keyspace_name = ?',
    [keyspace],
    { prepare: true },
  )
  const out = new Map<string, LiveTableOptions>()
  for (const row of rs.rows) {
    out.set(row.get('table_name') as string, {
      compaction: (row.get('compaction') as Record<string, string> | null) ?? {},
      compression: (row.get('compression') as Record<string, string> | null) ?? {},
      defaultTimeToLive: Number(row.get('default_time_to_live') ?? 0),
      gcGraceSeconds: Number(row.get('gc_grace_seconds') ?? 0),
      readRepair: String(row.get('read_repair') ?? ''),
      memtableFlushPeriodMs: Number(row.get('memtable_flush_period_in_ms') ?? 0),
    })
  }
  return out
}

/** The declared tables the keyspace lacks (all of them when the keyspace does not exist). */
export async function missingTables(client: cassandra.Client, keyspace: string): Promise<string[]> {
  const live = await liveTableOptions(client, keyspace)
  return cassandraTables.filter((t) => !live.has(t.name)).map((t) => t.name)
}

/**
 * Brings the cluster's schema to the declared one: creates the keyspace and tables that are
 * missing and ALTERs the options of existing tables that differ. Idempotent: a second run
 * changes nothing. A keyspace whose replication differs is reported, never changed (that
 * takes a repair; `ALTER KEYSPACE` by hand). Each step is passed to `onStep` as it finishes.
 * DDL runs one statement at a time and waits for schema agreement (the client's default).
 */
export async function applyCassandraSchema(
  client: cassandra.Client,
  keyspace: string,
  replication: CassandraReplication,
  onStep: (step: SchemaStep) => void = () => {},
  tables: readonly TableDefinition[] = cassandraTables,
): Promise<SchemaStep[]> {
  const [createKeyspace, ...createTables] = cassandraSchema(keyspace, replication, tables)
  const steps: SchemaStep[] = []
  const step = (s: SchemaStep) => {
    steps.push(s)
    onStep(s)
  }
  const ddl = (cql: string) => client.execute(cql, [], { prepare: false })

  const ks = await client.execute(
    'SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?',
    [keyspace],
    { prepare: true },
  )
  const existing = ks.first()?.get('replication') as Record<string, string> | undefined
  if (!existing) {
    await ddl(createKeyspace!)
    step({ action: 'created', object: 'keyspace', detail: keyspace, statement: createKeyspace! })
  } else if (replicationDiffers(replication, existing)) {
    step({
      action: 'differs',
      object: 'keyspace',
      detail: `${keyspace} has replication ${JSON.stringify(existing)}, declared ${replicationCql(replication)}: not changed (ALTER KEYSPACE by hand, then repair)`,
    })
  } else {
    step({ action: 'unchanged', object: 'keyspace', detail: keyspace })
  }

  const live = await liveTableOptions(client, keyspace)
  for (const [i, table] of tables.entries()) {
    const have = live.get(table.name)
    if (!have) {
      const cql = createTables[i]!
      await ddl(cql)
      step({ action: 'created', object: table.name, detail: `${keyspace}.${table.name}`, statement: cql })
      continue
    }
    const diffs = optionDifferences(table.options, have)
    if (diffs.length === 0) {
      step({ action: 'unchanged', object: table.name, detail: `${keyspace}.${table.name}` })
      continue
    }
    const wanted = new Set(diffs.map(([name]) => name))
    const cql = `ALTER TABLE ${keyspace}.${table.name} WITH ${withClause(optionClauses(table.options).filter(([k]) => wanted.has(k)))}`
    await ddl(cql)
    step({
      action: 'altered',
      object: table.name,
      detail: `${keyspace}.${table.name}: ${diffs.map(([k, d]) => `${k} ${d}`).join('; ')}`,
      statement: cql,
    })
  }
  return steps
}

function replicationDiffers(declared: CassandraReplication, live: Record<string, string>): boolean {
  if (declared.class === 'SimpleStrategy') {
    return (
      !live.class?.endsWith('SimpleStrategy') ||
      live.replication_factor !== String(declared.replicationFactor)
    )
  }
  if (!live.class?.endsWith('NetworkTopologyStrategy')) return true
  const liveDcs = Object.keys(live).filter((k) => k !== 'class')
  const dcs = Object.entries(declared.dataCenters)
  return liveDcs.length !== dcs.length || dcs.some(([dc, rf]) => live[dc] !== String(rf))
}

/**
 * The declared tables, the chunks table's options replaced by those given in `chunks` (the
 * `compaction` map merged key by key): e.g. minute-long time windows, frequent expired-SSTable
 * checks and a short gc_grace for a keyspace whose channels keep DVR windows of minutes
 * (docs/storage.md, "Cassandra tables").
 */
export function tablesWithChunkOptions(chunks: Partial<TableOptions>): TableDefinition[] {
  return cassandraTables.map((t) =>
    t.name !== 'chunks'
      ? t
      : {
          ...t,
          options: {
            ...t.options,
            ...chunks,
            compaction: { ...t.options.compaction, ...(chunks.compaction ?? {}) },
          },
        },
  )
}
