/**
 * Two redundant real ffmpeg encoders (`scripts/encoder.sh`: Debian's ffmpeg, `testsrc2` +
 * `sine`, libx264 + AAC, epoch-locked numbering, HTTP Basic identity `east`/`west`) pushing
 * one channel of a real `liveorigin serve`, for the end-to-end player tests over DASH and HLS:
 * the channel, the encoders started over 3 s apart, the kill, each pipeline's copies of a
 * segment read back (the other pipeline masked) and their `tfdt`, the machine's load.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before } from 'node:test'
import type { Browser } from 'playwright-core'
import { type CliOrigin, startCli } from '../helpers/cli.js'
import {
  launchChromium,
  openPlayer,
  type PageResponse,
  type PlaybackSummary,
  type PlayerName,
  readLog,
  startPageServer,
  summarize,
} from './player-pages.js'

/** D of the channel (ms). */
export const D = 2000
/** One real-time video and one real-time audio input. */
export const SOURCE = [
  ['-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25'],
  ['-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
].flat()
/** The ingest tokens of the two pipelines (`LIVEORIGIN_INGEST_TOKENS`). */
export const TOKENS = { east: 'east-secret-1', west: 'west-secret-2' }
export type PipelineId = keyof typeof TOKENS
/** The renditions `scripts/encoder.sh` makes. */
export const RENDITIONS = ['video', 'audio'] as const

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)))

export interface Proc {
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
  output(): string
}

/** A child process whose stdout and stderr are collected. */
export function run(command: string, args: string[]): Proc {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (d) => {
    out += d
  })
  child.stderr!.on('data', (d) => {
    out += d
  })
  return { child, exited: new Promise((resolve) => child.once('close', resolve)), output: () => out }
}

/** Signals `p` (unless it has exited) and waits for it to exit. */
export async function stop(p: Proc | undefined, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return
  p.child.kill(signal)
  await p.exited
}

/** The `tfdt` of every track fragment of an fMP4 segment. */
export function tfdts(bytes: Buffer): number[] {
  const out: number[] = []
  const walk = (start: number, end: number) => {
    let o = start
    while (o + 8 <= end) {
      let size = bytes.readUInt32BE(o)
      const type = bytes.toString('latin1', o + 4, o + 8)
      let header = 8
      if (size === 1) {
        size = Number(bytes.readBigUInt64BE(o + 8))
        header = 16
      } else if (size === 0) size = end - o
      if (size < header || o + size > end) return
      if (type === 'moof' || type === 'traf') walk(o + header, o + size)
      if (type === 'tfdt') {
        const version = bytes[o + header]
        out.push(
          version === 1 ? Number(bytes.readBigUInt64BE(o + header + 4)) : bytes.readUInt32BE(o + header + 4),
        )
      }
      o += size
    }
  }
  walk(0, bytes.length)
  return out
}

/** The machine's load average, for the printed measurements. */
export function loadAverage(): string {
  const [one, five] = loadavg()
  return `load average ${one!.toFixed(2)} (1 min), ${five!.toFixed(2)} (5 min)`
}

/** Where an encoder's first segment starts (epoch ms) and its number. */
export interface FirstSegment {
  readonly number: number
  readonly at: number
}

/** The processes a test started, to stop whatever happens. */
export interface Started {
  origin?: CliOrigin
  readonly encoders: Proc[]
}

/** What a suite's hooks set up: a scratch folder, the players' page server, Chromium. */
export interface Suite {
  readonly started: Started
  readonly dir: string
  readonly browser: Browser
  /** The page server's base URL. */
  readonly pages: string
}

/**
 * Registers the `before`/`after` hooks of a suite that runs encoders and a player: a scratch
 * folder, the page server and Chromium before; after, every process the suite started
 * stopped and all of it removed. Read the returned object inside the tests.
 */
