/**
 * The Cassandra schema and the expiry model on the real ring (docs/running-at-scale.md#schema,
 * #expiry-model): `liveorigin schema apply` creates the declared tables with their options,
 * changes nothing the second time and puts back an option changed by hand; every chunk row
 * an origin writes for a manifest, an init segment and a media segment has a TTL; extending
 * an object rewrites its TTLs; a node started without the schema fails, naming the command.
 * Keyspaces of their own (random names), so runs and other suites do not meet.
 */

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import cassandra from 'cassandra-driver'
import { applySchema, createCassandraDriver } from '../../src/storage/cassandra.js'
import {
  cassandraTables,
  liveTableOptions,
  optionDifferences,
  type SchemaStep,
} from '../../src/storage/cassandra-schema.js'
import { EXPIRY_MARGIN_MS, INIT_EXTEND_EVERY_MS } from '../../src/timing/schedule.js'
import { spawnCli } from '../helpers/cli.js'
import { createChannel, D, put, segmentPath, validCopy } from '../helpers/fixture-channel.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'
import { patternBytes } from '../storage/driver-conformance.js'
import { cassandraContactPoints, cassandraDataCenter, NO_RING } from './env.js'

const run = promisify(execFile)
const contactPoints = cassandraContactPoints()
const skip = contactPoints ? {} : { skip: NO_RING }
const KEYSPACE = `lo_schema_${randomUUID().slice(0, 8)}`
const HOUR_S = 3600
/** DVR window of the channel (the default), in seconds. */
const DVR_S = 4 * HOUR_S
const MARGIN_S = EXPIRY_MARGIN_MS / 1000

