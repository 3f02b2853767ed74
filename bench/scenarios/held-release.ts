/**
 * Scenario 4 (origin only): held request release. Each round asks for the next segment
 * (N = live edge + 1, inside the hold window) with several concurrent GETs, one connection
 * each, which the origin holds; then the segment is PUT. The measure is the time from the
 * PUT's 2xx reaching the client to each held GET's answer head reaching it (negative: the GET
 * was answered before the PUT's acknowledgement arrived). Answer bodies are not read, so that
 * reading one 2 MiB body does not delay noticing the next answer; rounds of their own, after
 * those, read every answer whole and time its last byte (`wholeRounds`: the few GETs only, as
 * 2,000 bodies are 4 GB). Two variants: a few GETs
 * per round (`--hold-gets`, 16; target p99 ≤ 20 ms) and 2,000 per round (3 rounds; target:
 * all answered ≤ 100 ms after the acknowledgement, p99), after one warm-up round each. The
 * bare node reference is measured the same way in rotating rounds, twice: with the PUT sent
 * to its ingest process, which relays the body to the workers holding the GETs (the origin's
 * shape: ingest in a process of its own), and with the PUT sent to one of those workers,
 * which answers its own waiters at once and relays the body to the other. Either way its
 * workers answer from the PUT's buffer, heads first, with nothing else to do.
 */
import { request } from 'undici'
import { burstGet } from '../lib/burst.js'
import { summarize } from '../lib/percentile.js'
import { type Row, row } from '../lib/report.js'
import { forNumber } from '../lib/segment.js'
import { liveEdge, startedAgo } from '../lib/timing.js'
import { PIPELINE_HEADERS, type Scenario, type ScenarioOutcome } from './types.js'

interface Variant {
  readonly id: string
  readonly title: string
  readonly spec: string
  readonly channel: string
  /** GETs held per round and rounds (undefined: `--hold-gets`, `--hold-rounds`). */
  readonly gets?: number
  readonly rounds?: number
  /** Rounds that read the answers whole, after the measured ones (0: none). */
  readonly wholeRounds: number
  /** Time given to the held GETs to reach the origin before the PUT. */
  readonly settleMs: number
  readonly targetMs: number
}

function heldReleaseScenario(v: Variant): Scenario {
  return {
    id: v.id,
    title: v.title,
    spec: v.spec,
    baseline: false,
    bareReference: true,
    run: (ctx) => runHeldRelease(ctx, v),
  }
}

export const heldRelease = heldReleaseScenario({
  id: 'held-release',
  title: 'Held GETs released by the PUT of the awaited segment',
  spec: 'Held request released ≤ 20 ms (p99) after the PUT is acknowledged',
  channel: 'bench-hold',
  wholeRounds: 10,
  settleMs: 100,
  targetMs: 20,
})

export const heldReleaseMany = heldReleaseScenario({
  id: 'held-release-2000',
  title: '2,000 held GETs released by one PUT',
  spec: '2,000 requests held on one segment all answered ≤ 100 ms (p99) after the acknowledgement',
  channel: 'bench-hold-many',
  gets: 2000,
  rounds: 3,
  wholeRounds: 0,
  // 2,000 connections take longer to open and reach the hold than 16.
  settleMs: 1500,
  targetMs: 100,
})

/** Where a round's GETs and PUT go: the origin, or the bare node reference. */
interface Target {
  /** `bare`: the PUT to bare node's ingest process; `bare-shared`: to one of its workers. */
  readonly name: 'liveorigin' | 'bare' | 'bare-shared'
  readonly host: string
  readonly port: number
  /** Base URL of PUTs. */
  readonly putUrl: string
  readonly putHeaders: Record<string, string>
}

/** What one target's rounds measured. */
interface Measured {
  delays: number[]
  /** From the acknowledgement to the last byte of each answer, in the rounds that read them whole. */
  wholeDelays: number[]
  statusCounts: Record<string, number>
  notHeld: number
  putFailures: number
  early: number
}

