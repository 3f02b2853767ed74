/**
 * Summarizes V8 CPU profiles (`.cpuprofile`, e.g. from `npm run bench -- --cpu-prof`): for each
 * profile, where the busy time went (Node.js core, liveorigin, dependencies, GC) and the top
 * functions by self time with their file:line, as Markdown to paste in docs.
 *
 * Usage: node --import tsx bench/profile.ts [--top N] <file.cpuprofile | directory>...
 * (docs/benchmarks.md#cpu-profiles)
 */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { renderProfiles } from './lib/profile.js'

const USAGE = `Usage: node --import tsx bench/profile.ts [--top N] <file.cpuprofile | directory>...

Prints, for each profile (every .cpuprofile of a directory), the busy time by category and
the top N functions by self time (default 15), as Markdown.
`

function main(): number {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse()
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const top = Number(values.top ?? 15)
  if (!Number.isInteger(top) || top < 1) {
    process.stderr.write(`--top must be a positive integer, got ${values.top}\n`)
    return 2
  }
  if (positionals.length === 0) {
    process.stderr.write(`no profile given\n\n${USAGE}`)
    return 2
  }
  const files: string[] = []
  for (const p of positionals) {
    if (statSync(p).isDirectory()) {
      for (const name of readdirSync(p).sort()) if (name.endsWith('.cpuprofile')) files.push(join(p, name))
    } else {
      files.push(p)
    }
  }
  if (files.length === 0) {
    process.stderr.write(`no .cpuprofile in ${positionals.join(', ')}\n`)
    return 1
  }
  process.stdout.write(renderProfiles(files, top))
  return 0
}

function parse() {
  return parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  })
}

process.exitCode = main()
