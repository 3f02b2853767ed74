/**
 * `liveorigin simulate` as a user runs it: a child process publishing in real time to an
 * origin on loopback ports, then every segment read back through delivery. Short runs
 * (D = 500 ms, a few seconds) so that the suite stays fast.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FaultPlan } from '../../src/simulate/fault-plan.js'
import { loadRenditions } from '../../src/simulate/media.js'
import type { Report } from '../../src/simulate/report.js'
import { freePort } from '../helpers/cli.js'
import { NO_SHEDDING } from '../helpers/fixture-channel.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs `liveorigin simulate <args>`; `interrupt` sends SIGINT `afterMs` after the channel
 * exists on `control` (the simulator handles signals from before it creates the channel, so
 * a slow start on a busy machine cannot kill it with the signal's default action).
 */
function simulate(
  args: string[],
  interrupt?: { control: string; channel: string; afterMs: number },
): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'simulate', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => {
    stdout += d
  })
  child.stderr.on('data', (d) => {
    stderr += d
  })
  if (interrupt !== undefined) {
    void (async () => {
      while (child.exitCode === null) {
        const r = await fetch(`${interrupt.control}/api/v1/channels/${interrupt.channel}`)
        await r.arrayBuffer()
        if (r.status === 200) break
        await new Promise((res) => setTimeout(res, 50))
      }
      setTimeout(() => child.kill('SIGINT'), interrupt.afterMs)
    })()
  }
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })))
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

