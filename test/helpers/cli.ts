/**
 * Runs `liveorigin serve` as a child process (from the TypeScript sources) on free loopback
 * ports: `spawnCli` starts it and collects what it prints, `startCli` also waits until it
 * listens.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { waitFor } from './http.js'

/** Ports `freePort` chooses from: below the kernel's ephemeral range and clear of the memcached zones'. */
const PORT_RANGE = { first: 22_000, count: 10_000 }
const handedOut = new Set<number>()

/**
 * A port nothing listens on, for a listener a test starts. Chosen below Linux's ephemeral
 * range (32768–60999), where the OS picks the local port of every outgoing connection: a port
 * the OS handed out as "free" could be taken by any connection on the machine before the
 * origin binds it. Never the same port twice in one test process.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = PORT_RANGE.first + Math.floor(Math.random() * PORT_RANGE.count)
    if (handedOut.has(port) || !(await canListen(port))) continue
    handedOut.add(port)
    return port
  }
  throw new Error(`no free port in ${PORT_RANGE.first}–${PORT_RANGE.first + PORT_RANGE.count - 1}`)
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

export interface CliOrigin {
  child: ChildProcess
  ingest: string
  delivery: string
  control: string
  /** Everything the process printed so far (stdout and stderr). */
  output(): string
  /** What the process printed on stderr so far. */
  stderr(): string
  /** The exit code (null when killed by a signal), once the process has exited. */
  readonly exited: Promise<number | null>
}

export interface SpawnOptions {
  /** Environment variables over this process's own. */
  env?: NodeJS.ProcessEnv
  /** The checkout to run (`src/cli/main.ts` is found from there); this process's by default. */
  cwd?: string
  /** Listener ports; free ones by default. */
  ports?: { ingest: number; delivery: number; control: number }
}

/** Spawns `liveorigin serve <args>` without waiting for anything. */
export async function spawnCli(args: string[], options: SpawnOptions = {}): Promise<CliOrigin> {
  const { ingest, delivery, control } = options.ports ?? {
    ingest: await freePort(),
    delivery: await freePort(),
    control: await freePort(),
  }
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'serve',
      '--ingest-port',
      String(ingest),
      '--delivery-port',
      String(delivery),
      '--control-port',
      String(control),
      ...args,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      ...(options.cwd ? { cwd: options.cwd } : {}),
    },
  )
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  let out = ''
  let err = ''
  child.stdout!.on('data', (d) => {
    out += d
  })
  child.stderr!.on('data', (d) => {
    out += d
    err += d
  })
  const url = (p: number) => `http://127.0.0.1:${p}`
  return {
    child,
    ingest: url(ingest),
    delivery: url(delivery),
    control: url(control),
    output: () => out,
    stderr: () => err,
    exited,
  }
}

/** Spawns `liveorigin serve <args>` and waits until it logs that it listens. */
export async function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  // Generous: on a busy machine start-up (tsx compiling, workers forking) takes long.
  timeoutMs = 120_000,
  cwd?: string,
): Promise<CliOrigin> {
  const origin = await spawnCli(args, {
    // Delivery processes at normal priority unless a test asks: niced, they starve on a busy
    // machine (the test's own client competes with them). No standby ingest process unless a
    // test asks for one: less to start on a busy machine.
    env: {
      LIVEORIGIN_DELIVERY_WORKERS: '0',
      LIVEORIGIN_DELIVERY_NICENESS: '0',
      LIVEORIGIN_INGEST_STANDBY: 'false',
      ...env,
    },
    ...(cwd ? { cwd } : {}),
  })
  const { child } = origin
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`origin did not start in ${timeoutMs} ms:\n${origin.output()}`))
    }, timeoutMs)
    const check = () => {
      if (origin.output().includes('"liveorigin listening"')) {
        clearTimeout(timer)
        child.stdout!.off('data', check)
        resolve()
      }
    }
    child.stdout!.on('data', check)
    origin.exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`origin exited with ${code}:\n${origin.output()}`))
    })
  })
  return origin
}

/** Waits until `/readyz` answers 200: every worker of a multi-process `serve` accepts. */
export async function waitReady(origin: CliOrigin, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    'every worker ready',
    async () =>
      (await fetch(`${origin.control}/readyz`).then(
        (r) => r.status,
        () => 0,
      )) === 200,
    timeoutMs,
  )
}
