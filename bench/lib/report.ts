/**
 * Results of a run: rows of (metric, liveorigin, nginx, bare node, ratios, target), written as JSON for
 * machines (`latest.json`) and as a Markdown table for people (`latest.md`), with the machine
 * note, because numbers from a shared 2-core box mean little without it.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { MachineInfo } from './machine.js'
import { formatBytes } from './progress.js'

/**
 * A target from docs/benchmarks.md, checked against a row's ratio (`ratio`: to nginx, or what
 * `ratioOf` names), its ratio to the bare node:http reference (`ratioBare`), or its liveorigin
 * value (`origin`).
 */
export interface Target {
  on: 'ratio' | 'ratioBare' | 'origin'
  op: '>=' | '<='
  value: number
}

/** Units rows are shown in. */
export type Unit = 'req/s' | 'B/s' | 'ms' | 'count' | 'bytes' | 'x'

export interface Row {
  metric: string
  unit: Unit
  origin?: number
  nginx?: number
  /** The bare node:http reference (bench/bare/server.ts). */
  bare?: number
  /** What the ratio divides, e.g. `origin/nginx`, or `storm/rest`. */
  ratioOf?: string
  ratio?: number
  /** liveorigin / bare node. */
  ratioBare?: number
  target?: Target
  /** Whether the target is met; absent when there is no target or nothing to check. */
  pass?: boolean
  /**
   * Why this run cannot judge the target (the rounds of a server it compares disagreed): the
   * values stand, `pass` is left out and the table says "not judged".
   */
  doubt?: string
}

export interface ScenarioReport {
  id: string
  title: string
  /** The docs/benchmarks.md sentence this scenario measures. */
  spec: string
  rows: Row[]
  /** Raw measurements (load results, latency summaries, status counts…). */
  details: Record<string, unknown>
  notes: string[]
  skipped?: string
  error?: string
  elapsedSec: number
}

export interface BenchReport {
  tool: string
  machine: MachineInfo
  settings: Record<string, unknown>
  servers: Record<string, unknown>
  scenarios: ScenarioReport[]
}

/**
 * Builds a row; computes `ratio` (`origin / nginx` unless given), `ratioBare` (`origin / bare`)
 * and `pass` from the target.
 */
export function row(r: Row): Row {
  const out: Row = { ...r }
  if (out.ratio === undefined && out.origin !== undefined && out.nginx !== undefined && out.nginx !== 0) {
    out.ratio = out.origin / out.nginx
    out.ratioOf ??= 'liveorigin/nginx'
  }
  if (out.ratioBare === undefined && out.origin !== undefined && out.bare !== undefined && out.bare !== 0) {
    out.ratioBare = out.origin / out.bare
  }
  if (out.target && out.doubt === undefined) {
    const v = out.target.on === 'origin' ? out.origin : out[out.target.on]
    if (v !== undefined && Number.isFinite(v)) {
      out.pass = out.target.op === '>=' ? v >= out.target.value : v <= out.target.value
    }
  }
  return out
}

