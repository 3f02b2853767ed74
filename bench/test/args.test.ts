import assert from 'node:assert/strict'
import { cpus } from 'node:os'
import { test } from 'node:test'
import { parseBenchArgs, splitArgs } from '../lib/args.js'

const known = ['get-cached', 'put', 'ingest-storm']

test('defaults: all scenarios, 64 connections, one default mode', () => {
  const o = parseBenchArgs([], known)
  assert.deepEqual(o.only, [])
  assert.equal(o.connections, 64)
  assert.equal(o.durationSec, 10)
  assert.deepEqual(o.modes, [{ label: 'default', args: [] }])
  assert.equal(o.nginxWorkers, 'auto')
})

test('--only selects a subset and rejects unknown ids', () => {
  assert.deepEqual(parseBenchArgs(['--only', 'get-cached, put'], known).only, ['get-cached', 'put'])
  assert.throws(() => parseBenchArgs(['--only', 'get-cached,nope'], known), /unknown scenario nope/)
})

test('--mode and --origin-args split like a shell', () => {
  const o = parseBenchArgs(
    [
      '--origin-args',
      '--config "my file.yaml"',
      '--mode',
      'split=--role ingest --role delivery',
      '--mode',
      'plain',
    ],
    known,
  )
  assert.deepEqual(o.originArgs, ['--config', 'my file.yaml'])
  assert.deepEqual(o.modes, [
    { label: 'split', args: ['--role', 'ingest', '--role', 'delivery'] },
    { label: 'plain', args: [] },
  ])
  assert.throws(() => parseBenchArgs(['--mode', 'a=x', '--mode', 'a=y'], known), /given twice/)
})

test('bad numbers and worker counts are refused', () => {
  assert.throws(() => parseBenchArgs(['--duration', '0'], known), /--duration/)
  assert.throws(() => parseBenchArgs(['--connections', 'many'], known), /--connections/)
  assert.throws(() => parseBenchArgs(['--nginx-workers', '0'], known), /--nginx-workers/)
  assert.equal(parseBenchArgs(['--nginx-workers', '2'], known).nginxWorkers, 2)
  assert.throws(() => parseBenchArgs(['--load-tool', 'ab'], known), /--load-tool/)
})

test('bare node workers default to one per core, 0 turns it off; --cpu-prof names its directory', () => {
  const d = parseBenchArgs([], known)
  assert.equal(d.bareWorkers, cpus().length)
  assert.equal(d.cpuProf, false)
  assert.equal(d.profileDir, 'bench/results/profiles')
  assert.equal(parseBenchArgs(['--bare-workers', '0'], known).bareWorkers, 0)
  assert.throws(() => parseBenchArgs(['--bare-workers', 'x'], known), /--bare-workers/)
  assert.equal(d.warmMib, 4096)
  assert.equal(parseBenchArgs(['--warm-mib', '0'], known).warmMib, 0)
  assert.throws(() => parseBenchArgs(['--warm-mib', '-1'], known), /--warm-mib/)
  const p = parseBenchArgs(['--cpu-prof', '--profile-dir', '/tmp/p'], known)
  assert.equal(p.cpuProf, true)
  assert.equal(p.profileDir, '/tmp/p')
})

test('splitArgs keeps quoted empties and refuses unterminated quotes', () => {
  assert.deepEqual(splitArgs(`a  'b c' "" d`), ['a', 'b c', '', 'd'])
  assert.deepEqual(splitArgs('   '), [])
  assert.throws(() => splitArgs('a "b'), /unterminated/)
})
