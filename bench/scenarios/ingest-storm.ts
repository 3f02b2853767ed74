/**
 * Scenario 5 (origin only): ingest latency at rest and during a read storm. Sequential 2 MiB
 * PUTs (as in scenario 3) are timed with the origin idle, then again while the load tool — in
 * its own process (wrk) or worker thread (autocannon), so that it does not share the
 * measuring thread's event loop — hammers the delivery listener with GETs of a cached
 * live-edge segment over many connections. Target: storm p99
 * ≤ 1.5 × rest p99. Runs once per `--mode` (a fresh origin started with that mode's args), so
 * that ways of isolating ingest from delivery can be compared in one run.
 */
import type { OriginMode } from '../lib/args.js'
import { expectStatus } from '../lib/http.js'
import { type LoadResult, runLoad } from '../lib/load.js'
import type { OriginServer } from '../lib/origin.js'
import { formatBytes } from '../lib/progress.js'
import { type Row, row } from '../lib/report.js'
import { edgePathAt } from '../lib/timing.js'
import { edgeFor, storeEdge } from './edge.js'
import { createPutChannel, measurePuts } from './put.js'
import type { BenchContext, Scenario, ScenarioOutcome } from './types.js'

/** Storm ramp-up before the PUTs start, and quiet margin kept at its end. */
const RAMP_MS = 1500
const TAIL_MS = 2000

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

  // The storm reads the moving live edge (see EdgePath): a fixed segment would turn DVR and be
  // shed cheaply, which is not the storm this scenario is about.
  const edge = edgeFor(ctx, `bench-storm-${mode.label}`)
  await o.createChannel(`bench-storm-${mode.label}`, {
    segmentDurationMs: edge.template.durationMs,
    availabilityStartTime: edge.template.ast,
    pipelines: ['east'],
  })
  await storeEdge(ctx, o.ingestUrl, edge, options.stormSec * 1000 + 20_000)
  const probe = await expectStatus(`${o.deliveryUrl}${edgePathAt(edge, ctx.now())}`, 200)

  progress.begin(`ingest-storm/${mode.label} storm`, options.stormSec)
  const storm = runLoad({
    url: o.deliveryUrl,
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
  let stormResult: LoadResult | undefined
  let stormError: unknown
  storm.then(
    (r) => {
      stormResult = r
    },
    (err) => {
      stormError = err
    },
  )
  await new Promise((r) => setTimeout(r, RAMP_MS))
  const during = await measurePuts(
    ctx,
    `ingest-storm/${mode.label} during storm`,
    o.ingestUrl,
    `${mode.label}-s`,
    count,
    {
      maxMs: options.stormSec * 1000 - RAMP_MS - TAIL_MS,
    },
  )
  const stormDoneBeforePuts = stormResult !== undefined
  await storm.catch(() => {})
  if (stormError !== undefined) throw stormError
  const s = stormResult!
  progress.log(
    `  storm: ${Math.round(s.reqPerSec)} req/s, ${formatBytes(s.bytesPerSec)}/s over ${options.stormConnections} connections, statuses ${JSON.stringify(s.statusCounts)}`,
  )
  if (stormDoneBeforePuts)
    notes.push(`${mode.label}: the storm ended before the last PUT did: the last PUTs ran partly without it`)
  if (during.summary.count < count) {
    notes.push(`${mode.label}: only ${during.summary.count} of ${count} PUTs fit in the storm window`)
  }
  if (s.unexpected > 0)
    notes.push(
      `${mode.label}: storm answers other than 200: ${JSON.stringify(s.statusCounts)}; sampled ${JSON.stringify(s.sampled ?? {})}`,
    )
  const label = ctx.options.modes.length > 1 || mode.label !== 'default' ? ` [${mode.label}]` : ''
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
    },
  }
}

export const ingestStorm: Scenario = {
  id: 'ingest-storm',
  title: 'Ingest PUT latency at rest vs during a delivery read storm',
  spec: 'Ingest p99 during a read storm that saturates delivery ≤ 1.5 × ingest p99 at rest',
  baseline: false,
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