export function encoderSuite(name: string): Suite {
  const suite = { started: { encoders: [] } as Started } as {
    started: Started
    dir: string
    browser: Browser
    pages: string
  }
  let pageServer: Awaited<ReturnType<typeof startPageServer>> | undefined
  before(async () => {
    suite.dir = mkdtempSync(join(tmpdir(), `liveorigin-${name}-`))
    pageServer = await startPageServer()
    suite.pages = pageServer.url
    suite.browser = await launchChromium()
  })
  after(async () => {
    await stopAll(suite.started)
    await suite.browser?.close()
    await pageServer?.close()
    if (suite.dir) rmSync(suite.dir, { recursive: true, force: true })
  })
  return suite
}

/** A running `liveorigin serve` with a channel pushed by two encoders. */
export interface RedundantChannel {
  readonly origin: CliOrigin
  readonly channel: string
  /** The channel's availabilityStartTime (epoch ms). */
  readonly ast: number
  readonly east: Proc
  readonly west: Proc
  readonly eastFirst: FirstSegment
  readonly westFirst: FirstSegment
}

/**
 * Starts `liveorigin serve` (tokens for east and west), creates `channel` (D, template
 * `$RepresentationID$_$Number$.m4s`, pipelines east then west), starts the east encoder and,
 * over 3 s after its first segment began, the west one. Every process started is pushed onto
 * `started` as soon as it exists, so that the caller can stop it whatever happens.
 */