describe('liveorigin simulate (child process against a live origin)', () => {
  let origin: TestOrigin
  let dir: string
  before(async () => {
    origin = await startOrigin(NO_SHEDDING)
    dir = mkdtempSync(join(tmpdir(), 'liveorigin-sim-cli-'))
  })
  after(async () => {
    await origin.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('bad options: one line on stderr, exit code 2; --help: usage, exit code 0', async () => {
    const bad = await simulate(['--defect-rate', '2'])
    assert.equal(bad.code, 2)
    assert.equal(bad.stderr, 'liveorigin: --defect-rate: expected a probability between 0 and 1, got "2"\n')
    const outage = await simulate(['--outage', 'north:1s-2s'])
    assert.equal(outage.code, 2)
    assert.equal(outage.stderr.trim().split('\n').length, 1)
    const help = await simulate(['--help'])
    assert.equal(help.code, 0)
    assert.match(help.stdout, /^liveorigin simulate: publish a live DASH channel/)
    assert.match(help.stdout, /--outage <pipeline:from-to>/)
  })

  it('publishes with faults; every segment is served from the first pipeline with a clean copy', async () => {
    const report = join(dir, 'run.json')
    const run = await simulate([
      '--ingest',
      origin.ingest,
      '--control',
      origin.control,
      '--channel',
      'simcli',
      '--segment-ms',
      '500',
      '--duration',
      '3s',
      '--defect-rate',
      '0.3',
      '--late-rate',
      '0.15',
      '--missing-rate',
      '0.1',
      '--outage',
      'east:1s-2s',
      '--gap',
      '1500ms',
      '--cut',
      '2s',
      '--delivery',
      origin.delivery,
      '--seed',
      'cli-test',
      '--report',
      report,
    ])
    assert.equal(run.code, 0, run.stdout + run.stderr)
    assert.match(run.stdout, /every PUT got a 2xx answer/)
    assert.match(run.stdout, /seed cli-test/)
    assert.doesNotMatch(run.stdout, /origin disagreed/)
    // Not a terminal: whole progress lines.
    assert.match(run.stderr, /^\d+\.\ds {2}segment \d+ {2}east .* 0 errors$/m)

    const r = JSON.parse(readFileSync(report, 'utf8')) as Report
    assert.equal(r.segmentDurationMs, 500)
    assert.deepEqual(r.renditions, ['0', '1', '2'])
    assert.equal(r.segments.length, 6 * 3)
    // The faults are the seeded plan's.
    const plan = new FaultPlan({
      seed: 'cli-test',
      segmentDurationMs: 500,
      defectRate: 0.3,
      lateRate: 0.15,
      missingRate: 0.1,
    })
    const kinds = new Set<string>()
    // --gap 1500ms and --cut 2s: segments S+3 and S+4 on every pipeline and rendition.
    assert.deepEqual(r.faults.gaps, [{ atMs: 1500, number: r.startNumber + 3 }])
    assert.deepEqual(r.faults.cuts, [{ atMs: 2000, number: r.startNumber + 4 }])
    for (const seg of r.segments.filter((s) => s.number === r.startNumber + 3)) {
      for (const pipeline of r.pipelines) {
        assert.equal(seg.copies[pipeline]!.outcome, 'missing', `${seg.path} ${pipeline}`)
        assert.equal(seg.copies[pipeline]!.forced, 'gap')
      }
    }
    for (const seg of r.segments.filter((s) => s.number === r.startNumber + 4)) {
      // Due 2.5 s after the start, after east's outage: east sends the cut-off copy.
      const east = seg.copies.east!
      assert.deepEqual([east.outcome, east.fault, east.forced], ['sent', 'corrupt', 'cut'], seg.path)
      assert.match(east.echo!, /^corrupt;reason="segment ends inside the mdat box/)
      assert.deepEqual([seg.copies.west!.outcome, seg.copies.west!.forced], ['missing', 'cut'])
    }
    const forcedStats = Object.fromEntries(r.pipelineStats.map((p) => [p.pipeline, p.faults]))
    assert.deepEqual([forcedStats.east!.gap, forcedStats.east!.cut], [3, 3])
    assert.deepEqual([forcedStats.west!.gap, forcedStats.west!.cut], [6, 0])
    assert.match(run.stdout, /3 withheld and 3 cut off by --gap\/--cut/)
    for (const seg of r.segments) {
      if (seg.number === r.startNumber + 3 || seg.number === r.startNumber + 4) continue
      for (const pipeline of r.pipelines) {
        const copy = seg.copies[pipeline]!
        const media = seg.rendition === '2' ? 'audio' : 'video'
        const f = plan.segment(pipeline, seg.rendition, seg.number, media)
        assert.equal(copy.fault, f.defect ?? null)
        assert.equal(copy.lateMs, f.lateMs)
        if (f.missing) assert.equal(copy.outcome, 'missing')
        kinds.add(copy.outcome === 'sent' ? (copy.fault ?? (copy.lateMs ? 'late' : 'clean')) : copy.outcome)
        if (copy.outcome !== 'sent') continue
        assert.ok(copy.status === 201 || copy.status === 204, `${seg.path} ${pipeline}: ${copy.status}`)
        // What the origin found agrees with what was sent.
        if (copy.fault === null) assert.equal(copy.echo, '', `${seg.path} ${pipeline}`)
        if (copy.fault === 'corrupt') assert.match(copy.echo!, /^corrupt;/)
        if (copy.fault === 'tfdt') assert.match(copy.echo!, /^timing-discontinuity;/)
        if (copy.fault === 'reported') assert.ok(copy.echo!.startsWith(copy.reported!))
      }
    }
    // The east outage (1–2 s) skipped its PUTs of the segments due then. The publisher decides
    // when it sends, so segments due near the edges of the window are left out (a loaded
    // machine fires timers late).
    const inOutage = r.segments.filter(
      (s) => s.availableAt - r.startedAt >= 1100 && s.availableAt - r.startedAt < 1700,
    )
    assert.ok(inOutage.length >= 3)
    for (const s of inOutage) {
      if (s.copies.east!.outcome !== 'missing' && s.copies.east!.lateMs === 0)
        assert.equal(s.copies.east!.outcome, 'outage')
    }
    for (const k of ['clean', 'outage']) assert.ok(kinds.has(k), `no ${k} copy in this run`)

    // Every segment read back: the first clean copy in pipeline order, else the least defective.
    const waitUntil = Math.max(...r.segments.map((s) => s.availableAt)) + 2 * 500
    await new Promise((res) => setTimeout(res, Math.max(0, waitUntil - Date.now())))
    for (const seg of r.segments) {
      const g = await fetch(`${origin.delivery}/${r.channel}/${seg.path}`)
      const body = Buffer.from(await g.arrayBuffer())
      const sent = r.pipelines.filter((p) => seg.copies[p]!.outcome === 'sent')
      const clean = sent.find((p) => !seg.copies[p]!.defective)
      if (clean) {
        assert.equal(g.status, 200, seg.path)
        assert.equal(g.headers.get('segment-pipeline'), clean, seg.path)
        assert.equal(g.headers.get('segment-defects'), null, seg.path)
        assert.equal(sha256(body), seg.copies[clean]!.sha256, seg.path)
      } else if (sent.length > 0) {
        assert.equal(g.status, 200, seg.path)
        assert.ok(g.headers.get('segment-defects'), seg.path)
        assert.equal(g.headers.get('cache-ttl-ms'), '500')
      } else if (g.status === 200) {
        // No copy anywhere: a filler (gap policy "filler") …
        assert.equal(g.headers.get('segment-defects'), 'filler', seg.path)
      } else {
        // … or 410 Gone (gap policy "gone").
        assert.equal(g.status, 410, seg.path)
      }
    }
    // The manifest and init segments are served too.
    const mpd = await fetch(`${origin.delivery}/${r.channel}/manifest.mpd`)
    assert.equal(mpd.status, 200)
    const xml = await mpd.text()
    assert.match(xml, /type="dynamic"/)
    assert.match(
      xml,
      new RegExp(`availabilityStartTime="${new Date(r.availabilityStartTime).toISOString()}"`),
    )
    assert.match(xml, new RegExp(`startNumber="${r.startNumber}"`))
    assert.ok(
      xml.includes(
        `<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="${origin.delivery}/.well-known/time"/>`,
      ),
      xml,
    )
    assert.equal(r.timeSource, `${origin.delivery}/.well-known/time`)
    const [video] = loadRenditions()
    const init = await fetch(`${origin.delivery}/${r.channel}/init-0.m4s`)
    assert.equal(sha256(Buffer.from(await init.arrayBuffer())), sha256(video!.initBytes))
  })

  it('--token: bearer tokens instead of Pipeline-Id; without them every PUT fails → exit code 1', async () => {
    const secured = await startOrigin({
      ...NO_SHEDDING,
      'ingest.tokens': { east: 'east-secret', west: 'west-secret' },
    })
    try {
      const common = ['--ingest', secured.ingest, '--control', secured.control, '--segment-ms', '500']
      const ok = await simulate([
        ...common,
        '--channel',
        'tok',
        '--duration',
        '1s',
        '--token',
        'east=east-secret',
        '--token',
        'west=west-secret',
      ])
      assert.equal(ok.code, 0, ok.stdout + ok.stderr)
      const g = await fetch(`${secured.delivery}/tok/manifest.mpd`)
      assert.equal(g.status, 200)
      assert.equal(g.headers.get('segment-pipeline'), 'east')
      await g.arrayBuffer()

      const refused = await simulate([...common, '--channel', 'tok2', '--duration', '0.5s'])
      assert.equal(refused.code, 1, refused.stdout + refused.stderr)
      assert.match(refused.stdout, /\d+ PUTs failed; last: \w+ PUT .*: 401 /)
    } finally {
      await secured.close()
    }
  })

  it('control listener unreachable: one line, exit code 1, nothing published', async () => {
    const port = await freePort()
    const run = await simulate([
      '--ingest',
      origin.ingest,
      '--control',
      `http://127.0.0.1:${port}`,
      '--duration',
      '1s',
    ])
    assert.equal(run.code, 1)
    assert.match(
      run.stderr,
      /^liveorigin simulate: cannot reach the control listener at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED\n$/,
    )
    assert.equal(run.stdout, '')
  })

  it('--duration 0 runs until interrupted, then prints the summary', async () => {
    const run = await simulate(
      [
        '--ingest',
        origin.ingest,
        '--control',
        origin.control,
        '--channel',
        'forever',
        '--segment-ms',
        '250',
        '--duration',
        '0',
      ],
      { control: origin.control, channel: 'forever', afterMs: 2000 },
    )
    assert.equal(run.code, 0, run.stdout + run.stderr)
    assert.match(run.stdout, /\(stopped\)/)
    const east = /east: (\d+) segment PUTs ok/.exec(run.stdout)
    assert.ok(east && Number(east[1]) >= 3, run.stdout)
  })
})
