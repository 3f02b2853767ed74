#!/usr/bin/env node
// Reads Stryker's JSON report (reports/mutation/mutation.json) and checks every module of
// scripts/mutation-modules.mjs against its threshold. Prints a table module → score, and for
// each module below its threshold the mutants that survived (file:line, mutator, replacement).
// Exit 1 when a module is below its threshold or missing from the report.
// Usage: node scripts/mutation-check.mjs [report.json] [--only=src/a.ts,src/b.ts]
import { readFileSync } from 'node:fs'
import { DEFAULT_THRESHOLD, modules } from './mutation-modules.mjs'

const args = process.argv.slice(2)
const reportPath = args.find((a) => !a.startsWith('--')) ?? 'reports/mutation/mutation.json'
const onlyArg = args.find((a) => a.startsWith('--only='))
const only = onlyArg?.slice('--only='.length).split(',').filter(Boolean)
const report = JSON.parse(readFileSync(reportPath, 'utf8'))

const DETECTED = new Set(['Killed', 'Timeout'])
const UNDETECTED = new Set(['Survived', 'NoCoverage'])
// Ignored (a `// Stryker disable` comment), CompileError and RuntimeError do not count.

/** Score of one file's mutants: detected / (detected + undetected), in percent. */
export function scoreOf(mutants) {
  const count = (s) => mutants.filter((m) => m.status === s).length
  const detected = mutants.filter((m) => DETECTED.has(m.status)).length
  const undetected = mutants.filter((m) => UNDETECTED.has(m.status)).length
  const valid = detected + undetected
  return {
    total: mutants.length,
    killed: count('Killed'),
    timeout: count('Timeout'),
    survived: count('Survived'),
    noCoverage: count('NoCoverage'),
    ignored: count('Ignored'),
    errors: count('CompileError') + count('RuntimeError'),
    score: valid === 0 ? 100 : (100 * detected) / valid,
  }
}

const rows = []
const failures = []
for (const m of modules) {
  if (only && !only.includes(m.file)) continue
  const threshold = m.threshold ?? DEFAULT_THRESHOLD
  const file = report.files[m.file]
  if (!file) {
    rows.push([m.file, '-', '-', '-', '-', '-', '-', `${threshold}`, 'MISSING'])
    failures.push({ module: m.file, why: 'not in the report (was it mutated?)', mutants: [] })
    continue
  }
  const s = scoreOf(file.mutants)
  const ok = s.score >= threshold
  rows.push([
    m.file,
    String(s.total),
    String(s.killed + s.timeout),
    String(s.survived),
    String(s.noCoverage),
    String(s.ignored),
    `${s.score.toFixed(1)} %`,
    `${threshold} %`,
    ok ? 'ok' : 'FAIL',
  ])
  if (!ok) {
    failures.push({
      module: m.file,
      why: `score ${s.score.toFixed(1)} % < ${threshold} %`,
      mutants: file.mutants.filter((x) => UNDETECTED.has(x.status)),
      source: file.source.split('\n'),
    })
  }
}

const header = ['module', 'mutants', 'killed', 'survived', 'no cov', 'ignored', 'score', 'threshold', '']
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
console.log(line(header))
console.log(widths.map((w) => '-'.repeat(w)).join('  '))
for (const r of rows) console.log(line(r))

for (const f of failures) {
  console.log(`\n${f.module}: ${f.why}`)
  for (const x of f.mutants.sort((a, b) => a.location.start.line - b.location.start.line)) {
    const ln = x.location.start.line
    const code = f.source?.[ln - 1]?.trim() ?? ''
    console.log(`  ${f.module}:${ln}:${x.location.start.column} ${x.status} ${x.mutatorName}`)
    console.log(`    - ${code}`)
    if (x.replacement !== undefined) console.log(`    + ${String(x.replacement).split('\n')[0]}`)
  }
}
if (failures.length > 0) {
  console.log(
    `\n${failures.length} module(s) below threshold. Kill the survivors with a unit test, or mark a ` +
      'mutant that cannot change behaviour with `// Stryker disable next-line <Mutator>: <reason>` ' +
      '(see docs/testing.md). HTML report: reports/mutation/mutation.html',
  )
  process.exit(1)
}
console.log('\nall modules at or above their threshold')
