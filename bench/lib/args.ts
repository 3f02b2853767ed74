/**
 * Command-line options of `npm run bench`.
 */
import { existsSync } from 'node:fs'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import type { LoadTool } from './load.js'
import { WRK_BIN } from './wrk.js'

/** One way of running the origin for the ingest-under-read-storm scenario. */
export interface OriginMode {
  label: string
  args: string[]
}

export interface BenchOptions {
  /** Scenario ids to run; empty = all. */
  only: string[]
  /** Measured seconds per server in a load scenario (split over `rounds`). */
  durationSec: number
  /** Rounds of the comparison scenarios, alternating which server goes first. */
  rounds: number
  warmupSec: number
  /** Load generator of the GET phases. */
  loadTool: LoadTool
  /** wrk threads. */
  wrkThreads: number
  /** Connections for the GET scenarios. */
  connections: number
  /** Request cap per load phase (besides the time bound). */
  maxRequests: number
  /** Measured PUTs in the PUT scenario (and per phase of the storm scenario). */
  putCount: number
  /** Rounds and held GETs per round in the held-release scenario. */
  holdRounds: number
  holdGets: number
  /** Connections of the read storm, and its length in seconds. */
  stormConnections: number
  stormSec: number
  /** Concurrent GETs of the single-flight scenario. */
  flightGets: number
  /** Extra arguments for every origin the harness starts. */
  originArgs: string[]
  /** Modes of the storm scenario, each a fresh origin with `originArgs` + its own args. */
  modes: OriginMode[]
  /** Where the origin keeps its data (default: fresh dir on /dev/shm). */
  originDataParent: string
  nginxWorkers: number | 'auto'
  /** Processes of the bare node:http reference; 0: not run. */
  bareWorkers: number
  /** MiB of memory touched (and freed) before each scenario; 0: none (bench/lib/memory.ts). */
  warmMib: number
  /** Run every origin under `node --cpu-prof`, one profile directory per scenario. */
  cpuProf: boolean
  /** Where the profiles go (`<dir>/<scenario>/`). */
  profileDir: string
  outDir: string
  /** Also rewrite the results block of docs/benchmarks.md. */
  updateDocs: boolean
  /** Exit 1 when a target is missed or a scenario failed. */
  check: boolean
  help: boolean
}

export const USAGE = `Usage: npm run bench -- [options]

Measures liveorigin against an nginx WebDAV origin (PUT/GET from RAM) and a bare node:http
server on this machine and writes bench/results/latest.json and latest.md.

  --only <ids>              comma-separated scenarios (default: all):
                            get-cached, get-future, put, held-release, ll-first-byte,
                            ingest-storm, single-flight
  --duration <s>            measured seconds per server and load scenario (default 10)
  --rounds <n>              rounds per comparison, alternating which server goes
                            first; --duration and --put-count are split over them (default 2)
  --warmup <s>              unmeasured warm-up before each load phase (default 1)
  --connections <n>         connections of the GET scenarios (default 64)
  --load-tool <wrk|autocannon>  load generator of the GET phases (default wrk if
                            installed: autocannon caps far below the servers)
  --wrk-threads <n>         wrk threads (default: number of cores, at most 2)
  --max-requests <n>        request cap per load phase (default 2000000)
  --put-count <n>           measured PUTs per PUT phase (default 300)
  --hold-rounds <n>         held-release and ll-first-byte rounds (default 25)
  --hold-gets <n>           held GETs per round of both (default 16)
  --storm-connections <n>   read-storm connections (default 256)
  --storm-sec <s>           read-storm length (default 12)
  --flight-gets <n>         concurrent GETs of the single-flight scenario (default 5000)
  --origin-args "<args>"    extra arguments for every origin started
  --mode <label>=<args>     a way to run the origin for ingest-storm; repeatable
                            (default: one mode "default" with no extra arguments)
  --origin-data-dir <dir>   parent of the origin's data directory (default /dev/shm)
  --nginx-workers <n|auto>  nginx worker_processes (default auto)
  --bare-workers <n>        processes of the bare node:http reference (default: one
                            per core, as the origin's delivery workers; 0: not run)
  --warm-mib <n>            MiB of memory touched in a child process before each
                            scenario, so that the servers' writes find pages the
                            host has supplied already (default 4096; 0: none)
  --cpu-prof                run the origin under node --cpu-prof, restarted for each
                            scenario; profiles in <profile-dir>/<scenario>/
  --profile-dir <dir>       where --cpu-prof keeps them (default bench/results/profiles)
  --out <dir>               results directory (default bench/results)
  --update-docs             also rewrite the results block in docs/benchmarks.md
  --check                   exit 1 when a target is missed or a scenario fails
  --help                    this text
`

/** Splits a command-line string into arguments (whitespace; single and double quotes). */
export function splitArgs(s: string): string[] {
  const out: string[] = []
  let cur = ''
  let quote: string | undefined
  let has = false
  for (const ch of s) {
    if (quote) {
      if (ch === quote) quote = undefined
      else cur += ch
    } else if (ch === '"' || ch === "'") {
      quote = ch
      has = true
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur)
      cur = ''
      has = false
    } else {
      cur += ch
    }
  }
  if (quote) throw new Error(`unterminated ${quote} in: ${s}`)
  if (has || cur) out.push(cur)
  return out
}

