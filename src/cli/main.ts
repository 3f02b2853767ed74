#!/usr/bin/env node
/**
 * The `liveorigin` command: `serve` runs the origin, `simulate` publishes a test channel
 * from several pipelines, `schema` prints or applies the Cassandra schema, `capacity`
 * prints what an event costs, `--help` and `--version` say what they say.
 */
import { readFileSync } from 'node:fs'
import { ConfigError, loadConfig } from '../config/load.js'
import { envName, settings } from '../config/settings.js'
import { isLiveOriginError } from '../errors.js'
import { createLogger } from '../observability/log.js'
import { ListenError } from '../server/listeners.js'
import { serve } from '../server/serve.js'
import { parseServeArgs } from './args.js'

/** The package version, from the nearest liveorigin package.json above this file (dist/ or sources). */
function version(): string {
  for (let dir = new URL('.', import.meta.url); dir.pathname !== '/'; dir = new URL('..', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as {
        name?: string
        version: string
      }
      if (pkg.name === 'liveorigin') return pkg.version
    } catch {
      // Not in this folder: look further up.
    }
  }
  return 'unknown'
}

export function helpText(): string {
  const rows = settings.map((s) => {
    const flag = s.flag ? `${s.flag} ` : ''
    const def = s.default === undefined ? '' : ` (default ${JSON.stringify(s.default)})`
    return `  ${flag}${s.path} / ${envName(s.path)}\n      ${s.doc}${def}`
  })
  return `liveorigin ${version()}: origin server for live video

Usage:
  liveorigin serve [--config file.yaml] [flags]   run the origin
  liveorigin simulate [options]                   publish a test channel (liveorigin simulate --help)
  liveorigin schema print|apply [--config file]   the Cassandra schema: print its CQL, or create/update it
  liveorigin capacity [options]                   what an event costs nodes, Cassandra, memcached (--help)
  liveorigin --help | --version

Settings (YAML key / environment variable; flags win over environment, environment over file):
${rows.join('\n')}
`
}

async function runServe(argv: string[]): Promise<void> {
  const args = parseServeArgs(argv)
  const config = loadConfig({
    file: args.configFile ?? process.env.LIVEORIGIN_CONFIG,
    env: process.env,
    flags: args.flags,
  })
  const log = createLogger(config.log.level, { role: 'main' })
  const running = await serve(config, { log })
  log.info(
    { ports: running.ports, host: config.host, storage: config.storage.driver },
    'liveorigin listening',
  )
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'draining')
    running.close().then(
      () => {
        log.info('stopped')
        process.exit(0)
      },
      (err) => {
        log.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === '--version' || command === '-v') {
    console.log(version())
    return
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(helpText())
    return
  }
  if (command === 'serve') {
    if (rest.includes('--help')) {
      console.log(helpText())
      return
    }
    return runServe(rest)
  }
  if (command === 'simulate') {
    const { runSimulate } = await import('./simulate.js')
    return runSimulate(rest)
  }
  if (command === 'schema') {
    const { runSchema } = await import('./schema.js')
    return runSchema(rest)
  }
  if (command === 'capacity') {
    const { runCapacity } = await import('./capacity.js')
    return runCapacity(rest)
  }
  throw new ConfigError(`unknown command "${command}" (try liveorigin --help)`)
}

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof ConfigError || (err as { code?: string }).code === 'LIVEORIGIN_ERR_BAD_CONFIG') {
    console.error(`liveorigin: ${(err as Error).message}`)
    process.exit(2)
  }
  if (err instanceof ListenError || (err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    console.error(`liveorigin: ${(err as Error).message}`)
    process.exit(2)
  }
  // Storage that cannot serve (unreachable, or without its schema) at start: one line saying why.
  if (isLiveOriginError(err)) {
    console.error(`liveorigin: ${err.message}`)
    process.exit(1)
  }
  console.error(err)
  process.exit(1)
})
