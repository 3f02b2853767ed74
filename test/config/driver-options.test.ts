// The options of each storage driver and of the memcached cache tier are part of the
// configuration schema: a bad one is refused when the configuration loads, with one line
// naming it. Only option checking: no Cassandra or memcached is needed.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ConfigError, loadConfig } from '../../src/config/load.js'
import { settings } from '../../src/config/settings.js'
import { storageDriverNames, storageDrivers } from '../../src/storage/open.js'

const cassandra = { contactPoints: ['127.0.0.1'], localDataCenter: 'dc1' }
const memcached = { zones: [{ name: 'a', servers: ['127.0.0.1:11211'] }], localZone: 'a', timeoutMs: 100 }

function refused(overrides: Record<string, unknown>, message: RegExp): void {
  assert.throws(
    () => loadConfig({ overrides }),
    (err: Error) => {
      assert.ok(err instanceof ConfigError, String(err))
      assert.match(err.message, message)
      assert.ok(!err.message.includes('\n'))
      return true
    },
  )
}

describe('driver options in the configuration', () => {
  it('accepts good options of every driver and of the cache tier, typed', () => {
    const c = loadConfig({
      overrides: {
        'storage.driver': 'cassandra',
        'storage.cassandra': { ...cassandra, replication: { class: 'SimpleStrategy', replicationFactor: 1 } },
        'cache.memcached': memcached,
      },
    })
    assert.deepEqual(c.storage.cassandra?.replication, { class: 'SimpleStrategy', replicationFactor: 1 })
    assert.equal(c.cache.memcached?.timeoutMs, 100)
    assert.equal(loadConfig({ overrides: { 'storage.dataDir': '/tmp/x' } }).storage.dataDir, '/tmp/x')
  })

  it('driver options given again (environment over file) replace the earlier ones whole', () => {
    const dir = mkdtempSync(join(tmpdir(), 'liveorigin-driver-options-'))
    const file = join(dir, 'c.yaml')
    writeFileSync(
      file,
      'storage:\n  driver: cassandra\n  cassandra: { contactPoints: [a], localDataCenter: dc1, port: 9000 }\n',
    )
    const env = { LIVEORIGIN_STORAGE_CASSANDRA: '{"contactPoints":["b"],"localDataCenter":"dc2"}' }
    const c = loadConfig({ file, env })
    assert.deepEqual(c.storage.cassandra, { contactPoints: ['b'], localDataCenter: 'dc2' })
    assert.equal(loadConfig({ file }).storage.cassandra?.port, 9000)
  })

  it('embedded: a bad data directory is refused with its name', () => {
    refused({ 'storage.dataDir': '' }, /^invalid setting storage\.dataDir:/)
  })

  it('cassandra: a bad option is refused with its name', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [
        { ...cassandra, port: 70000 },
        /storage\.cassandra\.port: must be an integer from 1 to 65535, got 70000/,
      ],
      [{ ...cassandra, contactPoints: [] }, /storage\.cassandra\.contactPoints:/],
      [{ ...cassandra, keyspace: 'live-origin' }, /storage\.cassandra\.keyspace: must be a CQL identifier/],
      [
        { ...cassandra, replication: { class: 'LocalStrategy' } },
        /storage\.cassandra\.replication\.class: must be NetworkTopologyStrategy or SimpleStrategy/,
      ],
      [{ ...cassandra, contactPoint: ['x'] }, /storage\.cassandra\.contactPoint: unknown option/],
      [{ localDataCenter: 'dc1' }, /storage\.cassandra\.contactPoints:/],
    ]
    for (const [options, message] of cases)
      refused({ 'storage.driver': 'cassandra', 'storage.cassandra': options }, message)
  })

  it('cassandra: choosing the driver without its options is refused at load', () => {
    refused(
      { 'storage.driver': 'cassandra' },
      /^invalid setting storage\.cassandra: required when storage\.driver is cassandra$/,
    )
  })

  it('memcached: a bad option is refused with its name', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [
        { ...memcached, timeoutMs: 0 },
        /cache\.memcached\.timeoutMs: must be an integer from 1 to 60000, got 0/,
      ],
      [{ ...memcached, localZone: 'b' }, /cache\.memcached\.localZone: must be one of the zone names \(a\)/],
      [
        { ...memcached, zones: [{ name: 'a', servers: ['127.0.0.1'] }] },
        /cache\.memcached\.zones\.0\.servers\.0:/,
      ],
      [{ ...memcached, timeout: 5 }, /cache\.memcached\.timeout: unknown option/],
    ]
    for (const [options, message] of cases) refused({ 'cache.memcached': options }, message)
  })

  it('an unknown driver is refused, naming the drivers there are', () => {
    refused({ 'storage.driver': 'floppy' }, /storage\.driver: .*embedded.*cassandra/)
  })

  it('every setting a driver declares is in the settings table, documented', () => {
    for (const name of storageDriverNames) {
      for (const key of Object.keys(storageDrivers[name].settings)) {
        const s = settings.find((x) => x.path === `storage.${key}`)
        assert.ok(s && s.doc.length > 10, `storage.${key}`)
      }
    }
    assert.ok(settings.find((s) => s.path === 'cache.memcached'))
  })
})
