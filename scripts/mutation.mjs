#!/usr/bin/env node
// `npm run test:mutation`: runs Stryker over the modules of scripts/mutation-modules.mjs, then
// checks each module's score (scripts/mutation-check.mjs).
//   npm run test:mutation                      incremental: reuses scripts/mutation-incremental.json
//   npm run test:mutation -- --full            reruns every mutant and rewrites that file
//   npm run test:mutation -- src/http/names.ts only these modules (no incremental file)
//   npm run test:mutation -- --all             every module, the slow ones too (no incremental file)
import { spawnSync } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { modules, selectedModules } from './mutation-modules.mjs'

const args = process.argv.slice(2)
const full = args.includes('--full')
const all = args.includes('--all')
const picked = args.filter((a) => !a.startsWith('--'))
for (const p of picked) {
  if (!modules.some((m) => m.file === p)) {
    console.error(`${p} is not in scripts/mutation-modules.mjs (${modules.map((m) => m.file).join(', ')})`)
    process.exit(2)
  }
}
const env = { ...process.env }
if (full) env.MUTATION_FULL = '1'
if (all) env.MUTATION_ALL = '1'
if (picked.length > 0) env.MUTATION_MODULES = picked.join(',')

const started = Date.now()
rmSync('reports/mutation/mutation.json', { force: true })
const stryker = spawnSync(process.execPath, ['node_modules/@stryker-mutator/core/bin/stryker.js', 'run'], {
  stdio: 'inherit',
  env,
})
const secs = Math.round((Date.now() - started) / 1000)
console.log(`\nstryker finished in ${secs} s (exit ${stryker.status})`)
if (!existsSync('reports/mutation/mutation.json')) {
  console.error('no report at reports/mutation/mutation.json: Stryker failed before testing mutants')
  process.exit(stryker.status || 1)
}
const checkArgs = [
  'scripts/mutation-check.mjs',
  `--only=${selectedModules(env)
    .map((m) => m.file)
    .join(',')}`,
]
const check = spawnSync(process.execPath, checkArgs, { stdio: 'inherit' })
process.exit(check.status ?? 1)