/** Formats a value in its unit for the table. */
export function formatValue(v: number | undefined, unit: Unit): string {
  if (v === undefined || !Number.isFinite(v)) return '—'
  switch (unit) {
    case 'req/s':
      return `${Math.round(v).toLocaleString('en-US')} req/s`
    case 'B/s':
      return `${formatBytes(v)}/s`
    case 'ms':
      return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`
    case 'bytes':
      return formatBytes(v)
    case 'x':
      return `${v.toFixed(2)}×`
    case 'count':
      return Math.round(v).toLocaleString('en-US')
  }
}

function formatTarget(t: Target | undefined, unit: Unit): string {
  if (!t) return ''
  const op = t.op === '>=' ? '≥' : '≤'
  if (t.on === 'ratio') return `ratio ${op} ${t.value}`
  if (t.on === 'ratioBare') return `ratio to bare node ${op} ${t.value}`
  return `${op} ${formatValue(t.value, unit)}`
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

/** The machine note as Markdown bullet points. */
export function renderMachine(m: MachineInfo): string {
  return [
    `- CPU: ${m.cpuModel}, ${m.cores} logical cores`,
    `- Memory: ${formatBytes(m.memoryBytes)}`,
    `- OS: ${m.os}, kernel ${m.kernel}`,
    `- Node.js ${m.node}, nginx ${m.nginx}`,
    `- Date: ${m.date}; load average (1/5/15 min) at start: ${m.loadAverage.join(' / ')}${m.loadAverageEnd ? `, at end: ${m.loadAverageEnd.join(' / ')}` : ''}`,
    ...memoryTouchLine(m),
  ].join('\n')
}

/** How dear touching memory was before each scenario (`--warm-mib`), when it was done. */
function memoryTouchLine(m: MachineInfo): string[] {
  const t = m.memoryTouchMsPerMib
  if (!t || t.length === 0 || !m.warmMib) return []
  const rest = t.slice(1)
  const later =
    rest.length === 0
      ? ''
      : `, ${Math.min(...rest)}–${Math.max(...rest)} ms per MiB before the ${rest.length} others`
  return [
    `- Memory touched before each scenario: ${m.warmMib} MiB, ${t[0]} ms per MiB before the first${later}`,
  ]
}

/** The results as Markdown: machine note, settings, one table, then per-scenario notes. */
export function renderMarkdown(report: BenchReport): string {
  const lines: string[] = []
  lines.push('## Results', '')
  lines.push(renderMachine(report.machine), '')
  const settings = Object.entries(report.settings)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ')
  lines.push(`Settings: ${settings}`, '')
  const servers = Object.entries(report.servers)
    .map(([k, v]) => `- ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('\n')
  if (servers) lines.push(servers, '')
  lines.push(
    '| Scenario | Metric | liveorigin | nginx | bare node | Ratio | Ratio to bare node | Target | Met |',
  )
  lines.push('|---|---|---|---|---|---|---|---|---|')
  for (const s of report.scenarios) {
    if (s.skipped !== undefined || s.error !== undefined) {
      const why = s.error !== undefined ? `error: ${s.error}` : `skipped: ${s.skipped}`
      lines.push(`| ${cell(s.id)} | ${cell(why.split('\n')[0]!.slice(0, 200))} | | | | | | | |`)
      continue
    }
    for (const r of s.rows) {
      const ratio = r.ratio === undefined ? '—' : `${r.ratio.toFixed(2)} (${r.ratioOf ?? 'liveorigin/nginx'})`
      const ratioBare = r.ratioBare === undefined ? '—' : `${r.ratioBare.toFixed(2)} (liveorigin/bare node)`
      const met = r.doubt !== undefined ? 'not judged' : r.pass === undefined ? '' : r.pass ? 'yes' : '**no**'
      const values = [r.origin, r.nginx, r.bare].map((v) => formatValue(v, r.unit)).join(' | ')
      lines.push(
        `| ${cell(s.id)} | ${cell(r.metric)} | ${values} | ${ratio} | ${ratioBare} | ${formatTarget(r.target, r.unit)} | ${met} |`,
      )
    }
  }
  const notes = report.scenarios.filter((s) => s.notes.length > 0)
  if (notes.length > 0) {
    lines.push('', '### Notes', '')
    for (const s of notes) {
      for (const n of s.notes) lines.push(`- ${s.id}: ${n}`)
    }
  }
  return `${lines.join('\n')}\n`
}

/** Writes `latest.json` and `latest.md` into `dir`; returns their paths. */
export function writeReport(report: BenchReport, dir: string): { json: string; md: string } {
  mkdirSync(dir, { recursive: true })
  const json = join(dir, 'latest.json')
  const md = join(dir, 'latest.md')
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`)
  writeFileSync(md, `# liveorigin benchmark: latest run\n\n${renderMarkdown(report)}`)
  return { json, md }
}

/** Marker lines in docs/benchmarks.md between which the latest table is kept. */
export const DOC_MARKERS = ['<!-- bench:results:start -->', '<!-- bench:results:end -->'] as const

/**
 * Replaces the text between the markers of `docFile` with the rendered results. Returns
 * false (and leaves the file alone) when the markers are missing.
 */
export function updateDoc(docFile: string, report: BenchReport): boolean {
  const text = readFileSync(docFile, 'utf8')
  const start = text.indexOf(DOC_MARKERS[0])
  const end = text.indexOf(DOC_MARKERS[1])
  if (start === -1 || end === -1 || end < start) return false
  const body = renderMarkdown(report).replace(/^## Results\n\n/, '')
  const next = `${text.slice(0, start + DOC_MARKERS[0].length)}\n${body}${text.slice(end)}`
  writeFileSync(docFile, next)
  return true
}
