/**
 * The multi-process `serve`: readiness that waits for every worker's listener, worker
 * configuration passed over IPC (no token in any worker's environment), the workers' Node.js
 * flags (the heap's initial size added, unless given) and glibc's malloc settings in their
 * environment (unless the supervisor's has some), and a port that
 * cannot be bound reported in one line with exit code 2.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, it } from 'node:test'
import { WORKER_MALLOC_TUNABLES, workerEnv, workerExecArgv } from '../../src/server/serve.js'
import { freePort, spawnCli } from '../helpers/cli.js'

const dataDir = mkdtempSync(join(tmpdir(), 'liveorigin-workers-'))
const children: ChildProcess[] = []
after(() => {
  for (const c of children) c.kill('SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
})

function start(ports: { ingest: number; delivery: number; control: number }, env: Record<string, string>) {
  return spawnCli(['--data-dir', dataDir], { ports, env: { LIVEORIGIN_DELIVERY_WORKERS: '1', ...env } }).then(
    (o) => {
      children.push(o.child)
      return o
    },
  )
}

/** Whether a TCP connection to the port is accepted. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const INGEST_TOKEN = 'east-token-not-in-env'
const CONTROL_TOKEN = 'control-token-not-in-env'

it('/readyz answers 200 only once ingest and every delivery worker accept; no worker environment holds a token', async () => {
  const ports = { ingest: await freePort(), delivery: await freePort(), control: await freePort() }
  const origin = await start(ports, {
    LIVEORIGIN_INGEST_TOKENS: JSON.stringify({ east: INGEST_TOKEN }),
    LIVEORIGIN_CONTROL_TOKEN: CONTROL_TOKEN,
  })
  const answers: number[] = []
  const deadline = Date.now() + 120_000 // as startCli: starting workers from the sources takes long on a busy machine
  for (;;) {
    assert.ok(Date.now() < deadline, `never ready:\n${origin.output()}`)
    const status = await fetch(`http://127.0.0.1:${ports.control}/readyz`).then(
      (r) => r.status,
      () => 0,
    )
    answers.push(status)
    if (status === 200) break
    assert.ok(status === 0 || status === 503, `readyz answered ${status}`)
    await sleep(10)
  }
  // At the first 200, both worker listeners accept connections, and answer.
  assert.equal(await accepts(ports.ingest), true, 'ingest accepts')
  assert.equal(await accepts(ports.delivery), true, 'delivery accepts')
  const put = await fetch(`http://127.0.0.1:${ports.ingest}/ch/v/1.bin`, {
    method: 'PUT',
    body: 'x',
    headers: { Authorization: `Bearer ${INGEST_TOKEN}` },
  })
  assert.equal(put.status, 201, 'the ingest worker got its tokens over IPC')
  assert.equal((await fetch(`http://127.0.0.1:${ports.delivery}/ch/v/1.bin`)).status, 200)
  assert.ok(
    answers.includes(503) || answers.includes(0),
    `readyz was polled before the workers listened: ${answers}`,
  )

  const pids = origin
    .output()
    .split('\n')
    .filter((l) => l.includes('"worker listening"'))
    .map((l) => (JSON.parse(l) as { pid: number }).pid)
  assert.equal(pids.length, 2)
  for (const pid of pids) {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8')
    assert.ok(!env.includes(INGEST_TOKEN), `worker ${pid}'s environment holds the ingest token`)
    assert.ok(!env.includes(CONTROL_TOKEN), `worker ${pid}'s environment holds the control token`)
    assert.ok(!/LIVEORIGIN_(INGEST_TOKENS|CONTROL_TOKEN)=/.test(env))
    // The workers' heap starts with room (docs/overload.md).
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    assert.ok(argv.includes('--initial-old-space-size=64'), `worker ${pid}: ${argv.join(' ')}`)
    // Freed memory stays in the worker for its next chunks (docs/overload.md). glibc, reading
    // the variable at start, may leave a NUL for each ':' in the process's original environment.
    const tunables = process.env.GLIBC_TUNABLES ?? WORKER_MALLOC_TUNABLES
    assert.ok(
      `:${env.replaceAll('\0', ':')}`.includes(`:GLIBC_TUNABLES=${tunables}:`),
      `worker ${pid}: no GLIBC_TUNABLES=${tunables}`,
    )
  }
  origin.child.kill('SIGTERM')
  assert.equal(await origin.exited, 0)
})

for (const role of ['delivery', 'ingest', 'control'] as const) {
  it(`a ${role} port that cannot be bound: one line naming the port, exit 2`, async () => {
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r))
    const taken = (blocker.address() as { port: number }).port
    const ports = {
      ingest: await freePort(),
      delivery: await freePort(),
      control: await freePort(),
      [role]: taken,
    }
    const origin = await start(ports, {})
    const code = await origin.exited
    blocker.close()
    assert.equal(code, 2, origin.output())
    const lines = origin
      .output()
      .split('\n')
      .filter((l) => l.startsWith('liveorigin:'))
    assert.equal(lines.length, 1, origin.output())
    assert.match(lines[0]!, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken} \\(${role}\\)`))
    assert.doesNotMatch(origin.output(), /^\s+at /m, 'no stack trace')
  })
}

it('when the ingest worker dies, the standby ingest worker (started before) takes the port over', async () => {
  const ports = { ingest: await freePort(), delivery: await freePort(), control: await freePort() }
  const origin = await start(ports, { LIVEORIGIN_LOG_LEVEL: 'info' })
  const logLines = () =>
    origin
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map(
        (l) =>
          JSON.parse(l) as { msg: string; pid: number; workerPid?: number; role?: string; standby?: boolean },
      )
  const deadline = Date.now() + 120_000 // as startCli: the standby starts from the sources too, slow on a busy machine
  while (!logLines().some((l) => l.msg === 'standby ingest worker ready') && Date.now() < deadline)
    await sleep(50)
  const standbyPid = logLines().find((l) => l.msg === 'standby ingest worker ready')?.workerPid
  assert.ok(standbyPid, origin.output())
  const active = logLines().find((l) => l.msg === 'worker listening' && l.role === 'ingest')!.pid
  assert.notEqual(active, standbyPid)

  process.kill(active, 'SIGKILL')
  let status = 0
  while (status !== 201 && Date.now() < deadline) {
    status = await fetch(`http://127.0.0.1:${ports.ingest}/ch/v/after.bin`, {
      method: 'PUT',
      body: 'x',
      headers: { 'Pipeline-Id': 'east' },
    }).then(
      (r) => r.status,
      () => 0,
    )
    if (status !== 201) await sleep(5)
  }
  assert.equal(status, 201)
  const takeover = logLines().filter((l) => l.msg === 'worker listening' && l.role === 'ingest')
  assert.equal(
    takeover[takeover.length - 1]!.pid,
    standbyPid,
    'the standby, not a new process, serves ingest',
  )
  assert.equal((await fetch(`http://127.0.0.1:${ports.control}/readyz`)).status, 200)
  // The supervisor's lines about a worker name it apart from the supervisor's own pid and role
  // (JSON.parse keeps the last of two equal keys; other readers keep the first or refuse).
  const died = logLines().find((l) => l.msg === 'ingest worker died; the standby took over') as
    | { pid: number; workerPid?: number; standbyPid?: number }
    | undefined
  assert.deepEqual([died?.workerPid, died?.standbyPid], [active, standbyPid])
  assert.notEqual(died?.pid, active)
  for (const line of origin
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))) {
    for (const key of ['"pid":', '"role":']) assert.ok(line.split(key).length <= 2, `${key} twice in ${line}`)
  }
  origin.child.kill('SIGTERM')
  assert.equal(await origin.exited, 0)
})

it("the workers' heap starts at 64 MiB of old space unless Node.js is given a size of its own", () => {
  assert.deepEqual(workerExecArgv(['--import', 'tsx']), ['--import', 'tsx', '--initial-old-space-size=64'])
  assert.deepEqual(workerExecArgv(['--initial-old-space-size=256']), ['--initial-old-space-size=256'])
  assert.deepEqual(workerExecArgv(['--initial-heap-size=512']), ['--initial-heap-size=512'])
  assert.deepEqual(workerExecArgv(['--max-old-space-size=4096']), [
    '--max-old-space-size=4096',
    '--initial-old-space-size=64',
  ])
})

it("the workers' environment has glibc's malloc settings unless the supervisor's has some, and no setting", () => {
  const env = workerEnv({ PATH: '/usr/bin', LIVEORIGIN_INGEST_TOKENS: '{}' })
  assert.equal(env.GLIBC_TUNABLES, WORKER_MALLOC_TUNABLES)
  assert.match(
    WORKER_MALLOC_TUNABLES,
    /^glibc\.malloc\.mmap_threshold=\d+:glibc\.malloc\.trim_threshold=\d+$/,
  )
  assert.ok('LIVEORIGIN_INGEST_TOKENS' in env && env.LIVEORIGIN_INGEST_TOKENS === undefined)
  // The operator's own value, even an empty one, is inherited as it is.
  assert.ok(!('GLIBC_TUNABLES' in workerEnv({ GLIBC_TUNABLES: '' })))
  assert.ok(!('GLIBC_TUNABLES' in workerEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' })))
})