async function runHeldRelease(ctx: Parameters<Scenario['run']>[0], v: Variant): Promise<ScenarioOutcome> {
  const o = ctx.origin
  if (!o) throw new Error(`needs liveorigin: ${ctx.originUnavailable ?? 'not running'}`)
  const { progress, options, bare } = ctx
  const gets = v.gets ?? options.holdGets
  const rounds = v.rounds ?? options.holdRounds
  const notes: string[] = []
  const t = startedAgo(ctx.now(), ctx.media.durationMs, 500)
  await o.createChannel(v.channel, {
    segmentDurationMs: t.durationMs,
    availabilityStartTime: t.ast,
    pipelines: ['east'],
  })
  const targets: Target[] = [
    {
      name: 'liveorigin',
      host: new URL(o.deliveryUrl).hostname,
      port: o.ports.delivery,
      putUrl: o.ingestUrl,
      putHeaders: { 'content-type': 'video/mp4', ...PIPELINE_HEADERS },
    },
  ]
  if (bare) {
    await bare.createChannel(v.channel, { segmentDurationMs: t.durationMs, availabilityStartTime: t.ast })
    const url = new URL(bare.url)
    for (const [name, putUrl] of [
      ['bare', bare.ingestUrl],
      ['bare-shared', bare.url],
    ] as const) {
      targets.push({
        name,
        host: url.hostname,
        port: Number(url.port),
        putUrl,
        putHeaders: { 'content-type': 'video/mp4' },
      })
    }
  }
  const nothingYet = (): Measured => ({
    delays: [],
    wholeDelays: [],
    statusCounts: {},
    notHeld: 0,
    putFailures: 0,
    early: 0,
  })
  const measured = new Map<Target['name'], Measured>(targets.map((x) => [x.name, nothingYet()]))
  progress.begin(`${v.id}/${targets.map((x) => x.name).join('+')}`)
  // One round each, not measured, as the load phases have their warm-up: a release runs the
  // same code every segment in service, and the first one a process runs is its coldest.
  for (const target of targets) await heldRound(ctx, v, t, target, 'w', gets, nothingYet())
  // The order rotates, so that none always runs on a machine another one just loaded.
  const orderOf = (round: number) => targets.map((_, i) => targets[(i + round) % targets.length]!)
  for (let round = 0; round < rounds; round++) {
    for (const target of orderOf(round))
      await heldRound(ctx, v, t, target, `r${round}`, gets, measured.get(target.name)!)
    progress.update({ requests: (round + 1) * gets * targets.length, detail: `round ${round + 1}/${rounds}` })
  }
  for (let round = 0; round < v.wholeRounds; round++) {
    for (const target of orderOf(round))
      await heldRound(ctx, v, t, target, `b${round}`, gets, measured.get(target.name)!, true)
    progress.update({
      requests: (rounds + round + 1) * gets * targets.length,
      detail: `whole answers, round ${round + 1}/${v.wholeRounds}`,
    })
  }
  const mine = measured.get('liveorigin')!
  if (mine.delays.length === 0)
    throw new Error(`no held GET was answered with the segment: ${JSON.stringify(mine.statusCounts)}`)
  const s = summarize(mine.delays)
  const summaryOf = (name: Target['name'], of: (m: Measured) => number[] = (m) => m.delays) => {
    const m = measured.get(name)
    return m && of(m).length > 0 ? summarize(of(m)) : undefined
  }
  const theirs = measured.get('bare')
  const b = summaryOf('bare')
  const whole = summaryOf('liveorigin', (m) => m.wholeDelays)
  const bareWhole = summaryOf('bare', (m) => m.wholeDelays)
  const shared = summaryOf('bare-shared')
  progress.end(
    `${s.count} releases, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms` +
      (b ? `; bare node p50 ${b.p50.toFixed(2)} ms, p99 ${b.p99.toFixed(2)} ms` : '') +
      (shared ? `; PUT to a worker p50 ${shared.p50.toFixed(2)} ms, p99 ${shared.p99.toFixed(2)} ms` : ''),
  )
  const whose: Record<Target['name'], string> = {
    liveorigin: '',
    bare: 'bare node: ',
    'bare-shared': 'bare node, PUT to a worker: ',
  }
  for (const [name, m] of measured) {
    const who = whose[name]
    if (m.early > 0) notes.push(`${who}${m.early} GETs answered before the PUT was sent`)
    if (name === 'liveorigin' && m.notHeld > 0)
      notes.push(`${m.notHeld} answers carried no CMSD-Dynamic ht= (not reported as held)`)
    if (m.putFailures > 0) notes.push(`${who}${m.putFailures} PUTs failed`)
    if (Object.keys(m.statusCounts).some((k) => k !== '200'))
      notes.push(`${who}held GETs answered with other statuses: ${JSON.stringify(m.statusCounts)}`)
  }
  if (bare && !b) notes.push('bare node answered no held GET with the segment')
  const rows: Row[] = [
    row({ metric: 'release after PUT ack, p50', unit: 'ms', origin: s.p50, ...(b ? { bare: b.p50 } : {}) }),
    row({
      metric: 'release after PUT ack, p99',
      unit: 'ms',
      origin: s.p99,
      ...(b ? { bare: b.p99 } : {}),
      target: { on: 'origin', op: '<=', value: v.targetMs },
    }),
  ]
  if (whole)
    rows.push(
      row({
        metric: 'whole answer after PUT ack, p50',
        unit: 'ms',
        origin: whole.p50,
        ...(bareWhole ? { bare: bareWhole.p50 } : {}),
      }),
      row({
        metric: 'whole answer after PUT ack, p99',
        unit: 'ms',
        origin: whole.p99,
        ...(bareWhole ? { bare: bareWhole.p99 } : {}),
      }),
    )
  if (shared)
    rows.push(
      row({
        metric: 'release after PUT ack, p50, bare node with the PUT to a worker',
        unit: 'ms',
        bare: shared.p50,
      }),
      row({
        metric: 'release after PUT ack, p99, bare node with the PUT to a worker',
        unit: 'ms',
        bare: shared.p99,
      }),
    )
  return {
    rows,
    details: {
      releaseMs: s,
      ...(whole ? { wholeAnswerMs: whole, wholeRounds: v.wholeRounds } : {}),
      ...(bareWhole ? { bareWholeAnswerMs: bareWhole } : {}),
      ...(b ? { bareReleaseMs: b, bareStatusCounts: theirs!.statusCounts } : {}),
      ...(shared
        ? { bareSharedReleaseMs: shared, bareSharedStatusCounts: measured.get('bare-shared')!.statusCounts }
        : {}),
      statusCounts: mine.statusCounts,
      rounds,
      getsPerRound: gets,
      settleMs: v.settleMs,
    },
    notes,
  }
}

