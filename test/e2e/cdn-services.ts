/**
 * Real caches for the CDN end-to-end tests: Varnish (`varnishd -F`, the shipped
 * `deploy/varnish/liveorigin.vcl`) and nginx (the shipped `deploy/nginx/shield.conf`), each a
 * child process on a free loopback port, in a temporary directory, pointed at an origin's
 * delivery listener, and stopped by PID.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CliOrigin, freePort, startCli } from '../helpers/cli.js'
import type { RelayRecord } from './counting-relay.js'

export interface CacheService {
  readonly url: string
  readonly child: ChildProcess
  output(): string
  stop(): Promise<void>
}

function hostPort(url: string): { host: string; port: string } {
  const u = new URL(url)
  return { host: u.hostname, port: u.port }
}

async function waitFor(
  url: string,
  child: ChildProcess,
  out: () => string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`${child.spawnfile} exited with ${child.exitCode}:\n${out()}`)
    try {
      const r = await fetch(url)
      await r.arrayBuffer()
      return
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  throw new Error(`${url} did not answer in ${timeoutMs} ms:\n${out()}`)
}

function run(cmd: string, args: string[], dir: string, url: string): CacheService {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (d) => {
    out += d
  })
  child.stderr!.on('data', (d) => {
    out += d
  })
  return {
    url,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Starts Varnish with the shipped VCL, its backend set to `origin` (a delivery listener URL). */
export async function startVarnish(origin: string): Promise<CacheService> {
  const dir = mkdtempSync(join(tmpdir(), 'liveorigin-varnish-'))
  const { host, port } = hostPort(origin)
  const vcl = readFileSync('deploy/varnish/liveorigin.vcl', 'utf8')
    .replace('.host = "127.0.0.1";', `.host = "${host}";`)
    .replace('.port = "8080";', `.port = "${port}";`)
  writeFileSync(join(dir, 'liveorigin.vcl'), vcl)
  const listen = await freePort()
  const url = `http://127.0.0.1:${listen}`
  const service = run(
    '/usr/sbin/varnishd',
    [
      '-F',
      '-n',
      join(dir, 'n'),
      '-j',
      'none',
      '-a',
      `127.0.0.1:${listen}`,
      '-T',
      'none',
      '-f',
      join(dir, 'liveorigin.vcl'),
      '-s',
      'malloc,128m',
    ],
    dir,
    url,
  )
  await waitFor(`${url}/.well-known/time`, service.child, service.output)
  return service
}

/** Starts nginx with the shipped shield configuration, upstream `origin`. */
export async function startNginx(origin: string): Promise<CacheService> {
  const dir = mkdtempSync(join(tmpdir(), 'liveorigin-nginx-'))
  // nginx's workers run as an unprivileged user when started as root: they must reach the cache.
  chmodSync(dir, 0o755)
  const { host, port } = hostPort(origin)
  const listen = await freePort()
  const shield = readFileSync('deploy/nginx/shield.conf', 'utf8')
    .replace('server 127.0.0.1:8080;', `server ${host}:${port};`)
    .replace('listen 127.0.0.1:8090;', `listen 127.0.0.1:${listen};`)
    .replaceAll('/var/cache/nginx/liveorigin', join(dir, 'cache'))
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'daemon off;',
      'master_process on;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} warn;`,
      'events { worker_connections 4096; }',
      'http {',
      `  access_log off;`,
      `  client_body_temp_path ${join(dir, 'body')};`,
      `  proxy_temp_path ${join(dir, 'proxy')};`,
      `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
      `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
      `  scgi_temp_path ${join(dir, 'scgi')};`,
      shield,
      '}',
      '',
    ].join('\n'),
  )
  const url = `http://127.0.0.1:${listen}`
  const service = run(
    '/usr/sbin/nginx',
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')],
    dir,
    url,
  )
  await waitFor(`${url}/.well-known/time`, service.child, service.output)
  return service
}

/** The counting relay (`counting-relay.ts`) as a child process: one port per tag. */
export interface Relay {
  /** Base URL of each tag's port. */
  readonly urls: Record<string, string>
  records(): Promise<RelayRecord[]>
  stop(): Promise<void>
}

export async function startRelay(origin: string, tags: readonly string[]): Promise<Relay> {
  const ports = await Promise.all(tags.map(() => freePort()))
  const args = ['--import', 'tsx', 'test/e2e/counting-relay.ts', '--origin', origin]
  for (const [i, tag] of tags.entries()) args.push('--listen', `${tag}=${ports[i]}`)
  const dir = mkdtempSync(join(tmpdir(), 'liveorigin-relay-'))
  const service = run(process.execPath, args, dir, '')
  const urls = Object.fromEntries(tags.map((tag, i) => [tag, `http://127.0.0.1:${ports[i]}`]))
  await waitFor(`${urls[tags[0]!]}/__relay/log`, service.child, service.output, 120_000)
  return {
    urls,
    async records() {
      const r = await fetch(`${urls[tags[0]!]}/__relay/log`)
      return (await r.json()) as RelayRecord[]
    },
    stop: () => service.stop(),
  }
}

/** A `liveorigin serve` (from the sources) with its data in a temporary directory. */
export interface TestServe {
  readonly origin: CliOrigin
  /** Stops the origin (SIGTERM, by PID) and removes its directory. */
  stop(): Promise<void>
}

export async function startServe(env: NodeJS.ProcessEnv = {}): Promise<TestServe> {
  const dir = mkdtempSync(join(tmpdir(), 'liveorigin-cdn-'))
  const origin = await startCli(['--data-dir', join(dir, 'data')], env)
  return {
    origin,
    async stop() {
      if (origin.child.exitCode === null && origin.child.signalCode === null) {
        const exited = new Promise((r) => origin.child.once('exit', r))
        origin.child.kill('SIGTERM')
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A running `liveorigin simulate` publishing `channel` to `origin`. */
export interface TestSimulate {
  output(): string
  /** Ends the run (SIGINT, by PID) and waits for the process to exit. */
  stop(): Promise<void>
  /** The channel's config once the simulator created it (AST, start number). */
  config(): Promise<{ availabilityStartTime: number; startNumber: number }>
}

export function startSimulate(origin: CliOrigin, channel: string, args: readonly string[]): TestSimulate {
  const child = spawn(
    process.execPath,
    [
      ...['--import', 'tsx', 'src/cli/main.ts', 'simulate'],
      ...['--ingest', origin.ingest, '--control', origin.control, '--channel', channel],
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let out = ''
  child.stdout!.on('data', (d) => {
    out += d
  })
  child.stderr!.on('data', (d) => {
    out += d
  })
  const exited = new Promise((r) => child.once('close', r))
  return {
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
      await exited
    },
    async config() {
      for (let i = 0; i < 600; i++) {
        const r = await fetch(`${origin.control}/api/v1/channels/${channel}`)
        if (r.status === 200) {
          return ((await r.json()) as { config: { availabilityStartTime: number; startNumber: number } })
            .config
        }
        await r.arrayBuffer()
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error(`the simulator did not create channel ${channel}:\n${out}`)
    },
  }
}
