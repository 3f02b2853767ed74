/**
 * Segments served while they upload when ingest and delivery run in separate processes
 * (docs/delivery.md#segments-in-progress): the chunks cross from the ingest process to the
 * delivery workers over the node's bus, a held GET gets the first chunk before the upload
 * ends, an upload cut off mid-segment cuts the reader off in the worker too, and byte ranges
 * (LL-HLS parts, a preload hint) are answered there from the relayed chunks.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, it } from 'node:test'
import { cmafChunks } from '../../src/simulate/fmp4.js'
import { chunkedCopy, chunkedPut, streamedGet } from '../helpers/chunked.js'
import { type CliOrigin, startCli, waitReady } from '../helpers/cli.js'
import { createChannel, segmentPath, sha256 } from '../helpers/fixture-channel.js'
import { waitForHeld } from '../helpers/http.js'
import type { TestOrigin } from '../helpers/origin.js'

const dataDir = mkdtempSync(join(tmpdir(), 'liveorigin-llworkers-'))
let cli: CliOrigin
let origin: TestOrigin
let channel: string

before(async () => {
  cli = await startCli(['--data-dir', dataDir], {
    LIVEORIGIN_DELIVERY_WORKERS: '2',
    LIVEORIGIN_LOG_LEVEL: 'info',
  })
  await waitReady(cli)
  // The fixture helpers use the listeners' addresses only.
  origin = { ingest: cli.ingest, delivery: cli.delivery, control: cli.control } as TestOrigin
  channel = await createChannel(origin, Date.now() - 10_000, {
    holdWindowMs: 60_000,
    lateAllowanceMs: 60_000,
    selectionGraceMs: 30_000,
    lowLatency: true,
  })
})
after(async () => {
  cli?.child.kill('SIGTERM')
  await cli?.exited
  rmSync(dataDir, { recursive: true, force: true })
})

it('a delivery worker streams the chunks of an upload that the ingest process receives', async () => {
  const n = 20
  const segment = chunkedCopy(0, n, 'east', 4)
  const chunks = cmafChunks(segment)
  const reader = streamedGet(`${cli.delivery}/${channel}/${segmentPath(0, n)}`)
  await waitForHeld(origin, 1)
  const upload = chunkedPut(`${cli.ingest}/${channel}/${segmentPath(0, n)}`, 'east')
  await upload.send(chunks[0]!)
  const h = await reader.headers
  assert.equal(h['segment-in-progress'], '?1')
  assert.equal(h['content-length'], undefined)
  assert.ok((await reader.bytes(chunks[0]!.length)).equals(chunks[0]!))
  for (const c of chunks.slice(1)) await upload.send(c)
  assert.equal((await upload.end()).status, 201)
  const done = await reader.done
  assert.equal(done.cut, false)
  assert.equal(sha256(done.body), sha256(segment))
})

it('an upload cut off mid-segment cuts the reader off; the retry gets the other pipeline copy', async () => {
  const n = 21
  const east = cmafChunks(chunkedCopy(0, n, 'east', 4))
  const westCopy = chunkedCopy(0, n, 'west', 4)
  const reader = streamedGet(`${cli.delivery}/${channel}/${segmentPath(0, n)}`)
  await waitForHeld(origin, 1)
  const eastUp = chunkedPut(`${cli.ingest}/${channel}/${segmentPath(0, n)}`, 'east')
  await eastUp.send(east[0]!)
  await eastUp.send(east[1]!)
  await reader.bytes(east[0]!.length + east[1]!.length)
  eastUp.abort()
  assert.equal((await reader.done).cut, true)
  const westUp = chunkedPut(`${cli.ingest}/${channel}/${segmentPath(0, n)}`, 'west')
  await westUp.send(westCopy)
  assert.equal((await westUp.end()).status, 201)
  const retry = streamedGet(`${cli.delivery}/${channel}/${segmentPath(0, n)}`)
  const h = await retry.headers
  assert.equal(h['segment-pipeline'], 'west')
  assert.equal(sha256((await retry.done).body), sha256(westCopy))
})

it('a delivery worker answers byte ranges from the relayed chunks: a part when its chunk arrives, a preload hint streamed', async () => {
  const n = 22
  const segment = chunkedCopy(0, n, 'east', 4)
  const chunks = cmafChunks(segment)
  const at = [0]
  for (const c of chunks) at.push(at.at(-1)! + c.length)
  const url = `${cli.delivery}/${channel}/${segmentPath(0, n)}`
  const upload = chunkedPut(`${cli.ingest}/${channel}/${segmentPath(0, n)}`, 'east')
  await upload.send(chunks[0]!)
  const first = streamedGet(url)
  await first.bytes(chunks[0]!.length)
  const part1 = streamedGet(url, { Range: `bytes=${at[1]}-${at[2]! - 1}` })
  const hint = streamedGet(url, { Range: `bytes=${at[2]}-` })
  await new Promise((r) => setTimeout(r, 200))
  assert.equal(part1.received().length, 0, 'part 1 waits for its chunk')
  await upload.send(chunks[1]!)
  assert.equal(await part1.status, 206)
  assert.equal((await part1.headers)['content-range'], `bytes ${at[1]}-${at[2]! - 1}/*`)
  assert.ok((await part1.done).body.equals(chunks[1]!))
  assert.equal(hint.received().length, 0, 'the preload hint waits for its first byte')
  await upload.send(chunks[2]!)
  assert.equal(await hint.status, 206)
  assert.ok((await hint.bytes(chunks[2]!.length)).equals(chunks[2]!))
  await upload.send(chunks[3]!)
  assert.equal((await upload.end()).status, 201)
  const done = await hint.done
  assert.equal(done.cut, false)
  assert.equal(sha256(done.body), sha256(segment.subarray(at[2]!)))
  assert.equal(sha256((await first.done).body), sha256(segment))
})
