/**
 * Values learned from a pipeline's MPD are checked before they are stored, and a stored
 * channel record that fails validation never stops the origin from starting: it is logged,
 * skipped and shown as broken while every other channel is served.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createEmbeddedDriver } from '../../src/storage/embedded.js'
import { startCli } from '../helpers/cli.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

const AST = '2026-01-01T00:00:00Z'
function mpd(templateAttrs: string, mpdAttrs = ''): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" availabilityStartTime="${AST}" ${mpdAttrs}>
  <Period id="p0" start="PT0S"><AdaptationSet contentType="video"><Representation id="v">
    <SegmentTemplate ${templateAttrs}/>
  </Representation></AdaptationSet></Period>
</MPD>`
}
const GOOD = mpd('media="v/$Number$.m4s" initialization="v/init.mp4" duration="2"')

interface Described {
  name: string
  source: string
  broken?: string
  config: { segmentDurationMs: number; dvrWindowMs: number } | null
}
const described = async (r: Response | Promise<Response>) => (await (await r).json()) as Described

async function putMpd(origin: TestOrigin, channel: string, body: string) {
  const r = await fetch(`${origin.ingest}/${channel}/manifest.mpd`, {
    method: 'PUT',
    body,
    headers: { 'Pipeline-Id': 'east', 'Content-Type': 'application/dash+xml' },
  })
  const text = await r.text()
  return {
    status: r.status,
    body: text ? (JSON.parse(text) as { error: { code: string; message: string } }) : undefined,
  }
}

describe('hostile MPDs', () => {
  let origin: TestOrigin
  before(async () => {
    origin = await startOrigin()
  })
  after(() => origin.close())

  for (const [what, body, field] of [
    ['a 2 h segment duration', mpd('media="v/$Number$.m4s" duration="7200"'), 'SegmentTemplate@duration'],
    [
      'a fractional startNumber',
      mpd('media="v/$Number$.m4s" duration="2" startNumber="1.5"'),
      'SegmentTemplate@startNumber',
    ],
    [
      'a template leaving the channel',
      mpd('media="../other/$Number$.m4s" duration="2"'),
      'SegmentTemplate@media',
    ],
  ] as const) {
    it(`${what}: the PUT is refused naming ${field}; nothing is stored, the channel does not change`, async () => {
      const channel = `h${field.length}${what.length}`
      const first = await putMpd(origin, channel, GOOD)
      assert.equal(first.status, 201)
      const before = await described(fetch(`${origin.control}/api/v1/channels/${channel}`))

      const r = await putMpd(origin, channel, body)
      assert.equal(r.status, 400)
      assert.equal(r.body?.error.code, 'LIVEORIGIN_ERR_BAD_MPD')
      assert.ok(r.body?.error.message.includes(field), r.body?.error.message)

      const after = await described(fetch(`${origin.control}/api/v1/channels/${channel}`))
      assert.deepEqual(after.config, before.config)
      const served = await fetch(`${origin.delivery}/${channel}/manifest.mpd`)
      assert.equal(served.status, 200)
      assert.equal(await served.text(), GOOD, 'the refused MPD replaced nothing')
    })
  }

  it('a hostile MPD as the first PUT of a channel teaches it nothing and stores nothing', async () => {
    const r = await putMpd(origin, 'fresh', mpd('media="v/$Number$.m4s" duration="7200"'))
    assert.equal(r.status, 400)
    const ch = await fetch(`${origin.control}/api/v1/channels/fresh`)
    // The first PUT to an unknown channel creates it without a template (docs/protocol.md#channels-and-segment-templates), as any PUT does.
    if (ch.status === 200) assert.equal((await described(ch)).config, null)
    else assert.equal(ch.status, 404)
    assert.equal((await fetch(`${origin.delivery}/fresh/manifest.mpd`)).status, 404)
  })

  it('timeShiftBufferDepth="P31D" is clamped to the longest DVR window (30 days)', async () => {
    const r = await putMpd(
      origin,
      'long',
      mpd('media="v/$Number$.m4s" duration="2"', 'timeShiftBufferDepth="P31D"'),
    )
    assert.equal(r.status, 201)
    const ch = await described(fetch(`${origin.control}/api/v1/channels/long`))
    assert.equal(ch.source, 'mpd')
    assert.equal(ch.config?.dvrWindowMs, 30 * 86_400_000)
  })

  it('an MPD with no timing to learn (static) is still stored, as before', async () => {
    const r = await putMpd(
      origin,
      'vod',
      GOOD.replace('type="dynamic"', 'type="static"').replace(`availabilityStartTime="${AST}"`, ''),
    )
    assert.equal(r.status, 201)
  })
})

describe('a stored record that fails validation at start-up', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'liveorigin-badrec-'))
  const children: ChildProcess[] = []
  const goodAst = Date.now() - 60_000
  after(() => {
    for (const c of children) c.kill('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
  })

  before(async () => {
    // What an older version stored from `timeShiftBufferDepth="P31D"`, and a hand-edited mask list.
    const driver = await createEmbeddedDriver({ dataDir })
    await driver.putRecord('channels', 'bad', {
      learned: {
        type: 'dynamic',
        availabilityStartTime: Date.parse(AST),
        segmentDurationMs: 2000,
        startNumber: 1,
        media: 'v/$Number$.m4s',
        dvrWindowMs: 31 * 86_400_000,
      },
      createdAt: Date.now(),
    })
    await driver.putRecord('channels', 'masked', {
      explicit: { segmentDurationMs: 2000, availabilityStartTime: Date.parse(AST) },
      createdAt: Date.now(),
    })
    await driver.putRecord('masks', 'masked', [{ pipeline: 'east', from: -5, to: 'x' }])
    await driver.putRecord('channels', 'good', {
      // MPEG-TS: stored and served as sent (fMP4 bytes would be inspected, and junk never served).
      explicit: {
        segmentDurationMs: 2000,
        availabilityStartTime: Date.now() - 60_000,
        media: 'v/$Number$.ts',
      },
      createdAt: Date.now(),
    })
    await driver.close()
  })

  it('serve starts, logs one line naming the channel and field, serves the other channels, shows it broken', async () => {
    const origin = await startCli(['--data-dir', dataDir])
    children.push(origin.child)
    const lines = origin
      .output()
      .split('\n')
      .filter((l) => l.includes('skipped: stored record invalid'))
    assert.equal(lines.filter((l) => l.includes('"channel":"bad"')).length, 1, origin.output())
    assert.match(lines.find((l) => l.includes('"channel":"bad"'))!, /dvrWindowMs/)
    assert.match(lines.find((l) => l.includes('"channel":"masked"'))!, /masks\[0\]/)

    const list = (await (await fetch(`${origin.control}/api/v1/channels`)).json()) as {
      channels: Described[]
    }
    const byName = new Map(list.channels.map((c) => [c.name, c]))
    assert.match(byName.get('bad')?.broken ?? '', /dvrWindowMs/)
    assert.equal(byName.get('good')?.broken, undefined)
    const status = await fetch(`${origin.control}/api/v1/channels/bad/status`)
    assert.equal(status.status, 200)
    assert.match(((await status.json()) as Described).broken ?? '', /dvrWindowMs/)

    // The other channels work: a segment is stored and served with the channel's timing.
    // The segment due next (a copy committed long after it was due is a late copy, not served).
    const n = Math.ceil((Date.now() - goodAst) / 2000) + 1
    const put = await fetch(`${origin.ingest}/good/v/${n}.ts`, {
      method: 'PUT',
      body: 'segment',
      headers: { 'Pipeline-Id': 'east' },
    })
    assert.equal(put.status, 201)
    const got = await fetch(`${origin.delivery}/good/v/${n}.ts`)
    assert.equal(got.status, 200)
    assert.equal(await got.text(), 'segment')

    // The broken channel is repaired by a new configuration.
    const fixed = await fetch(`${origin.control}/api/v1/channels/bad`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ segmentDurationMs: 2000, availabilityStartTime: AST }),
    })
    assert.equal(fixed.status, 200)
    const now = (await (await fetch(`${origin.control}/api/v1/channels/bad`)).json()) as {
      broken?: string
      config: { segmentDurationMs: number }
    }
    assert.equal(now.broken, undefined)
    assert.equal(now.config.segmentDurationMs, 2000)
    origin.child.kill('SIGTERM')
    assert.equal(await new Promise((r) => origin.child.once('exit', r)), 0)
  })

  it('the same data directory does not stop a multi-process serve either', async () => {
    const origin = await startCli(['--data-dir', dataDir], { LIVEORIGIN_DELIVERY_WORKERS: '1' })
    children.push(origin.child)
    assert.doesNotMatch(origin.output(), /worker died/)
    origin.child.kill('SIGKILL')
  })
})
