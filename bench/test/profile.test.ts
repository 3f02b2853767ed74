// CPU profiles from real `node --cpu-prof` runs: self time by function and file:line, by
// category, and the origin's profiles named by the role of their process.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { ensureBuilt, rolesFromLog, startOrigin } from '../lib/origin.js'
import { nameProfiles, readProfile, renderProfileSummary, summarizeProfile } from '../lib/profile.js'

const dir = mkdtempSync(join(tmpdir(), 'bench-profile-test-'))
after(() => rmSync(dir, { recursive: true, force: true }))

test('a busy function is found with its file:line and most of the busy time', () => {
  const script = join(dir, 'spin.mjs')
  writeFileSync(
    script,
    [
      'function spinHard(ms) {',
      '  const end = Date.now() + ms',
      '  let x = 0',
      '  while (Date.now() < end) x += Math.sqrt(x + 1)',
      '  return x',
      '}',
      'spinHard(600)',
      '',
    ].join('\n'),
  )
  const out = join(dir, 'spin')
  const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', out, script], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  const [file] = readdirSync(out)
  const s = summarizeProfile(readProfile(join(out, file!)))
  assert.ok(s.durationMs >= 550, `profiled ${s.durationMs} ms`)
  assert.ok(s.busyMs <= s.durationMs)
  const top = s.functions[0]!
  assert.equal(top.name, 'spinHard')
  assert.equal(top.location, `${script}:1`)
  assert.equal(top.category, 'other')
  assert.ok(top.selfMs > 0.5 * s.busyMs, `spinHard ${top.selfMs} of ${s.busyMs} ms`)
  // The functions' self times add up to the busy time.
  const total = s.functions.reduce((a, f) => a + f.selfMs, 0)
  assert.ok(Math.abs(total - s.busyMs) < 0.01, `${total} vs ${s.busyMs}`)
  const md = renderProfileSummary('spin', s, 3)
  assert.match(md, /\| `spinHard` \| .*spin\.mjs:1 \| \d+ \| \d+\.\d % \|/)
  assert.equal(md.split('\n').filter((l) => l.startsWith('| `')).length, 3)
})

test('roles come from the origin log, the standby from the supervisor line', () => {
  const log = [
    '{"level":30,"pid":100,"role":"main","msg":"liveorigin listening"}',
    '{"level":30,"pid":101,"role":"ingest","port":1,"msg":"worker listening"}',
    '{"level":30,"pid":102,"role":"delivery","port":2,"msg":"worker listening"}',
    '{"level":30,"pid":100,"role":"main","workerPid":103,"msg":"standby ingest worker ready"}',
    'not json, worker listening',
  ].join('\n')
  assert.deepEqual([...rolesFromLog(log, 100)].sort(), [
    [100, 'supervisor'],
    [101, 'ingest'],
    [102, 'delivery'],
    [103, 'ingest-standby'],
  ])
})

test('an origin under --cpu-prof leaves one profile per process, named by role', {
  timeout: 120_000,
}, async () => {
  ensureBuilt()
  const profiles = join(dir, 'origin')
  const o = await startOrigin({ cpuProfDir: profiles, extraArgs: ['--delivery-workers', '1'] })
  for (let i = 0; i < 50; i++) {
    const res = await fetch(`${o.deliveryUrl}/nochannel/v/${i}.m4s`)
    await res.arrayBuffer()
    assert.equal(res.status, 404)
  }
  const supervisor = o.pid
  await o.stop()
  const roles = o.roles()
  assert.equal(roles.get(supervisor), 'supervisor')
  const files = nameProfiles(profiles, roles)
  const names = files.map((f) => f.slice(profiles.length + 1))
  assert.ok(names.includes(`supervisor-${supervisor}.cpuprofile`), names.join(', '))
  assert.equal(names.filter((n) => /^ingest-\d+\.cpuprofile$/.test(n)).length, 1, names.join(', '))
  const delivery = names.filter((n) => /^delivery-\d+\.cpuprofile$/.test(n))
  assert.equal(delivery.length, 1, names.join(', '))
  // The delivery worker's profile maps our code back to the TypeScript sources.
  const s = summarizeProfile(JSON.parse(readFileSync(join(profiles, delivery[0]!), 'utf8')))
  assert.ok(s.byCategory.liveorigin > 0)
  assert.ok(
    s.functions.some((f) => f.category === 'liveorigin' && /^src\/.+\.ts:\d+$/.test(f.location)),
    'a liveorigin function located in src/**.ts',
  )
})
