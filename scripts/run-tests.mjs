#!/usr/bin/env node
// Runs a test suite with node's test runner: `unit` (test/**, but not e2e or distributed),
// `e2e` (test/e2e/**: real players in Chromium, the simulator), `fuzz` (test/fuzz/**),
// `bench` (bench/test/**: the benchmark's own tools) or `distributed` (test/distributed/**). Test files
// end in `.test.ts`.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const suite = process.argv[2] ?? 'unit'
const roots = {
  unit: ['test'],
  e2e: ['test/e2e'],
  fuzz: ['test/fuzz'],
  distributed: ['test/distributed'],
  bench: ['bench/test'],
}[suite]
if (!roots) {
  console.error(`unknown suite ${suite} (unit | e2e | fuzz | bench | distributed)`)
  process.exit(2)
}
const skipDirs =
  suite === 'unit' ? new Set(['test/e2e', 'test/fuzz', 'test/distributed', 'test/fixtures']) : new Set()

function walk(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) {
      if (!skipDirs.has(p)) walk(p, out)
    } else if (name.endsWith('.test.ts')) out.push(p)
  }
  return out
}

const files = roots.flatMap((r) => walk(r, []))
const extra = process.argv.slice(3)
const args = ['--import', 'tsx', '--test', '--test-concurrency=1', ...extra, ...files]
const r = spawnSync(process.execPath, args, { stdio: 'inherit' })
process.exit(r.status ?? 1)
