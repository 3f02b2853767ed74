/**
 * Runs `liveorigin serve` as a child process (from the TypeScript sources) on free loopback
 * ports and waits until it listens.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

export interface CliOrigin {
  child: ChildProcess
  ingest: string
  delivery: string
  control: string
  /** Everything the process printed so far. */
  output(): string
}

export async function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  // Generous: on a busy machine start-up (tsx compiling, workers forking) takes long.
  timeoutMs = 120_000,
): Promise<CliOrigin> {
  const [ingest, delivery, control] = [await freePort(), await freePort(), await freePort()]
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
      // Delivery processes at normal priority unless a test asks: niced, they starve on a busy
      // machine (the test's own client competes with them). No standby ingest process unless a
      // test asks for one: less to start on a busy machine.
      env: {
        ...process.env,
        LIVEORIGIN_DELIVERY_WORKERS: '0',
        LIVEORIGIN_DELIVERY_NICENESS: '0',
        LIVEORIGIN_INGEST_STANDBY: 'false',
        ...env,
      },
    },
  )
  let out = ''
  child.stdout!.on('data', (d) => {
    out += d
  })
  child.stderr!.on('data', (d) => {
    out += d
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`origin did not start in ${timeoutMs} ms:\n${out}`))
    }, timeoutMs)
    const check = () => {
      if (out.includes('"liveorigin listening"')) {
        clearTimeout(timer)
        child.stdout!.off('data', check)
        resolve()
      }
    }
    child.stdout!.on('data', check)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`origin exited with ${code}:\n${out}`))
    })
  })
  const url = (p: number) => `http://127.0.0.1:${p}`
  return { child, ingest: url(ingest), delivery: url(delivery), control: url(control), output: () => out }
}
