/**
 * Reading V8 CPU profiles (`node --cpu-prof`, `.cpuprofile`): self time per function by
 * file:line (mapped back to `src/**.ts` through the build's source maps), and the share of
 * the busy time spent in Node.js's own code, in liveorigin's, in dependencies and in the
 * garbage collector. `bench/profile.ts` prints it; `--cpu-prof` runs keep a summary per
 * scenario (docs/benchmarks.md#cpu-profiles).
 */
import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs'
import { SourceMap } from 'node:module'
import { basename, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { REPO_ROOT } from './paths.js'

/** The parts of a `.cpuprofile` this module reads. */
export interface CpuProfile {
  nodes: Array<{
    id: number
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }
    children?: number[]
  }>
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** Where self time goes. */
export type Category = 'node' | 'liveorigin' | 'dependencies' | 'gc' | 'program' | 'native' | 'other' | 'idle'

export const CATEGORY_LABELS: Record<Category, string> = {
  node: 'Node.js core (node:* — http, net, streams, timers)',
  liveorigin: 'liveorigin (src/)',
  dependencies: 'dependencies (node_modules/)',
  gc: 'garbage collector',
  program: 'V8/libuv outside JavaScript ((program))',
  native: 'native code without a JavaScript caller',
  other: 'other scripts',
  idle: 'idle',
}

export interface FunctionTime {
  name: string
  /** `src/delivery/handler.ts:123`, `node:_http_outgoing:456`, … */
  location: string
  category: Category
  selfMs: number
}

export interface ProfileSummary {
  /** Time covered by the samples (from the first sample to the end of the profile). */
  durationMs: number
  /** Every sample but `(idle)`. */
  busyMs: number
  samples: number
  byCategory: Record<Category, number>
  /** Self time per function, highest first. */
  functions: FunctionTime[]
}

function categoryOfUrl(url: string): Category | undefined {
  if (url === '') return undefined
  if (url.startsWith('node:')) return 'node'
  if (url.includes('/node_modules/')) return 'dependencies'
  if (url.includes('/src/')) return 'liveorigin'
  return 'other'
}

/** Repository-relative when inside the repository, absolute otherwise. */
function shortPath(file: string): string {
  const r = relative(REPO_ROOT, file)
  return r.startsWith('..') ? file : r
}

const mapCache = new Map<string, SourceMap | null>()

function sourceMapOf(file: string): SourceMap | null {
  let map = mapCache.get(file)
  if (map === undefined) {
    map = null
    try {
      if (existsSync(`${file}.map`)) map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')))
    } catch {
      // no usable map: the built file's own line is shown
    }
    mapCache.set(file, map)
  }
  return map
}

/**
 * A script location as people read it: repository-relative, the TypeScript source line when
 * the built file has a source map, 1-based lines.
 */
export function locate(url: string, lineNumber: number, columnNumber: number): string {
  if (url === '') return ''
  if (!url.startsWith('file:')) return `${url}:${lineNumber + 1}`
  const file = fileURLToPath(url)
  const map = sourceMapOf(file)
  const entry = map?.findEntry(lineNumber, columnNumber) as
    | { originalSource?: string; originalLine?: number }
    | undefined
  if (entry?.originalSource !== undefined && entry.originalLine !== undefined) {
    const source = entry.originalSource.startsWith('file:')
      ? fileURLToPath(entry.originalSource)
      : join(file, '..', entry.originalSource)
    return `${shortPath(source)}:${entry.originalLine + 1}`
  }
  return `${shortPath(file)}:${lineNumber + 1}`
}

/**
 * Self time per function and per category. A native frame (no script) counts for the
 * category of the JavaScript that called it, e.g. a socket write under `node:net` is
 * Node.js's time.
 */
export function summarizeProfile(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const categoryCache = new Map<number, Category>()
  const categoryOf = (id: number): Category => {
    const cached = categoryCache.get(id)
    if (cached) return cached
    const n = byId.get(id)!
    const name = n.callFrame.functionName
    let c: Category
    if (name === '(idle)') c = 'idle'
    else if (name === '(garbage collector)') c = 'gc'
    else if (name === '(program)') c = 'program'
    else {
      const p = parent.get(id)
      const pNode = p === undefined ? undefined : byId.get(p)
      c =
        categoryOfUrl(n.callFrame.url) ??
        (pNode === undefined || pNode.callFrame.functionName === '(root)' ? 'native' : categoryOf(p!))
    }
    categoryCache.set(id, c)
    return c
  }

  const selfUs = new Map<number, number>()
  let t = profile.startTime
  const times: number[] = []
  for (const d of profile.timeDeltas) {
    t += d
    times.push(t)
  }
  for (let i = 0; i < profile.samples.length; i++) {
    const next = i + 1 < times.length ? times[i + 1]! : profile.endTime
    const dt = Math.max(0, next - times[i]!)
    const id = profile.samples[i]!
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt)
  }

  const byCategory = Object.fromEntries(Object.keys(CATEGORY_LABELS).map((k) => [k, 0])) as Record<
    Category,
    number
  >
  const functions = new Map<string, FunctionTime>()
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!
    const category = categoryOf(id)
    byCategory[category] += us / 1000
    if (category === 'idle') continue
    const { functionName, url, lineNumber, columnNumber } = n.callFrame
    const name = functionName || '(anonymous)'
    const location = locate(url, lineNumber, columnNumber)
    const key = `${name}\u0000${location}`
    const f = functions.get(key) ?? { name, location, category, selfMs: 0 }
    f.selfMs += us / 1000
    functions.set(key, f)
  }
  const durationMs = Object.values(byCategory).reduce((a, b) => a + b, 0)
  return {
    durationMs,
    busyMs: durationMs - byCategory.idle,
    samples: profile.samples.length,
    byCategory,
    functions: [...functions.values()].sort((a, b) => b.selfMs - a.selfMs),
  }
}

