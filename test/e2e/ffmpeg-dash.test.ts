/**
 * Real ffmpeg encoders (Debian's ffmpeg, `testsrc2` + `sine`, libx264 + AAC) pushing live
 * channels to a real `liveorigin serve` over PUT:
 *
 * - ffmpeg's own DASH muxer with no custom header, in open mode: every object it stores is
 *   pipeline `default`.
 * - Two redundant encoders (`scripts/encoder.sh`, epoch-locked numbering) with HTTP Basic
 *   identity, the second started over 3 s after the first: for every segment number both
 *   pipelines' copies carry the same `tfdt` (read back from the origin, one pipeline masked at
 *   a time); the first encoder is killed mid-run and dash.js plays on through the kill for
 *   45 s and more, with no stall longer than one segment.
 *
 * About 2 min. The measured numbers are printed.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'playwright-core'
import { type CliOrigin, startCli } from '../helpers/cli.js'
import { startOrigin } from '../helpers/origin.js'
import { launchChromium, openPlayer, readLog, startPageServer, summarize } from './player-pages.js'

const D = 2000
const SOURCE = [
  ['-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25'],
  ['-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
].flat()
const TOKENS = { east: 'east-secret-1', west: 'west-secret-2' }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)))

interface Proc {
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
  output(): string
}

function run(command: string, args: string[]): Proc {
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

/** The `tfdt` of every track fragment of an fMP4 segment. */
function tfdts(bytes: Buffer): number[] {
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

async function stop(p: Proc | undefined, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return
  p.child.kill(signal)
  await p.exited
}

describe('ffmpeg DASH with no custom header, open mode', () => {
  it('stores every segment, init segment and MPD as pipeline default', { timeout: 120_000 }, async () => {
    const origin = await startOrigin()
    try {
      const ffmpeg = run('ffmpeg', [
        '-hide_banner',
        ...SOURCE,
        '-t',
        '7',
        ...['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0'],
        ...['-c:a', 'aac', '-b:a', '64k'],
        ...['-f', 'dash', '-seg_duration', '2', '-method', 'PUT'],
        `${origin.ingest}/plain/manifest.mpd`,
      ])
      assert.equal(await ffmpeg.exited, 0, ffmpeg.output())
      const written = [...ffmpeg.output().matchAll(/Opening '[^']*\/plain\/([^']+)' for writing/g)].map(
        (m) => m[1]!,
      )
      // The MPD is written too, but ffmpeg logs its opening only at the verbose level.
      const names = [...new Set([...written, 'manifest.mpd'])]
      assert.ok(names.includes('init-stream0.m4s') && names.includes('init-stream1.m4s'), names.join(' '))
      assert.ok(names.filter((n) => n.startsWith('chunk-')).length >= 4, names.join(' '))
      // ffmpeg opens an init segment's upload before it has the bytes and, now and then, closes
      // it unfinished (the origin stores nothing of a cut-off upload): an init may be missing.
      const missing: string[] = []
      for (const name of names) {
        const r = await fetch(`${origin.delivery}/plain/${name}`)
        await r.arrayBuffer()
        if (r.status === 404 && name.startsWith('init-')) {
          missing.push(name)
          continue
        }
        assert.equal(r.status, 200, name)
        assert.equal(r.headers.get('segment-pipeline'), 'default', name)
      }
      assert.ok(missing.length < 2, `missing: ${missing.join(' ')}`)
      console.log(
        `ffmpeg DASH, open mode, no header: ${names.length - missing.length} objects stored, all pipeline default${missing.length ? `; cut off by ffmpeg: ${missing.join(' ')}` : ''}`,
      )
    } finally {
      await origin.close()
    }
  })
})

describe('two epoch-locked ffmpeg encoders with Basic identity, one killed, dash.js playing', () => {
  let origin: CliOrigin | undefined
  let browser: Browser | undefined
  let pages: Awaited<ReturnType<typeof startPageServer>> | undefined
  let dir: string
  const encoders: Proc[] = []
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'liveorigin-ffmpeg-'))
    pages = await startPageServer()
    browser = await launchChromium()
  })
  after(async () => {
    for (const e of encoders) await stop(e, 'SIGKILL')
    await browser?.close()
    await pages?.close()
    if (origin && origin.child.exitCode === null) {
      const exited = new Promise((r) => origin!.child.once('exit', r))
      origin.child.kill('SIGTERM')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  })

  it('same tfdt for each segment number on both pipelines; dash.js plays ≥ 45 s through the kill', {
    timeout: 240_000,
  }, async () => {
    origin = await startCli(['--data-dir', join(dir, 'data')], {
      LIVEORIGIN_INGEST_TOKENS: JSON.stringify(TOKENS),
    })
    const channel = 'redundant'
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
    const ingest = (pipeline: keyof typeof TOKENS) =>
      `${origin!.ingest.replace('http://', `http://${pipeline}:${TOKENS[pipeline]}@`)}/${channel}`
    const encoder = (pipeline: keyof typeof TOKENS) => {
      const p = run('bash', [
        'scripts/encoder.sh',
        ...['--url', ingest(pipeline), '--control', origin!.control],
        ...['--size', '320x180', '--video-bitrate', '300k', '--'],
        ...SOURCE,
      ])
      encoders.push(p)
      return p
    }
    /** When an encoder's first segment starts (epoch ms) and its number, from its start line. */
    const firstSegment = async (p: Proc) => {
      for (let i = 0; i < 200; i++) {
        const m = /first segment (\d+) at (\S+) /.exec(p.output())
        if (m) return { number: Number(m[1]), at: Date.parse(m[2]!) }
        if (p.child.exitCode !== null) break
        await sleep(100)
      }
      assert.fail(`encoder did not start:\n${p.output()}`)
    }

    const east = encoder('east')
    const eastFirst = await firstSegment(east)
    // The second encoder starts over 3 s after the first one's ffmpeg.
    await sleep(eastFirst.at + 3200 - Date.now())
    const west = encoder('west')
    const westFirst = await firstSegment(west)
    assert.ok(westFirst.number > eastFirst.number, `east ${eastFirst.number}, west ${westFirst.number}`)

    // dash.js joins once the channel holds its presentation delay (4·D) of media and a segment more.
    await sleep(eastFirst.at + 5 * D + D - Date.now())
    const mpd = `${origin.delivery}/${channel}/manifest.mpd`
    const { page, responses } = await openPlayer(browser!, pages!.url, 'dashjs', mpd, origin.delivery)
    const joinedAt = Date.now()
    // East dies once west has been pushing for a while: the rest comes from west alone.
    await sleep(Math.max(westFirst.at + 3 * D, joinedAt + 15_000) - Date.now())
    const killedAt = Date.now()
    await stop(east, 'SIGKILL')
    await sleep(joinedAt + 52_000 - Date.now())
    const until = Date.now()
    const log = await readLog(page)
    await page.close()
    await stop(west, 'SIGINT')

    // Each pipeline's copies, read back through delivery with the other pipeline masked.
    const lastEast = Math.floor((killedAt - ast) / D) - 1
    const common: number[] = []
    for (let n = westFirst.number; n <= lastEast; n++) common.push(n)
    assert.ok(common.length >= 5, `segments from both pipelines: ${common.join(',')}`)
    const masks = `${origin.control}/api/v1/channels/${channel}/masks`
    const copies = async (pipeline: string, other: string) => {
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
        for (const rendition of ['video', 'audio']) {
          const r = await fetch(`${origin!.delivery}/${channel}/${rendition}_${n}.m4s`)
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

    const s = summarize(log, until, ast)
    // Segments east never pushed came from west.
    const served = new Map<string, number>()
    for (const r of responses) {
      const n = Number(/_(\d+)\.m4s$/.exec(r.url)?.[1])
      if (n > lastEast + 1) served.set(r.pipeline, (served.get(r.pipeline) ?? 0) + 1)
    }
    const stallMs = s.stalls.map((x) => x.ms)
    console.log(
      [
        `east first segment ${eastFirst.number}, west ${westFirst.number} (started ${westFirst.at - eastFirst.at} ms later); east killed after segment ${lastEast}`,
        `tfdt compared on ${compared} copies (segments ${common[0]}–${common.at(-1)}, video and audio): all equal`,
        `dash.js: playing ${s.startupMs} ms after load; currentTime ${s.firstCurrentTime.toFixed(1)} → ${s.lastCurrentTime.toFixed(1)} s; stalls ${s.stalls.length}${stallMs.length ? ` (max ${Math.max(...stallMs)} ms)` : ''}; errors ${s.errors.length} (${s.fatalErrors.length} fatal)`,
        `segments after east's last, served by pipeline: ${[...served].map(([k, v]) => `${k || '?'} ${v}`).join(', ')}`,
      ].join('\n'),
    )
    assert.equal(s.fatalErrors.length, 0, JSON.stringify(s.fatalErrors))
    assert.ok(s.playingAt !== null && s.playingAt < killedAt, 'dash.js was playing before the kill')
    assert.ok(
      s.lastCurrentTime - s.firstCurrentTime >= 45,
      `played ${s.lastCurrentTime - s.firstCurrentTime} s`,
    )
    assert.ok(
      s.stalls.every((x) => x.ms <= D),
      `stalls: ${JSON.stringify(s.stalls)}`,
    )
    assert.ok((served.get('west') ?? 0) > 0 && served.size === 1, JSON.stringify([...served]))
  })
})
