import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, it } from 'node:test'
import { spawnCli, startCli } from '../helpers/cli.js'

const dataDir = mkdtempSync(join(tmpdir(), 'liveorigin-crash-'))
const children: ChildProcess[] = []
after(() => {
  for (const c of children) c.kill('SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
})

it('kill -9 right after a 201 loses nothing: a restart on the same --data-dir serves the object', async () => {
  const body = randomBytes(3 * 1024 * 1024)
  const first = await startCli(['--data-dir', dataDir])
  children.push(first.child)
  const r = await fetch(`${first.ingest}/ch/v/42.m4s`, {
    method: 'PUT',
    body,
    headers: { 'Pipeline-Id': 'east' },
  })
  assert.equal(r.status, 201)
  first.child.kill('SIGKILL')
  await new Promise((resolve) => first.child.once('exit', resolve))

  const second = await startCli(['--data-dir', dataDir])
  children.push(second.child)
  const g = await fetch(`${second.delivery}/ch/v/42.m4s`)
  assert.equal(g.status, 200)
  assert.ok(Buffer.from(await g.arrayBuffer()).equals(body))
  second.child.kill('SIGTERM')
  const code = await new Promise((resolve) => second.child.once('exit', resolve))
  assert.equal(code, 0, 'SIGTERM drains and exits 0')
})

/** Starts `serve` with a setting that start-up refuses; resolves with its exit code and stderr. */
async function refused(args: string[], env: NodeJS.ProcessEnv = {}) {
  const origin = await spawnCli(['--data-dir', dataDir, ...args], { env })
  children.push(origin.child)
  return { code: await origin.exited, stderr: origin.stderr() }
}

it('refuses open ingest on a non-loopback host, in one line naming the setting', async () => {
  const { code, stderr } = await refused(['--host', '0.0.0.0'])
  assert.equal(code, 2)
  assert.match(stderr, /^liveorigin: refusing open ingest .*ingest\.tokens.*--insecure-open-ingest\n$/)
})

it('a bad setting stops start-up with one line naming it', async () => {
  const { code, stderr } = await refused([], { LIVEORIGIN_INGEST_MAX_OBJECT_BYTES: 'lots' })
  assert.equal(code, 2)
  assert.equal(stderr.trim().split('\n').length, 1)
  assert.match(stderr, /LIVEORIGIN_INGEST_MAX_OBJECT_BYTES \(ingest\.maxObjectBytes\): expected an integer/)
})