function pct(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : '—'
}

/** The summary as Markdown: the busy time by category, then the `top` functions by self time. */
export function renderProfileSummary(title: string, s: ProfileSummary, top = 15): string {
  const lines = [
    `#### ${title}`,
    '',
    `${(s.durationMs / 1000).toFixed(1)} s profiled, ${(s.busyMs / 1000).toFixed(2)} s busy (${pct(s.busyMs, s.durationMs)}), ${s.samples} samples.`,
    '',
    '| Where the busy time went | ms | share |',
    '|---|---|---|',
  ]
  const categories = (Object.keys(CATEGORY_LABELS) as Category[])
    .filter((c) => c !== 'idle' && s.byCategory[c] > 0)
    .sort((a, b) => s.byCategory[b] - s.byCategory[a])
  for (const c of categories) {
    lines.push(
      `| ${CATEGORY_LABELS[c]} | ${s.byCategory[c].toFixed(0)} | ${pct(s.byCategory[c], s.busyMs)} |`,
    )
  }
  lines.push('', '| Function (self time) | Where | ms | share |', '|---|---|---|---|')
  for (const f of s.functions.slice(0, top)) {
    const where =
      f.location ||
      (f.category === 'gc' || f.category === 'program' ? '—' : `native, called from ${f.category}`)
    lines.push(
      `| \`${f.name.replace(/\|/g, '\\|')}\` | ${where} | ${f.selfMs.toFixed(0)} | ${pct(f.selfMs, s.busyMs)} |`,
    )
  }
  return `${lines.join('\n')}\n`
}

/** Reads a `.cpuprofile` file. */
export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
}

/**
 * Renames the profiles Node.js wrote into `dir` (`CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile`)
 * to `<role>-<pid>.cpuprofile`, the role from `roles` (unknown PIDs: `process`). Returns the
 * new paths.
 */
export function nameProfiles(dir: string, roles: ReadonlyMap<number, string>): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const m = /^CPU\.\d+\.\d+\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(name)
    if (!m) {
      if (name.endsWith('.cpuprofile')) out.push(join(dir, name))
      continue
    }
    const pid = Number(m[1])
    const target = join(dir, `${roles.get(pid) ?? 'process'}-${pid}.cpuprofile`)
    renameSync(join(dir, name), target)
    out.push(target)
  }
  return out
}

/** The summaries of every profile in `files`, busiest first, as one Markdown text. */
export function renderProfiles(files: readonly string[], top = 15): string {
  const summaries = files.map((f) => ({ f, s: summarizeProfile(readProfile(f)) }))
  summaries.sort((a, b) => b.s.busyMs - a.s.busyMs)
  return summaries.map(({ f, s }) => renderProfileSummary(basename(f), s, top)).join('\n')
}
