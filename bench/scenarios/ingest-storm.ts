/**
 * Scenario 5 (origin only): ingest latency at rest and during a read storm. Sequential 2 MiB
 * PUTs (as in scenario 3) are timed with the origin idle, then again while the load tool — in
 * its own process (wrk) or worker thread (autocannon), so that it does not share the
 * measuring thread's event loop — hammers the delivery listener with GETs of a cached
 * live-edge segment over many connections. Target: storm p99
 * ≤ 1.5 × rest p99. Runs once per `--mode` (a fresh origin started with that mode's args), so
 * that ways of isolating ingest from delivery can be compared in one run.
 *
 * The control: the same storm served by a neighbour on the same machine (bare node, then
 * nginx, their processes at the niceness of the origin's delivery workers) while the origin's
 * PUTs are timed again. None of those reads touches the origin's processes, so what they cost
 * the PUTs is what the machine's shared cores, kernel and memory cost, not the origin's
 * isolation (docs/benchmarks.md, "Read storm").
 */
import { getPriority, setPriority } from 'node:os'
import type { OriginMode } from '../lib/args.js'
import { groupMembers } from '../lib/child.js'
import { expectStatus } from '../lib/http.js'
import { type LoadResult, runLoad } from '../lib/load.js'
import type { OriginServer } from '../lib/origin.js'
import { formatBytes } from '../lib/progress.js'
import { type Row, row } from '../lib/report.js'
import { type EdgePath, edgePathAt } from '../lib/timing.js'
import { edgeFor, storeEdge } from './edge.js'
import { createPutChannel, measurePuts } from './put.js'
import type { BenchContext, Scenario, ScenarioOutcome } from './types.js'

/** Storm ramp-up before the PUTs start, and quiet margin kept at its end. */
const RAMP_MS = 1500
const TAIL_MS = 2000

type Measured = Awaited<ReturnType<typeof measurePuts>>

interface StormTarget {
  /** Where the storm's GETs go. */
  url: string
  /** Stores every live-edge segment the storm can name in the next `forMs` at `url`. */
  store(edge: EdgePath, forMs: number): Promise<void>
  /** The timed PUTs, given how long they may take. */
  puts(maxMs: number): Promise<Measured>
}

/**
 * A read storm of the moving live edge (see EdgePath: a fixed segment would turn DVR and be
 * shed cheaply, which is not the storm this scenario is about) on `target.url`, and the PUTs
 * timed while it runs.
 */
async function underStorm(
  ctx: BenchContext,
  label: string,
  channel: string,
  target: StormTarget,
): Promise<{ puts: Measured; storm: LoadResult; endedFirst: boolean }> {
  const { options, progress } = ctx
  const edge = edgeFor(ctx, channel)
  await target.store(edge, options.stormSec * 1000 + 20_000)
  const probe = await expectStatus(`${target.url}${edgePathAt(edge, ctx.now())}`, 200)
  progress.begin(`ingest-storm/${label}`, options.stormSec)
  const storm = runLoad({
    url: target.url,
    edge,
    tool: options.loadTool,
    threads: options.wrkThreads,
    answerBytes: probe.bytes + probe.headerBytes,
    connections: options.stormConnections,
    durationSec: options.stormSec,
    maxRequests: options.maxRequests,
    // Rarely: the sampler runs in the thread that times the PUTs.
    sampleEveryMs: 1000,
    expectStatus: 200,
    inWorker: true,
  })
  let ended = false
  // Its failure is thrown below, once the PUTs are done.
  storm.then(
    () => {
      ended = true
    },
    () => {},
  )
  await new Promise((r) => setTimeout(r, RAMP_MS))
  const puts = await target.puts(options.stormSec * 1000 - RAMP_MS - TAIL_MS)
  const endedFirst = ended
  return { puts, storm: await storm, endedFirst }
}

/**
 * Runs `fn` with every process of the server whose process group is `pgid` at `niceness`,
 * then puts them back.
 */
async function atNiceness<T>(pgid: number, niceness: number, fn: () => Promise<T>): Promise<T> {
  const before = new Map<number, number>()
  for (const pid of groupMembers(pgid)) {
    try {
      before.set(pid, getPriority(pid))
      setPriority(pid, niceness)
    } catch {
      // exited while we looked
    }
  }
  try {
    return await fn()
  } finally {
    for (const [pid, n] of before) {
      try {
        setPriority(pid, n)
      } catch {
        // exited
      }
    }
  }
}

/** The highest niceness among an origin's processes: its delivery workers'. */
function deliveryNiceness(o: OriginServer): number {
  let most = 0
  for (const pid of groupMembers(o.pid)) {
    try {
      most = Math.max(most, getPriority(pid))
    } catch {
      // exited while we looked
    }
  }
  return most
}