describe('cassandra schema on the ring', skip, () => {
  let raw: cassandra.Client
  let dir: string
  const ringOptions = () => ({
    contactPoints: contactPoints ?? [],
    localDataCenter: cassandraDataCenter(),
    keyspace: KEYSPACE,
  })
  const configFile = (keyspace: string) => {
    const file = join(dir, `${keyspace}.yaml`)
    // JSON is YAML.
    writeFileSync(
      file,
      JSON.stringify({ storage: { driver: 'cassandra', cassandra: { ...ringOptions(), keyspace } } }),
    )
    return file
  }
  /** Runs `liveorigin schema <args>` and returns what it printed on stderr. */
  const schemaCli = async (...args: string[]): Promise<string> => {
    const { stderr } = await run(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'schema', ...args],
      {
        timeout: 180_000,
      },
    )
    return stderr
  }
  const liveOptions = () => liveTableOptions(raw, KEYSPACE)

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'liveorigin-schema-'))
    raw = new cassandra.Client({ contactPoints: contactPoints ?? [], localDataCenter: cassandraDataCenter() })
    await raw.connect()
  })
  after(async () => {
    await raw?.shutdown()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('schema print writes the CQL of every declared table, with its options', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'schema', 'print', '--config', configFile(KEYSPACE)],
      { timeout: 60_000 },
    )
    assert.match(stdout, new RegExp(`CREATE KEYSPACE IF NOT EXISTS ${KEYSPACE} `))
    for (const t of cassandraTables)
      assert.match(stdout, new RegExp(`CREATE TABLE IF NOT EXISTS ${KEYSPACE}\\.${t.name} `))
    assert.match(stdout, /'class': 'TimeWindowCompactionStrategy'/)
    assert.match(stdout, /read_repair = 'NONE'/)
  })

  it('schema apply creates the keyspace and tables with the declared options', async () => {
    const stderr = await schemaCli('apply', '--config', configFile(KEYSPACE))
    assert.match(stderr, new RegExp(`schema: created keyspace ${KEYSPACE}`))
    for (const t of cassandraTables)
      assert.match(stderr, new RegExp(`schema: created ${KEYSPACE}\\.${t.name}`))
    const live = await liveOptions()
    for (const t of cassandraTables) {
      const have = live.get(t.name)
      assert.ok(have, `table ${t.name} exists`)
      assert.deepEqual(optionDifferences(t.options, have), [], `options of ${t.name}`)
    }
    const chunks = live.get('chunks')!
    assert.match(chunks.compaction.class ?? '', /TimeWindowCompactionStrategy$/)
    assert.equal(chunks.compaction.compaction_window_unit, 'HOURS')
    assert.equal(chunks.compaction.compaction_window_size, '1')
    assert.equal(chunks.compression.enabled, 'false')
    assert.equal(chunks.defaultTimeToLive, 24 * HOUR_S)
    assert.equal(chunks.gcGraceSeconds, HOUR_S)
    assert.equal(chunks.readRepair, 'NONE')
    const objects = live.get('objects')!
    assert.match(objects.compaction.class ?? '', /LeveledCompactionStrategy$/)
    assert.equal(objects.gcGraceSeconds, 3 * HOUR_S)
    assert.equal(objects.readRepair, 'BLOCKING')
    const records = live.get('records')!
    assert.match(records.compaction.class ?? '', /SizeTieredCompactionStrategy$/)
    assert.equal(records.defaultTimeToLive, 0)
  })

  it('a second apply changes nothing', async () => {
    const before = await liveOptions()
    const stderr = await schemaCli('apply', '--config', configFile(KEYSPACE))
    assert.match(stderr, /schema: nothing to change/)
    assert.doesNotMatch(stderr, /schema: (created|altered)/)
    assert.deepEqual(await liveOptions(), before)
  })

  it('apply puts back options changed by hand, and only those', async () => {
    await raw.execute(
      `ALTER TABLE ${KEYSPACE}.chunks WITH gc_grace_seconds = 864000 AND read_repair = 'BLOCKING'`,
    )
    await raw.execute(
      `ALTER TABLE ${KEYSPACE}.objects WITH compaction = {'class': 'SizeTieredCompactionStrategy'}`,
    )
    const steps: SchemaStep[] = []
    await applySchema(ringOptions(), (s) => steps.push(s))
    const byObject = new Map(steps.map((s) => [s.object, s]))
    assert.equal(byObject.get('chunks')?.action, 'altered')
    assert.match(
      byObject.get('chunks')?.detail ?? '',
      /gc_grace_seconds 864000 → 3600; read_repair BLOCKING → NONE/,
    )
    assert.doesNotMatch(byObject.get('chunks')?.statement ?? '', /compaction/)
    assert.equal(byObject.get('objects')?.action, 'altered')
    assert.match(byObject.get('objects')?.statement ?? '', /LeveledCompactionStrategy/)
    assert.equal(byObject.get('records')?.action, 'unchanged')
    assert.equal(byObject.get('keyspace')?.action, 'unchanged')
    const live = await liveOptions()
    for (const t of cassandraTables)
      assert.deepEqual(optionDifferences(t.options, live.get(t.name)!), [], t.name)
    const again = await applySchema(ringOptions())
    assert.deepEqual(
      again.map((s) => s.action),
      again.map(() => 'unchanged'),
    )
  })

  describe('what an origin writes', () => {
    let origin: TestOrigin
    let channel: string
    before(async () => {
      origin = await startOrigin({ 'storage.driver': 'cassandra', 'storage.cassandra': ringOptions() })
      // Segments 1–20 were due before now.
      channel = await createChannel(origin, Date.now() - 20 * D)
    })
    after(async () => {
      await origin?.close()
    })

    /** TTL (s) of every chunk row of pipeline east's copy of `path`, and of its commit record. */
    async function ttls(path: string): Promise<{ record: number; chunks: number[] }> {
      const rs = await raw.execute(
        `SELECT upload_token, chunks, TTL(etag) AS ttl FROM ${KEYSPACE}.objects WHERE channel = ? AND path = ? AND pipeline = ?`,
        [channel, path, 'east'],
        { prepare: true },
      )
      const row = rs.first()
      assert.ok(row, `${path} is stored`)
      const chunks: number[] = []
      for (let idx = 0; idx < (row.get('chunks') as number); idx++) {
        const c = await raw.execute(
          `SELECT TTL(data) AS ttl FROM ${KEYSPACE}.chunks WHERE upload_token = ? AND idx = ?`,
          [row.get('upload_token'), idx],
          { prepare: true, consistency: cassandra.types.consistencies.localQuorum },
        )
        chunks.push(c.first()?.get('ttl') as number)
      }
      return { record: row.get('ttl') as number, chunks }
    }
    const within = (ttl: number | null, lo: number, hi: number, what: string) =>
      assert.ok(
        typeof ttl === 'number' && ttl >= lo && ttl <= hi,
        `${what}: TTL ${ttl}, expected ${lo}–${hi} s`,
      )

    it('every chunk row of a manifest, an init segment and a media segment has a TTL', async () => {
      const mpd = Buffer.from(
        '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic"/>',
      )
      assert.equal((await put(origin, channel, 'manifest.mpd', mpd, 'east')).status, 201)
      assert.equal(
        (await put(origin, channel, segmentPath(0, 20), validCopy(0, 20, 'east'), 'east')).status,
        201,
      )
      // Generous lower bounds: a busy machine may take a while between the PUT and the SELECT.
      const manifest = await ttls('manifest.mpd')
      const init = await ttls('init-0.m4s')
      const media = await ttls(segmentPath(0, 20))
      for (const [what, t, hi] of [
        ['manifest', manifest, DVR_S + MARGIN_S + INIT_EXTEND_EVERY_MS / 1000],
        ['init segment', init, DVR_S + MARGIN_S + INIT_EXTEND_EVERY_MS / 1000],
        ['media segment', media, DVR_S + MARGIN_S + 60],
      ] as const) {
        assert.ok(t.chunks.length > 0, `${what} has chunk rows`)
        for (const [i, ttl] of t.chunks.entries()) within(ttl, hi - 600, hi, `${what} chunk ${i}`)
        within(t.record, hi - 600, hi, `${what} record`)
      }
    })

    it('a replaced manifest: the new copy has its own TTL, from its own write', async () => {
      const mpd = (n: number) =>
        Buffer.from(
          `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" id="${n}"/>`,
        )
      assert.equal((await put(origin, channel, 'again.mpd', mpd(1), 'east')).status, 201)
      assert.equal((await put(origin, channel, 'again.mpd', mpd(2), 'east')).status, 204)
      const t = await ttls('again.mpd')
      for (const [i, ttl] of t.chunks.entries())
        within(
          ttl,
          DVR_S + MARGIN_S + INIT_EXTEND_EVERY_MS / 1000 - 600,
          DVR_S + MARGIN_S + INIT_EXTEND_EVERY_MS / 1000,
          `chunk ${i}`,
        )
    })
  })

  it('extend rewrites the TTL of the chunk rows and of the record', async () => {
    const driver = createCassandraDriver(ringOptions())
    try {
      const now = Date.now()
      const key = { channel: `ext${randomUUID().slice(0, 8)}`, path: 'init-0.m4s', pipeline: 'a' }
      const token = randomUUID()
      await driver.putChunk(token, 0, patternBytes(500), now + HOUR_S * 1000)
      const meta = {
        ...key,
        token,
        size: 500,
        chunkSize: 1024,
        chunks: 1,
        etag: '"x"',
        contentType: 'video/mp4',
        committedAt: now,
        expiresAt: now + HOUR_S * 1000,
        defects: '',
      }
      await driver.commit(meta)
      assert.ok(await driver.extend(meta, now + 5 * HOUR_S * 1000))
      const c = await raw.execute(
        `SELECT TTL(data) AS ttl FROM ${KEYSPACE}.chunks WHERE upload_token = ? AND idx = 0`,
        [token],
        { prepare: true, consistency: cassandra.types.consistencies.localQuorum },
      )
      const o = await raw.execute(
        `SELECT TTL(etag) AS ttl FROM ${KEYSPACE}.objects WHERE channel = ? AND path = ? AND pipeline = ?`,
        [key.channel, key.path, key.pipeline],
        { prepare: true, consistency: cassandra.types.consistencies.localQuorum },
      )
      for (const ttl of [c.first()?.get('ttl'), o.first()?.get('ttl')] as Array<number | null>)
        assert.ok(ttl !== null && ttl > 4.5 * HOUR_S && ttl <= 5 * HOUR_S, `TTL ${ttl}`)
    } finally {
      await driver.close()
    }
  })

  it('a node started without the schema fails at start, naming liveorigin schema apply', async () => {
    const missing = `lo_noschema_${randomUUID().slice(0, 8)}`
    const node = await spawnCli(['--config', configFile(missing)], {
      env: { LIVEORIGIN_DELIVERY_WORKERS: '0', LIVEORIGIN_INGEST_STANDBY: 'false' },
    })
    const code = await Promise.race([
      node.exited,
      new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 120_000).unref()),
    ])
    if (code === 'running') node.child.kill('SIGKILL')
    assert.equal(code, 1, node.output())
    assert.match(node.stderr(), new RegExp(`keyspace ${missing} has no table objects, chunks, records`))
    assert.match(node.stderr(), /liveorigin schema apply/)
    const ks = await raw.execute(
      'SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?',
      [missing],
      {
        prepare: true,
      },
    )
    assert.equal(ks.rowLength, 0, 'the node created nothing')
  })
})
