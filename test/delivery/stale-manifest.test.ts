/**
 * A manifest copy that stopped being updated is passed over while another pipeline's copy is
 * updated (docs/delivery.md, "Which manifest copy is served"): a killed encoder leaves its
 * last playlist stored, and a player reloading it would wait for segments that never come.
 * On a channel with a template the limit is 1.5·D; without one, the HLS target duration.
 * The origin runs on a fake clock, so every age is exact.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, it } from 'node:test'
import { FakeClock, get, originWithChannel, put, request } from '../helpers/http.js'
import type { TestOrigin } from '../helpers/origin.js'

const AST = Date.UTC(2026, 0, 1, 12, 0, 0)
const D = 2000
const clock = new FakeClock(AST + 10 * D + 100)
let origin: TestOrigin

before(async () => {
  origin = await originWithChannel(clock, {
    segmentDurationMs: D,
    availabilityStartTime: AST,
    pipelines: ['east', 'west'],
  })
})
after(() => origin.close())

/**
 * A one-segment media playlist. With `uri` the segment's name carries no number, so the
 * origin learns no timing from it and the channel stays without a template.
 */
const playlist = (pipeline: string, msn: number, ended = false, uri = `v/${msn}.ts`) =>
  `#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:${msn}\n# ${pipeline}\n#EXTINF:4.0,\n${uri}\n${ended ? '#EXT-X-ENDLIST\n' : ''}`

async function putOk(path: string, body: string | Uint8Array, pipeline: string): Promise<void> {
  const r = await put(origin, path, body, pipeline)
  assert.ok(r.status === 201 || r.status === 204, `PUT ${path} as ${pipeline}: ${r.status} ${r.body}`)
}

/** Both pipelines deliver the segment at the live edge, so that both stay healthy. */
async function segmentsAtEdge(): Promise<void> {
  const edge = Math.floor((clock.t - AST) / D)
  for (const pipeline of ['east', 'west']) await putOk(`/ch/v/${edge}.ts`, randomBytes(500), pipeline)
}

async function served(path: string): Promise<{ pipeline: string; body: string }> {
  const a = await get(origin, path)
  assert.equal(a.status, 200, `GET ${path}`)
  return { pipeline: String(a.headers['segment-pipeline']), body: a.body.toString('utf8') }
}

async function masks(method: 'POST' | 'DELETE', mask?: Record<string, unknown>): Promise<void> {
  const body = mask ? JSON.stringify(mask) : undefined
  const r = await request(`${origin.control}/api/v1/channels/ch/masks`, {
    method,
    ...(body
      ? {
          body,
          headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) },
        }
      : {}),
  })
  assert.ok(r.status < 300, `${method} masks: ${r.status} ${r.body}`)
}

it('a playlist not updated for more than 1.5·D is passed over while the other pipeline updates its own', async () => {
  await segmentsAtEdge()
  await putOk('/ch/v.m3u8', playlist('east', 10), 'east')
  await putOk('/ch/v.m3u8', playlist('west', 10), 'west')
  assert.equal((await served('/ch/v.m3u8')).pipeline, 'east', 'the preferred pipeline')

  // East keeps delivering segments (it stays healthy) but its playlist freezes; west goes on.
  clock.advance(D)
  await segmentsAtEdge()
  await putOk('/ch/v.m3u8', playlist('west', 11), 'west')
  clock.advance(D / 2)
  // East's copy is exactly 1.5·D old: not stale yet.
  assert.equal((await served('/ch/v.m3u8')).pipeline, 'east')
  clock.advance(1)
  const west = await served('/ch/v.m3u8')
  assert.equal(west.pipeline, 'west', 'east’s copy is 1.5·D + 1 ms old, west’s D/2 + 1 ms')
  assert.match(west.body, /MEDIA-SEQUENCE:11/)

  // East updates again: preferred again at once.
  await putOk('/ch/v.m3u8', playlist('east', 11), 'east')
  assert.equal((await served('/ch/v.m3u8')).pipeline, 'east')

  // Nobody updates: every copy is stale, and the usual order applies.
  clock.advance(4 * D)
  await segmentsAtEdge()
  assert.equal((await served('/ch/v.m3u8')).pipeline, 'east', 'no copy is being updated')

  // Only a masked pipeline updates: its copy does not make the others stale.
  await masks('POST', { pipeline: 'west', from: 0 })
  await putOk('/ch/v.m3u8', playlist('west', 14), 'west')
  assert.equal((await served('/ch/v.m3u8')).pipeline, 'east', 'west is masked')
  await masks('DELETE')
  assert.equal((await served('/ch/v.m3u8')).pipeline, 'west', 'the mask lifted')
})

it('the same for a pipeline that is not listed in the channel and for a copy not yet stale', async () => {
  // A third pipeline (ordered after the listed ones) updates its copy; the listed ones froze.
  clock.advance(10 * D)
  await segmentsAtEdge()
  await putOk('/ch/other.m3u8', playlist('east', 20), 'east')
  await putOk('/ch/other.m3u8', playlist('west', 20), 'west')
  clock.advance(2 * D)
  await segmentsAtEdge()
  await putOk('/ch/other.m3u8', playlist('north', 22), 'north')
  assert.equal((await served('/ch/other.m3u8')).pipeline, 'north')
  // West comes back within the limit: the listed order applies among the updated copies.
  await putOk('/ch/other.m3u8', playlist('west', 22), 'west')
  assert.equal((await served('/ch/other.m3u8')).pipeline, 'west')
})

it('without a template: a frozen live playlist older than its target duration gives way to an updated ended one', async () => {
  // No channel config: the most recently committed copy is served, except that a live copy
  // is preferred to an ended one — unless the live one is stale.
  await putOk('/free/v.m3u8', playlist('east', 5, false, 'v/five.ts'), 'east')
  clock.advance(3000)
  await putOk('/free/v.m3u8', playlist('west', 6, true, 'v/six.ts'), 'west')
  const free = await request(`${origin.control}/api/v1/channels/free`)
  assert.equal(JSON.parse(free.body.toString('utf8')).config, null, 'the channel has no template')
  assert.equal((await served('/free/v.m3u8')).pipeline, 'east', 'east is 3 s old, its target duration 4 s')
  clock.advance(1000)
  assert.equal((await served('/free/v.m3u8')).pipeline, 'east', 'exactly the target duration old')
  clock.advance(1)
  const ended = await served('/free/v.m3u8')
  assert.equal(ended.pipeline, 'west')
  assert.match(ended.body, /#EXT-X-ENDLIST/)
})