export async function startRedundantChannel(
  dir: string,
  channel: string,
  started: Started,
): Promise<RedundantChannel> {
  const origin = await startCli(['--data-dir', join(dir, 'data')], {
    LIVEORIGIN_INGEST_TOKENS: JSON.stringify(TOKENS),
  })
  started.origin = origin
  const ast = Math.floor(Date.now() / 1000) * 1000
  const created = await fetch(`${origin.control}/api/v1/channels/${channel}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      segmentDurationMs: D,
      availabilityStartTime: ast,
      media: '$RepresentationID$_$Number$.m4s',
      initialization: 'init_$RepresentationID$.mp4',
      pipelines: ['east', 'west'],
    }),
  })
  assert.equal(created.status, 201, await created.text())
  const ingest = (pipeline: PipelineId) =>
    `${origin.ingest.replace('http://', `http://${pipeline}:${TOKENS[pipeline]}@`)}/${channel}`
  const encoder = (pipeline: PipelineId) => {
    const p = run('bash', [
      'scripts/encoder.sh',
      ...['--url', ingest(pipeline), '--control', origin.control],
      ...['--size', '320x180', '--video-bitrate', '300k', '--'],
      ...SOURCE,
    ])
    started.encoders.push(p)
    return p
  }
  const east = encoder('east')
  const eastFirst = await firstSegment(east)
  // The second encoder starts over 3 s after the first one's ffmpeg.
  await sleep(eastFirst.at + 3200 - Date.now())
  const west = encoder('west')
  const westFirst = await firstSegment(west)
  assert.ok(westFirst.number > eastFirst.number, `east ${eastFirst.number}, west ${westFirst.number}`)
  return { origin, channel, ast, east, west, eastFirst, westFirst }
}

/** When an encoder's first segment starts (epoch ms) and its number, from its start line. */
async function firstSegment(p: Proc): Promise<FirstSegment> {
  for (let i = 0; i < 200; i++) {
    const m = /first segment (\d+) at (\S+) /.exec(p.output())
    if (m) return { number: Number(m[1]), at: Date.parse(m[2]!) }
    if (p.child.exitCode !== null) break
    await sleep(100)
  }
  assert.fail(`encoder did not start:\n${p.output()}`)
}

/** Stops the encoders (SIGKILL) and the origin (SIGTERM) that `startRedundantChannel` started. */
export async function stopAll(started: Started): Promise<void> {
  for (const e of started.encoders) await stop(e, 'SIGKILL')
  const origin = started.origin
  if (origin && origin.child.exitCode === null) {
    const exited = new Promise((r) => origin.child.once('exit', r))
    origin.child.kill('SIGTERM')
    await exited
  }
}

/** The segments both encoders pushed: from west's first to the last east finished before `killedAt`. */
export function commonSegments(
  c: RedundantChannel,
  killedAt: number,
): { lastEast: number; common: number[] } {
  const lastEast = Math.floor((killedAt - c.ast) / D) - 1
  const common: number[] = []
  for (let n = c.westFirst.number; n <= lastEast; n++) common.push(n)
  assert.ok(common.length >= 5, `segments from both pipelines: ${common.join(',')}`)
  return { lastEast, common }
}

/**
 * Reads each pipeline's copies of segments `common` (video and audio) back through delivery,
 * the other pipeline masked, and asserts that both copies of each carry the same single
 * `tfdt`, and that every segment both pushed was compared (two may be missing: the ones
 * being written at west's start and at the kill). Returns how many copies were compared.
 */
export async function assertSameTfdt(c: RedundantChannel, common: readonly number[]): Promise<number> {
  const masks = `${c.origin.control}/api/v1/channels/${c.channel}/masks`
  const copies = async (pipeline: PipelineId, other: PipelineId) => {
    await (await fetch(masks, { method: 'DELETE' })).arrayBuffer()
    const m = await fetch(masks, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ pipeline: other, from: 0 }),
    })
    assert.equal(m.status, 201)
    await m.arrayBuffer()
    const out = new Map<string, number[]>()
    for (const n of common) {
      for (const rendition of RENDITIONS) {
        const r = await fetch(`${c.origin.delivery}/${c.channel}/${rendition}_${n}.m4s`)
        const body = Buffer.from(await r.arrayBuffer())
        if (r.status === 200 && r.headers.get('segment-pipeline') === pipeline)
          out.set(`${rendition} ${n}`, tfdts(body))
      }
    }
    return out
  }
  const fromEast = await copies('east', 'west')
  const fromWest = await copies('west', 'east')
  await (await fetch(masks, { method: 'DELETE' })).arrayBuffer()
  let compared = 0
  for (const [key, t] of fromEast) {
    const w = fromWest.get(key)
    if (!w) continue
    assert.deepEqual(w, t, `tfdt of ${key}: east ${t}, west ${w}`)
    assert.equal(t.length, 1, key)
    compared++
  }
  // Every segment both encoders pushed is compared, video and audio.
  assert.ok(compared >= 2 * common.length - 2, `compared ${compared} of ${2 * common.length}`)
  return compared
}

/**
 * The segments numbered past `lastEast + 1` a page was served: how many per
 * `Segment-Pipeline`, and of which renditions.
 */
export function servedAfter(responses: ReadonlyArray<{ url: string; pipeline: string }>, lastEast: number) {
  const served = new Map<string, number>()
  const renditions = new Set<string>()
  for (const r of responses) {
    const m = /\/(\w+)_(\d+)\.m4s$/.exec(r.url)
    if (!m || Number(m[2]) <= lastEast + 1) continue
    served.set(r.pipeline, (served.get(r.pipeline) ?? 0) + 1)
    renditions.add(m[1]!)
  }
  return { served, renditions }
}

/** What a player did through the kill of the east encoder. */
export interface KillRun {
  readonly killedAt: number
  /** The last segment east finished, and the segments both encoders pushed. */
  readonly lastEast: number
  readonly common: number[]
  readonly summary: PlaybackSummary
  readonly responses: PageResponse[]
  /** Segments numbered past `lastEast + 1` served to the page, per pipeline. */
  readonly served: Map<string, number>
  /** The renditions of those segments. */
  readonly renditions: Set<string>
}

/**
 * Opens `player` on `src` once the channel holds its presentation delay (4·D) of media and a
 * segment more, kills east (SIGKILL) once west has pushed 3 segments and the player has run
 * 15 s, lets it play until 52 s after it was opened, then stops west.
 */
export async function playThroughKill(
  c: RedundantChannel,
  browser: Browser,
  pages: string,
  player: PlayerName,
  src: string,
): Promise<KillRun> {
  await sleep(c.eastFirst.at + 5 * D + D - Date.now())
  const { page, responses } = await openPlayer(browser, pages, player, src, c.origin.delivery)
  const joinedAt = Date.now()
  // East dies once west has been pushing for a while: the rest comes from west alone.
  await sleep(Math.max(c.westFirst.at + 3 * D, joinedAt + 15_000) - Date.now())
  const killedAt = Date.now()
  await stop(c.east, 'SIGKILL')
  await sleep(joinedAt + 52_000 - Date.now())
  const until = Date.now()
  const log = await readLog(page)
  await page.close()
  await stop(c.west, 'SIGINT')
  const { lastEast, common } = commonSegments(c, killedAt)
  return {
    killedAt,
    lastEast,
    common,
    summary: summarize(log, until, c.ast),
    responses,
    ...servedAfter(responses, lastEast),
  }
}

/** The origin's answers to a page, counted by status, and the ones other than 200 by path. */
function answerCounts(responses: readonly PageResponse[]): string {
  const count = (keys: string[]) => {
    const m = new Map<string, number>()
    for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1)
    return [...m].map(([k, v]) => `${v}× ${k}`).join(', ')
  }
  const odd = responses.filter((x) => x.status !== 200)
  return `${count(responses.map((x) => String(x.status)))}${odd.length ? `; not 200: ${count(odd.map((x) => `${x.status} ${new URL(x.url).pathname}`))}` : ''}`
}

/** The measurements of a run, one line each. */
export function describeKillRun(player: string, c: RedundantChannel, r: KillRun, compared: number): string {
  const s = r.summary
  const stallMs = s.stalls.map((x) => x.ms)
  return [
    `east first segment ${c.eastFirst.number}, west ${c.westFirst.number} (started ${c.westFirst.at - c.eastFirst.at} ms later); east killed after segment ${r.lastEast}`,
    `tfdt compared on ${compared} copies (segments ${r.common[0]}–${r.common.at(-1)}, video and audio): all equal`,
    `${player}: playing ${s.startupMs} ms after load; currentTime ${s.firstCurrentTime.toFixed(1)} → ${s.lastCurrentTime.toFixed(1)} s (played ${(s.lastCurrentTime - s.firstCurrentTime).toFixed(1)} s); stalls ${s.stalls.length}${stallMs.length ? ` (${stallMs.join(', ')} ms, max ${Math.max(...stallMs)} ms)` : ''}; waiting→playing ${s.waits.length}; errors ${s.errors.length} (${s.fatalErrors.length} fatal)${s.errors.length ? `: ${[...new Set(s.errors.map((e) => `${e.fatal ? 'fatal ' : ''}${e.message}`))].join(' | ')}` : ''}`,
    `segments after east's last, served by pipeline: ${[...r.served].map(([k, v]) => `${k || '?'} ${v}`).join(', ')} (${[...r.renditions].sort().join(' and ')})`,
    `answers from the origin: ${answerCounts(r.responses)}`,
    loadAverage(),
  ].join('\n')
}

/**
 * The player played before the kill, 45 s and more in all, with no fatal error and no stall
 * longer than one segment, and every segment after east's last came from west, video and
 * audio (a player that played one of them alone would advance its clock all the same).
 */
export function assertPlayedThrough(r: KillRun): void {
  const s = r.summary
  assert.equal(s.fatalErrors.length, 0, JSON.stringify(s.fatalErrors))
  assert.ok(s.playingAt !== null && s.playingAt < r.killedAt, 'the player was playing before the kill')
  assert.ok(
    s.lastCurrentTime - s.firstCurrentTime >= 45,
    `played ${s.lastCurrentTime - s.firstCurrentTime} s`,
  )
  assert.ok(
    s.stalls.every((x) => x.ms <= D),
    `stalls: ${JSON.stringify(s.stalls)}`,
  )
  assert.ok((r.served.get('west') ?? 0) > 0 && r.served.size === 1, JSON.stringify([...r.served]))
  assert.deepEqual([...r.renditions].sort(), ['audio', 'video'], 'renditions played after the kill')
}