/**
 * One round (`round` names it in the paths) on one target: `gets` held GETs of the next
 * segment, then its PUT. With `whole`, every answer is read to its last byte, whose time goes
 * to `wholeDelays`; otherwise each answer's head is timed (`delays`) and its body not read.
 */
async function heldRound(
  ctx: Parameters<Scenario['run']>[0],
  v: Variant,
  t: ReturnType<typeof startedAgo>,
  target: Target,
  round: string,
  gets: number,
  into: Measured,
  whole = false,
): Promise<void> {
  let n = 0
  let path = ''
  let putStarted = false
  let ackAt = 0
  const burst = await burstGet({
    host: target.host,
    port: target.port,
    count: gets,
    headersOnly: !whole,
    path: () => {
      n = liveEdge(t, ctx.now()) + 1
      path = `/${v.channel}/${target.name}-${round}/${n}.m4s`
      return path
    },
    onSent: async () => {
      await new Promise((r) => setTimeout(r, v.settleMs))
      putStarted = true
      const res = await request(`${target.putUrl}${path}`, {
        method: 'PUT',
        body: forNumber(ctx.media, n),
        headers: target.putHeaders,
      })
      ackAt = performance.now()
      await res.body.text()
      if (res.statusCode < 200 || res.statusCode >= 300) into.putFailures++
    },
  })
  for (const [status, count] of Object.entries(burst.statusCounts)) {
    into.statusCounts[status] = (into.statusCounts[status] ?? 0) + count
  }
  if (whole) {
    // Timed only when every answer was a 200 (an answer's status is not kept with its end).
    const all200 = Object.keys(burst.statusCounts).every((k) => k === '200')
    if (!putStarted) into.early += burst.endedAt.length
    else if (all200) for (const at of burst.endedAt) into.wholeDelays.push(at - ackAt)
    return
  }
  for (const a of burst.answers) {
    if (!/ht=\d/.test(a.headers['cmsd-dynamic'] ?? '')) into.notHeld++
    if (a.status !== 200) continue
    if (!putStarted) into.early++
    else into.delays.push(a.at - ackAt)
  }
}