async function runMode(
  ctx: BenchContext,
  mode: OriginMode,
  o: OriginServer,
  notes: string[],
): Promise<{ rows: Row[]; details: Record<string, unknown> }> {
  const { options, progress } = ctx
  await createPutChannel(ctx, o)
  const count = Math.min(options.putCount, 200)
  const rest = await measurePuts(
    ctx,
    `ingest-storm/${mode.label} at rest`,
    o.ingestUrl,
    `${mode.label}-a`,
    count,
  )

  const own = await underStorm(ctx, `${mode.label} storm`, `bench-storm-${mode.label}`, {
    url: o.deliveryUrl,
    store: async (edge, forMs) => {
      await o.createChannel(`bench-storm-${mode.label}`, {
        segmentDurationMs: edge.template.durationMs,
        availabilityStartTime: edge.template.ast,
        pipelines: ['east'],
      })
      await storeEdge(ctx, o.ingestUrl, edge, forMs)
    },
    puts: (maxMs) =>
      measurePuts(ctx, `ingest-storm/${mode.label} during storm`, o.ingestUrl, `${mode.label}-s`, count, {
        maxMs,
      }),
  })
  const during = own.puts
  const s = own.storm
  progress.log(
    `  storm: ${Math.round(s.reqPerSec)} req/s, ${formatBytes(s.bytesPerSec)}/s over ${options.stormConnections} connections, statuses ${JSON.stringify(s.statusCounts)}`,
  )
  if (own.endedFirst)
    notes.push(`${mode.label}: the storm ended before the last PUT did: the last PUTs ran partly without it`)
  if (during.summary.count < count) {
    notes.push(`${mode.label}: only ${during.summary.count} of ${count} PUTs fit in the storm window`)
  }
  if (s.unexpected > 0)
    notes.push(
      `${mode.label}: storm answers other than 200: ${JSON.stringify(s.statusCounts)}; sampled ${JSON.stringify(s.sampled ?? {})}`,
    )
  const label = ctx.options.modes.length > 1 || mode.label !== 'default' ? ` [${mode.label}]` : ''

  // The control: the same storm on a neighbour, at the niceness of the origin's delivery.
  const niceness = deliveryNiceness(o)
  const neighbourRows: Row[] = []
  const neighbourDetails: Record<string, unknown> = {}
  const neighbours = [
    ['bare node', ctx.bare],
    ['nginx', ctx.nginx],
  ] as const
  for (const [name, server] of neighbours) {
    if (!server) continue
    const tag = name === 'nginx' ? 'n' : 'b'
    const n = await atNiceness(server.pid, niceness, () =>
      underStorm(ctx, `${mode.label} storm on ${name}`, `bench-storm-${mode.label}-${tag}`, {
        url: server.url,
        store: async (edge, forMs) => {
          await storeEdge(ctx, server.url, edge, forMs)
        },
        puts: (maxMs) =>
          measurePuts(
            ctx,
            `ingest-storm/${mode.label} during a storm on ${name}`,
            o.ingestUrl,
            `${mode.label}-${tag}`,
            count,
            { maxMs },
          ),
      }),
    )
    progress.log(
      `  storm on ${name}: ${Math.round(n.storm.reqPerSec)} req/s, ${formatBytes(n.storm.bytesPerSec)}/s`,
    )
    neighbourRows.push(
      row({ metric: `PUT p50 during a storm on ${name}${label}`, unit: 'ms', origin: n.puts.summary.p50 }),
      row({
        metric: `PUT p99 during a storm on ${name}${label}`,
        unit: 'ms',
        origin: n.puts.summary.p99,
        ratio: n.puts.summary.p99 / rest.summary.p99,
        ratioOf: 'storm/rest',
      }),
    )
    neighbourDetails[name] = { puts: n.puts.summary, storm: n.storm, niceness }
  }
  return {
    rows: [
      row({ metric: `PUT p50 at rest${label}`, unit: 'ms', origin: rest.summary.p50 }),
      row({ metric: `PUT p50 during storm${label}`, unit: 'ms', origin: during.summary.p50 }),
      row({ metric: `PUT p99 at rest${label}`, unit: 'ms', origin: rest.summary.p99 }),
      row({
        metric: `PUT p99 during storm${label}`,
        unit: 'ms',
        origin: during.summary.p99,
        ratio: during.summary.p99 / rest.summary.p99,
        ratioOf: 'storm/rest',
        target: { on: 'ratio', op: '<=', value: 1.5 },
      }),
      ...neighbourRows,
      row({
        metric: `storm GETs answered 200${label}`,
        unit: 'req/s',
        origin: s.expectedPerSec,
      }),
      row({
        metric: `storm GETs refused (not 200)${label}`,
        unit: 'req/s',
        origin: s.unexpected / s.durationSec,
      }),
    ],
    details: {
      args: [...ctx.options.originArgs, ...mode.args],
      processes: o.processes,
      rest: rest.summary,
      during: during.summary,
      storm: s,
      neighbours: neighbourDetails,
    },
  }
}

export const ingestStorm: Scenario = {
  id: 'ingest-storm',
  title: 'Ingest PUT latency at rest vs during a delivery read storm',
  spec: 'Ingest p99 during a read storm that saturates delivery ≤ 1.5 × ingest p99 at rest',
  baseline: false,
  neighbours: true,
  async run(ctx): Promise<ScenarioOutcome> {
    if (!ctx.origin) throw new Error(`needs liveorigin: ${ctx.originUnavailable ?? 'not running'}`)
    const rows: Row[] = []
    const details: Record<string, unknown> = {}
    const notes: string[] = []
    for (const mode of ctx.options.modes) {
      // A mode without its own args is the main origin; others get a fresh process each.
      const own = mode.args.length > 0
      const o = own ? await ctx.startOrigin(mode.args) : ctx.origin
      try {
        const r = await runMode(ctx, mode, o, notes)
        rows.push(...r.rows)
        details[mode.label] = r.details
      } finally {
        if (own) await o.stop()
      }
    }
    return { rows, details, notes }
  },
}
