/**
 * `npm run bench`: measures liveorigin against an nginx WebDAV origin (PUT/GET from RAM) and a
 * bare node:http server on this machine, in one run with the same load tools, and writes the
 * ratios to
 * bench/results/latest.json and latest.md (docs/benchmarks.md). Progress goes to stderr; the results
 * table to stdout. See docs/benchmarks.md.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { isAbsolute, join, relative } from 'node:path'
import { type BenchOptions, parseBenchArgs, USAGE } from './lib/args.js'
import { type BareServer, startBare } from './lib/bare.js'
import { cleanupAll, cleanupOnSignals } from './lib/cleanup.js'
import { loadAverage, machineInfo } from './lib/machine.js'
import { msPerMib, touchMemory } from './lib/memory.js'
import { type NginxServer, startNginx } from './lib/nginx.js'
import { ensureBuilt, type OriginServer, startOrigin } from './lib/origin.js'
import { LOG_DIR, REPO_ROOT } from './lib/paths.js'
import { nameProfiles, renderProfiles } from './lib/profile.js'
import { createProgress } from './lib/progress.js'
import {
  type BenchReport,
  renderMarkdown,
  type ScenarioReport,
  updateDoc,
  writeReport,
} from './lib/report.js'
import { makeMediaFixture } from './lib/segment.js'
import { wrkVersion } from './lib/wrk.js'
import { scenarios } from './scenarios/index.js'
import type { BenchContext } from './scenarios/types.js'

function autocannonVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(join(REPO_ROOT, 'node_modules', 'autocannon', 'package.json'), 'utf8'),
    )
    return String(pkg.version)
  } catch {
    return '?'
  }
}

async function main(): Promise<number> {
  let options: BenchOptions
  try {
    options = parseBenchArgs(
      process.argv.slice(2),
      scenarios.map((s) => s.id),
    )
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (options.help) {
    process.stdout.write(USAGE)
    return 0
  }
  cleanupOnSignals()
  const progress = createProgress()
  const machine = machineInfo()
  if (options.warmMib > 0) machine.warmMib = options.warmMib
  const chosen = scenarios.filter((s) => options.only.length === 0 || options.only.includes(s.id))
  const runStart = performance.now()
  progress.log(`liveorigin bench: ${chosen.map((s) => s.id).join(', ')}`)
  progress.log(
    `machine: ${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}, nginx ${machine.nginx}`,
  )

  const media = makeMediaFixture()
  progress.log(
    `media: ${media.segment.length} byte segment (${media.mediaBytes} bytes of H.264), D = ${media.durationMs} ms`,
  )

  let nginx: NginxServer | undefined
  const servers: Record<string, unknown> = {}
  if (chosen.some((s) => s.baseline || s.neighbours)) {
    try {
      nginx = await startNginx({ workers: options.nginxWorkers })
      servers.nginx = `pid ${nginx.pid}, worker_processes ${nginx.workers}, root on tmpfs ${nginx.root}`
      progress.log(`nginx: ${nginx.url} (pid ${nginx.pid}, worker_processes ${nginx.workers})`)
    } catch (err) {
      servers.nginx = `not running: ${(err as Error).message}`
      progress.log(`nginx could not start: ${(err as Error).message}`)
    }
  }

  let bare: BareServer | undefined
  if (options.bareWorkers > 0 && chosen.some((s) => s.baseline || s.bareReference || s.neighbours)) {
    try {
      bare = await startBare({ workers: options.bareWorkers })
      servers.bare = `pid ${bare.pid}, ${bare.workers} worker(s), bench/bare/server.ts`
      progress.log(`bare node: ${bare.url} (pid ${bare.pid}, ${bare.workers} workers)`)
    } catch (err) {
      servers.bare = `not running: ${(err as Error).message}`
      progress.log(`bare node could not start: ${(err as Error).message}`)
    }
  }

  let origin: OriginServer | undefined
  let originUnavailable: string | undefined
  // With --cpu-prof, every origin of a scenario writes its profiles to <profileDir>/<scenario>/.
  const profileRoot = isAbsolute(options.profileDir)
    ? options.profileDir
    : join(REPO_ROOT, options.profileDir)
  let profileDir: string | undefined
  const profileFor = (id: string): string => {
    const dir = join(profileRoot, id)
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    return dir
  }
  /** Origins started for the current scenario: their roles by PID name the profiles. */
  const profiled: OriginServer[] = []
  const originOptions = (extra: readonly string[]) => ({
    extraArgs: [...options.originArgs, ...extra],
    ramDir: options.originDataParent,
    ...(profileDir ? { cpuProfDir: profileDir } : {}),
  })
  const launch = async (o: Parameters<typeof startOrigin>[0]): Promise<OriginServer> => {
    const started = await startOrigin(o)
    if (profileDir) profiled.push(started)
    return started
  }
  /** Stops the scenario's origins (profiles are written at exit) and names and summarizes them. */
  const finishProfiles = async (id: string): Promise<void> => {
    if (!profileDir) return
    const roles = new Map<number, string>()
    for (const o of profiled) {
      for (const [pid, role] of o.roles()) roles.set(pid, role)
      await o.stop()
    }
    profiled.length = 0
    const files = nameProfiles(profileDir, roles)
    if (files.length === 0) return
    const summary = join(profileDir, 'summary.md')
    writeFileSync(summary, `# CPU profiles: ${id}\n\n${renderProfiles(files)}`)
    progress.log(
      `  profiles: ${relative(process.cwd(), profileDir)}/ (${files.length}), ${relative(process.cwd(), summary)}`,
    )
  }
  if (options.cpuProf && chosen[0]) profileDir = profileFor(chosen[0].id)
  try {
    const buildNote = ensureBuilt((m) => progress.log(m))
    if (buildNote) progress.log(buildNote)
    origin = await launch(originOptions([]))
    servers.liveorigin = `pid ${origin.pid}, ${origin.processes} process(es), args: ${origin.args.slice(1).join(' ')}`
    progress.log(
      `liveorigin: ingest ${origin.ingestUrl}, delivery ${origin.deliveryUrl}, control ${origin.controlUrl}`,
    )
  } catch (err) {
    originUnavailable = (err as Error).message.split('\n')[0]
    servers.liveorigin = `not running: ${(err as Error).message}`
    progress.log(`liveorigin not available: ${(err as Error).message}`)
  }

  const ctx: BenchContext = {
    options,
    progress,
    media,
    nginx,
    bare,
    get origin() {
      return origin
    },
    originUnavailable,
    startOrigin: (extra) => launch(originOptions(extra)),
    async restartOrigin() {
      if (!origin) throw new Error('no origin to restart')
      const { dataDir, ports } = origin
      await origin.stop({ keepData: true })
      origin = undefined
      // The restarted origin owns the data directory from now on: removed at its stop.
      origin = await launch({ ...originOptions([]), dataDir, ports, removeData: true })
      return origin
    },
    now: () => Date.now(),
  }

  const reports: ScenarioReport[] = []
  for (const [i, s] of chosen.entries()) {
    progress.log(`\n== ${s.id}: ${s.title}`)
    const base = { id: s.id, title: s.title, spec: s.spec }
    const unavailable = s.unavailable?.()
    if (unavailable) {
      reports.push({
        ...base,
        rows: [],
        details: {},
        notes: [],
        skipped: unavailable,
        elapsedSec: 0,
      })
      progress.log(`  skipped: ${unavailable}`)
      continue
    }
    if (options.cpuProf && i > 0 && !originUnavailable) {
      // A fresh origin per scenario: its profile covers that scenario only.
      profileDir = profileFor(s.id)
      try {
        origin = await launch(originOptions([]))
      } catch (err) {
        origin = undefined
        progress.log(`  liveorigin could not restart: ${(err as Error).message}`)
      }
    }
    if (options.warmMib > 0) {
      try {
        const touch = await touchMemory(options.warmMib)
        machine.memoryTouchMsPerMib = [...(machine.memoryTouchMsPerMib ?? []), msPerMib(touch)]
        progress.log(`  touched ${touch.mib} MiB of memory in ${Math.round(touch.ms)} ms (--warm-mib)`)
      } catch (err) {
        progress.log(`  memory not touched: ${(err as Error).message}`)
      }
    }
    const t0 = performance.now()
    if (options.cpuProf && profileDir)
      progress.log(`  liveorigin under --cpu-prof, profiles in ${profileDir}`)
    if (!s.baseline && !origin) {
      reports.push({
        ...base,
        rows: [],
        details: {},
        notes: [],
        skipped: `needs liveorigin: ${originUnavailable}`,
        elapsedSec: 0,
      })
      progress.log(`  skipped: needs liveorigin (${originUnavailable})`)
      continue
    }
    try {
      const outcome = await s.run(ctx)
      reports.push({ ...base, ...outcome, elapsedSec: (performance.now() - t0) / 1000 })
    } catch (err) {
      progress.cancel()
      const message = (err as Error).stack ?? String(err)
      progress.log(`  failed: ${message}`)
      reports.push({
        ...base,
        rows: [],
        details: {},
        notes: [],
        error: (err as Error).message,
        elapsedSec: (performance.now() - t0) / 1000,
      })
    }
    if (options.cpuProf) {
      await finishProfiles(s.id).catch((err) =>
        progress.log(`  profiles of ${s.id} not kept: ${(err as Error).message}`),
      )
      origin = undefined
    }
  }
  progress.close()
  await cleanupAll()
  machine.loadAverageEnd = loadAverage()

  const report: BenchReport = {
    tool: 'liveorigin bench (bench/run.ts)',
    machine,
    settings: {
      durationSec: options.durationSec,
      rounds: options.rounds,
      warmupSec: options.warmupSec,
      loadTool:
        options.loadTool === 'wrk'
          ? `wrk ${wrkVersion() ?? '?'} (${options.wrkThreads} threads)`
          : `autocannon ${autocannonVersion()}`,
      connections: options.connections,
      putCount: options.putCount,
      holdRounds: options.holdRounds,
      holdGets: options.holdGets,
      stormConnections: options.stormConnections,
      stormSec: options.stormSec,
      flightGets: options.flightGets,
      segmentBytes: media.segment.length,
      originArgs: options.originArgs.join(' '),
      modes: options.modes.map((m) => `${m.label}=${m.args.join(' ')}`).join('; '),
      nginxWorkers: options.nginxWorkers,
      bareWorkers: options.bareWorkers,
      warmMib: options.warmMib,
      cpuProf: options.cpuProf,
      elapsedSec: Math.round((performance.now() - runStart) / 100) / 10,
    },
    servers,
    scenarios: reports,
  }
  const outDir = isAbsolute(options.outDir) ? options.outDir : join(REPO_ROOT, options.outDir)
  const files = writeReport(report, outDir)
  process.stdout.write(`\n${renderMarkdown(report)}`)
  process.stderr.write(
    `\nwrote ${relative(process.cwd(), files.json)} and ${relative(process.cwd(), files.md)}; server log tails in ${relative(process.cwd(), LOG_DIR)}/\n`,
  )
  if (options.updateDocs) {
    const doc = join(REPO_ROOT, 'docs', 'benchmarks.md')
    process.stderr.write(
      updateDoc(doc, report) ? `updated ${doc}\n` : `no results markers in ${doc}; left it alone\n`,
    )
  }
  if (options.check) {
    const failed = reports.some((r) => r.error !== undefined || r.rows.some((x) => x.pass === false))
    return failed ? 1 : 0
  }
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  async (err) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`)
    await cleanupAll()
    process.exitCode = 1
  },
)