function positive(name: string, v: string | undefined, dflt: number, allowZero = false): number {
  if (v === undefined) return dflt
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0))
    throw new Error(`--${name} must be a positive number, got ${v}`)
  return n
}

/** Parses `argv` (without node and script); throws an Error naming a bad option. */
export function parseBenchArgs(argv: readonly string[], knownScenarios: readonly string[]): BenchOptions {
  const options = {
    only: { type: 'string' },
    duration: { type: 'string' },
    rounds: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    'load-tool': { type: 'string' },
    'wrk-threads': { type: 'string' },
    'max-requests': { type: 'string' },
    'put-count': { type: 'string' },
    'hold-rounds': { type: 'string' },
    'hold-gets': { type: 'string' },
    'storm-connections': { type: 'string' },
    'storm-sec': { type: 'string' },
    'flight-gets': { type: 'string' },
    'origin-args': { type: 'string' },
    mode: { type: 'string', multiple: true },
    'origin-data-dir': { type: 'string' },
    'nginx-workers': { type: 'string' },
    'bare-workers': { type: 'string' },
    'warm-mib': { type: 'string' },
    'cpu-prof': { type: 'boolean' },
    'profile-dir': { type: 'string' },
    out: { type: 'string' },
    'update-docs': { type: 'boolean' },
    check: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  } as const
  // Values such as `--origin-args "--role all"` start with a dash, which parseArgs refuses as
  // a separate argument: glue every string option to its value.
  const glued: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const name = a.startsWith('--') ? a.slice(2) : ''
    if (name in options && options[name as keyof typeof options].type === 'string' && i + 1 < argv.length) {
      glued.push(`${a}=${argv[++i]}`)
    } else {
      glued.push(a)
    }
  }
  const { values } = parseArgs({ args: glued, strict: true, allowPositionals: false, options })
  const only = (values.only ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  for (const id of only) {
    if (!knownScenarios.includes(id)) {
      throw new Error(`--only: unknown scenario ${id} (known: ${knownScenarios.join(', ')})`)
    }
  }
  const modes: OriginMode[] = (values.mode ?? []).map((m) => {
    const eq = m.indexOf('=')
    const label = (eq === -1 ? m : m.slice(0, eq)).trim()
    if (!/^[A-Za-z0-9._-]+$/.test(label)) throw new Error(`--mode: bad label in ${m} (use label=args)`)
    return { label, args: eq === -1 ? [] : splitArgs(m.slice(eq + 1)) }
  })
  const labels = new Set<string>()
  for (const m of modes) {
    if (labels.has(m.label)) throw new Error(`--mode: label ${m.label} given twice`)
    labels.add(m.label)
  }
  const workers = values['nginx-workers'] ?? 'auto'
  if (workers !== 'auto' && !/^[1-9]\d*$/.test(workers)) {
    throw new Error(`--nginx-workers must be auto or a positive integer, got ${workers}`)
  }
  const connections = positive('connections', values.connections, 64)
  const tool = values['load-tool'] ?? (existsSync(WRK_BIN) ? 'wrk' : 'autocannon')
  if (tool !== 'wrk' && tool !== 'autocannon')
    throw new Error(`--load-tool must be wrk or autocannon, got ${tool}`)
  const flightGets = positive('flight-gets', values['flight-gets'], 5000)
  return {
    only,
    durationSec: positive('duration', values.duration, 10),
    rounds: Math.round(positive('rounds', values.rounds, 2)),
    warmupSec: positive('warmup', values.warmup, 1, true),
    loadTool: tool,
    wrkThreads: positive('wrk-threads', values['wrk-threads'], Math.min(2, cpus().length)),
    connections,
    maxRequests: Math.max(connections, positive('max-requests', values['max-requests'], 2_000_000)),
    putCount: positive('put-count', values['put-count'], 300),
    holdRounds: positive('hold-rounds', values['hold-rounds'], 25),
    holdGets: positive('hold-gets', values['hold-gets'], 16),
    stormConnections: positive('storm-connections', values['storm-connections'], 256),
    stormSec: Math.max(4, positive('storm-sec', values['storm-sec'], 12)),
    flightGets,
    originArgs: splitArgs(values['origin-args'] ?? ''),
    modes: modes.length > 0 ? modes : [{ label: 'default', args: [] }],
    originDataParent: values['origin-data-dir'] ?? '/dev/shm',
    nginxWorkers: workers === 'auto' ? 'auto' : Number(workers),
    bareWorkers: Math.round(positive('bare-workers', values['bare-workers'], cpus().length, true)),
    warmMib: Math.round(positive('warm-mib', values['warm-mib'], 4096, true)),
    cpuProf: values['cpu-prof'] ?? false,
    profileDir: values['profile-dir'] ?? 'bench/results/profiles',
    outDir: values.out ?? 'bench/results',
    updateDocs: values['update-docs'] ?? false,
    check: values.check ?? false,
    help: values.help ?? false,
  }
}
