import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseServeArgs } from '../../src/cli/args.js'
import { ConfigError, loadConfig } from '../../src/config/load.js'
import { envName, settings } from '../../src/config/settings.js'

const dir = mkdtempSync(join(tmpdir(), 'liveorigin-config-'))
function file(text: string): string {
  const p = join(dir, `${Math.random().toString(36).slice(2)}.yaml`)
  writeFileSync(p, text)
  return p
}

describe('configuration', () => {
  it('has a documented default for every limit', () => {
    const c = loadConfig()
    assert.equal(c.ingest.maxObjectBytes, 64 * 1024 * 1024)
    assert.equal(c.ingest.port, 8081)
    assert.equal(c.delivery.port, 8080)
    assert.equal(c.control.port, 8082)
    assert.equal(c.host, '127.0.0.1')
    assert.deepEqual(c.roles, ['all'])
    assert.equal(c.storage.driver, 'embedded')
    assert.equal(c.storage.dataDir, './data')
    for (const s of settings) assert.ok(s.doc.length > 10, s.path)
  })

  it('flags win over environment, environment over file', () => {
    const f = file(
      'ingest:\n  maxObjectBytes: 1000\n  strictChannels: true\ndelivery:\n  port: 9000\ncache:\n  memoryBytes: 5\n',
    )
    const env = { LIVEORIGIN_INGEST_MAX_OBJECT_BYTES: '2000', LIVEORIGIN_DELIVERY_PORT: '9001' }
    const { flags, configFile } = parseServeArgs([
      '--config',
      f,
      '--delivery-port',
      '9002',
      '--role',
      'ingest',
      '--role',
      'control',
    ])
    const c = loadConfig({ file: configFile, env, flags })
    assert.equal(c.ingest.maxObjectBytes, 2000)
    assert.equal(c.ingest.strictChannels, true)
    assert.equal(c.delivery.port, 9002)
    assert.equal(c.cache.memoryBytes, 5)
    assert.deepEqual(c.roles, ['ingest', 'control'])
  })

  it('reads tokens and storage.inject from YAML and JSON environment values', () => {
    const f = file(
      'ingest:\n  tokens:\n    east: "secret-east"\n    west: { token: "secret-west", channels: [a] }\nstorage:\n  inject: { latencyMs: 20, maxConcurrent: 2 }\n',
    )
    const c = loadConfig({ file: f })
    assert.deepEqual(c.ingest.tokens, {
      east: 'secret-east',
      west: { token: 'secret-west', channels: ['a'] },
    })
    assert.deepEqual(c.storage.inject, { latencyMs: 20, maxConcurrent: 2 })
    const e = loadConfig({ env: { LIVEORIGIN_INGEST_TOKENS: '{"east":"12345678"}' } })
    assert.deepEqual(e.ingest.tokens, { east: '12345678' })
  })

  it('names the bad setting in one line', () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [() => loadConfig({ file: file('ingest:\n  maxObjectBytes: -1\n') }), /ingest\.maxObjectBytes/],
      [
        () => loadConfig({ file: file('ingest:\n  maxObjectByte: 1\n') }),
        /unknown setting ingest\.maxObjectByte/,
      ],
      [() => loadConfig({ file: file('storage:\n  driver: floppy\n') }), /storage\.driver/],
      [() => loadConfig({ file: join(dir, 'missing.yaml') }), /missing\.yaml: ENOENT/],
      [
        () => loadConfig({ env: { LIVEORIGIN_INGEST_STRICT_CHANNELS: 'maybe' } }),
        /LIVEORIGIN_INGEST_STRICT_CHANNELS/,
      ],
      [() => parseServeArgs(['--delivery-port', 'x']), /--delivery-port \(delivery\.port\)/],
      [() => parseServeArgs(['--nope']), /nope/],
    ]
    for (const [fn, re] of cases) {
      assert.throws(fn, (err: Error) => {
        assert.ok(err instanceof ConfigError)
        assert.match(err.message, re)
        assert.ok(!err.message.includes('\n'))
        return true
      })
    }
  })

  it('maps every setting to a LIVEORIGIN_ variable', () => {
    assert.equal(envName('ingest.maxObjectBytes'), 'LIVEORIGIN_INGEST_MAX_OBJECT_BYTES')
    assert.equal(envName('storage.dataDir'), 'LIVEORIGIN_STORAGE_DATA_DIR')
    assert.equal(envName('host'), 'LIVEORIGIN_HOST')
  })
})
