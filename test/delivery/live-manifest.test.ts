import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, it } from 'node:test'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

// Two pipelines publish one channel; one of them ends its stream while the other is live.
// D is long so that the edge segments delivered first keep both pipelines healthy (delivered
// within the last 3 segments) however slowly a busy machine runs the rest of a test.
const D = 10_000
const NO_SHEDDING = { 'overload.storageLatencyMs': 10_000, 'overload.eventLoopDelayMs': 10_000 }
let origin: TestOrigin
let channels = 0

before(async () => {
  origin = await startOrigin(NO_SHEDDING)
})
after(() => origin.close())

const mpd = (pipeline: string, type: 'dynamic' | 'static') =>
  `<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="${type}" availabilityStartTime="1970-01-01T00:00:00Z"><!-- ${pipeline} --><Period id="0"/></MPD>\n`
const playlist = (pipeline: string, ended: boolean) =>
  `#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:1\n# ${pipeline}\n#EXTINF:1.0,\nv/1.m4s\n${ended ? '#EXT-X-ENDLIST\n' : ''}`

async function channel(): Promise<{ name: string; ast: number }> {
  const name = `ended${++channels}`
  const ast = Date.now() - 100 * D
  const r = await fetch(`${origin.control}/api/v1/channels/${name}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ segmentDurationMs: D, availabilityStartTime: ast, pipelines: ['east', 'west'] }),
  })
  assert.equal(r.status, 201, await r.text())
  return { name, ast }
}

async function put(name: string, path: string, body: string | Uint8Array, pipeline: string) {
  const r = await fetch(`${origin.ingest}/${name}/${path}`, {
    method: 'PUT',
    body,
    headers: { 'Pipeline-Id': pipeline },
  })
  await r.arrayBuffer()
  assert.ok(r.status === 201 || r.status === 204, `PUT ${path}: ${r.status}`)
  return r
}

/** Segments at the live edge from `pipelines`, so that they count as healthy. */
async function deliverEdge(name: string, ast: number, pipelines: string[]) {
  const edge = Math.floor((Date.now() - ast) / D)
  for (const pipeline of pipelines) {
    for (const n of [edge - 1, edge]) await put(name, `v/${n}.m4s`, randomBytes(1000), pipeline)
  }
}

async function get(name: string, path: string) {
  const r = await fetch(`${origin.delivery}/${name}/${path}`)
  return { status: r.status, pipeline: r.headers.get('segment-pipeline'), body: await r.text() }
}

it('a DASH manifest that says the stream ended is not served while another pipeline is live; the switch is immediate', async () => {
  const { name, ast } = await channel()
  await deliverEdge(name, ast, ['east', 'west'])
  await put(name, 'manifest.mpd', mpd('east', 'dynamic'), 'east')
  await put(name, 'manifest.mpd', mpd('west', 'dynamic'), 'west')
  assert.equal((await get(name, 'manifest.mpd')).pipeline, 'east', 'the preferred pipeline')

  const ended = await put(name, 'manifest.mpd', mpd('east', 'static'), 'east')
  assert.equal(
    ended.headers.get('segment-defects'),
    'ended;origin',
    'the ingest answer says what was recorded',
  )
  const next = await get(name, 'manifest.mpd')
  assert.equal(next.status, 200)
  assert.equal(next.pipeline, 'west', 'the next GET after the ended manifest committed')
  assert.match(next.body, /type="dynamic"/)

  // East starts again: its live manifest is preferred again.
  await put(name, 'manifest.mpd', mpd('east', 'dynamic'), 'east')
  assert.equal((await get(name, 'manifest.mpd')).pipeline, 'east')
})

it('when every pipeline has ended, the ended manifest of the preferred pipeline is served', async () => {
  const { name, ast } = await channel()
  await deliverEdge(name, ast, ['east', 'west'])
  await put(name, 'manifest.mpd', mpd('east', 'static'), 'east')
  await put(name, 'manifest.mpd', mpd('west', 'static'), 'west')
  const r = await get(name, 'manifest.mpd')
  assert.deepEqual([r.status, r.pipeline], [200, 'east'])
  assert.match(r.body, /type="static"/)
})

it('an ended manifest is served when the only live one comes from a pipeline that stopped delivering', async () => {
  const { name, ast } = await channel()
  await deliverEdge(name, ast, ['east'])
  await put(name, 'manifest.mpd', mpd('west', 'dynamic'), 'west')
  await put(name, 'manifest.mpd', mpd('east', 'static'), 'east')
  const r = await get(name, 'manifest.mpd')
  assert.deepEqual(
    [r.status, r.pipeline],
    [200, 'east'],
    'west has no segment at the live edge: it is not live',
  )
})

it('an HLS playlist with #EXT-X-ENDLIST is not served while another pipeline is live', async () => {
  const { name, ast } = await channel()
  await deliverEdge(name, ast, ['east', 'west'])
  await put(name, 'v/index.m3u8', playlist('east', false), 'east')
  await put(name, 'v/index.m3u8', playlist('west', false), 'west')
  assert.equal((await get(name, 'v/index.m3u8')).pipeline, 'east')
  await put(name, 'v/index.m3u8', playlist('east', true), 'east')
  const r = await get(name, 'v/index.m3u8')
  assert.deepEqual([r.status, r.pipeline], [200, 'west'])
  assert.doesNotMatch(r.body, /ENDLIST/)
})
