/**
 * The nginx WebDAV baseline: Debian's nginx started with its own config in a temp prefix,
 * serving and storing files on tmpfs (`/dev/shm`), so that PUT and GET hit RAM only.
 *
 * Choices that matter for a fair comparison (documented in docs/benchmarks.md):
 * - `worker_processes` defaults to `auto` (one per core): nginx gets every core, as the
 *   origin does with its ingest/delivery isolation; `workers` overrides it.
 * - `sendfile`, `open_file_cache` (errors cached too, so a missing file costs no syscall
 *   after the first), `access_log off`, unlimited keep-alive requests: nginx at its best.
 * - WebDAV PUT: nginx's dav module always spools the request body to a temp file before
 *   renaming it into place (it forces `request_body_in_file_only` itself), so the temp path
 *   is on the same tmpfs as the root: a PUT is a RAM write plus a rename.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { type Child, keepFileTail, LOG_TAIL_BYTES, startChild, waitFor } from './child.js'
import { onCleanup } from './cleanup.js'
import { LOG_DIR } from './paths.js'
import { freePort } from './ports.js'

/** Path of Debian's nginx binary. */
export const NGINX_BIN = '/usr/sbin/nginx'

export interface NginxOptions {
  /** `worker_processes` value: a number or `auto` (default). */
  workers?: number | 'auto'
  /** Host to listen on (loopback only; default 127.0.0.1). */
  host?: string
  /** Port (default: a free one). */
  port?: number
  /** Parent directory of the tmpfs data directory (default `/dev/shm`). */
  ramDir?: string
}

export interface NginxServer {
  readonly url: string
  readonly port: number
  readonly pid: number
  /** Directory served and written (on tmpfs). */
  readonly root: string
  /** Config file written for this run. */
  readonly configFile: string
  readonly workers: number | 'auto'
  /** Stops nginx (by its master PID) and removes its directories. */
  stop(): Promise<void>
}

/** nginx's version string, e.g. `1.22.1`, or undefined when nginx is not installed. */
export function nginxVersion(bin = NGINX_BIN): string | undefined {
  if (!existsSync(bin)) return undefined
  const r = spawnSync(bin, ['-v'], { encoding: 'utf8' })
  const m = /nginx\/(\S+)/.exec(`${r.stderr}${r.stdout}`)
  return m?.[1]
}

/** Renders the nginx config for one run. Exported for the tests. */
export function nginxConfig(o: {
  prefix: string
  root: string
  bodyTemp: string
  host: string
  port: number
  workers: number | 'auto'
  runAsRoot: boolean
}): string {
  return `# Written by bench/lib/nginx.ts for one benchmark run.
${o.runAsRoot ? 'user root root;\n' : ''}daemon off;
master_process on;
worker_processes ${o.workers};
pid ${o.prefix}/nginx.pid;
error_log ${o.prefix}/error.log warn;

events {
  worker_connections 16384;
}

http {
  access_log off;
  types { video/mp4 m4s mp4; application/dash+xml mpd; }
  default_type application/octet-stream;

  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 75s;
  keepalive_requests 100000000;

  open_file_cache max=100000 inactive=60s;
  open_file_cache_valid 60s;
  open_file_cache_errors on;
  # A 404 is not an error here: without this, each one writes a line to the error log.
  log_not_found off;

  client_max_body_size 64m;
  client_body_buffer_size 4m;
  client_body_in_file_only off;
  client_body_temp_path ${o.bodyTemp};
  proxy_temp_path ${o.prefix}/proxy;
  fastcgi_temp_path ${o.prefix}/fastcgi;
  uwsgi_temp_path ${o.prefix}/uwsgi;
  scgi_temp_path ${o.prefix}/scgi;

  server {
    listen ${o.host}:${o.port};
    root ${o.root};
    location / {
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }
}
`
}

/** Starts nginx and waits until it answers; registers its stop for cleanup. */
export async function startNginx(options: NginxOptions = {}): Promise<NginxServer> {
  if (!existsSync(NGINX_BIN)) {
    throw new Error(`${NGINX_BIN} not found: install it with 'apt-get install -y nginx-light'`)
  }
  const host = options.host ?? '127.0.0.1'
  const workers = options.workers ?? 'auto'
  const port = options.port ?? (await freePort(host))
  const prefix = mkdtempSync(join(tmpdir(), 'liveorigin-bench-nginx-'))
  const ram = mkdtempSync(join(options.ramDir ?? '/dev/shm', 'liveorigin-bench-nginx-'))
  const root = join(ram, 'root')
  const bodyTemp = join(ram, 'body')
  mkdirSync(root)
  mkdirSync(bodyTemp)
  const configFile = join(prefix, 'nginx.conf')
  writeFileSync(
    configFile,
    nginxConfig({ prefix, root, bodyTemp, host, port, workers, runAsRoot: userInfo().uid === 0 }),
  )
  const removeDirs = (): void => {
    rmSync(prefix, { recursive: true, force: true })
    rmSync(ram, { recursive: true, force: true })
  }
  let child: Child
  try {
    child = startChild(NGINX_BIN, ['-p', prefix, '-c', configFile], { logFile: join(prefix, 'stderr.log') })
  } catch (err) {
    removeDirs()
    throw err
  }
  const stop = onCleanup('nginx', async () => {
    // SIGTERM is nginx's fast shutdown; the master takes its workers down with it.
    await child.stop('SIGTERM', 5000)
    try {
      keepFileTail(join(prefix, 'error.log'), join(LOG_DIR, `nginx-${child.pid}-error.log`), LOG_TAIL_BYTES)
    } catch {
      // The log is kept as a courtesy: its directory not being writable does not stop the cleanup.
    }
    removeDirs()
  })
  const url = `http://${host}:${port}`
  try {
    await waitFor(
      async () => {
        const res = await fetch(`${url}/`, { method: 'HEAD' })
        return res.status > 0
      },
      {
        timeoutMs: 10_000,
        giveUp: () => child.hasExited(),
        describe: () => `nginx did not start on ${url}:\n${child.tail()}`,
      },
    )
  } catch (err) {
    await stop()
    throw err
  }
  return { url, port, pid: child.pid, root, configFile, workers, stop }
}
