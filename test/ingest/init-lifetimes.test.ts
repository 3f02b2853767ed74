/**
 * Init segments kept alive while their rendition is live (src/ingest/init-lifetimes.ts), on
 * the embedded store: extended only when a media segment would outlive them, never over a
 * newer copy, one extension for concurrent segments, and at most once per
 * `INIT_EXTEND_EVERY_MS` while segments arrive.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { InitLifetimes } from '../../src/ingest/init-lifetimes.js'
import { createEmbeddedDriver } from '../../src/storage/embedded.js'
import { instrumentDriver } from '../../src/storage/instrumented.js'
import { ObjectStore } from '../../src/storage/object-store.js'
import type { ObjectMeta, StorageDriver } from '../../src/storage/types.js'
import { EXPIRY_MARGIN_MS, INIT_EXTEND_EVERY_MS, initExpiresAt } from '../../src/timing/schedule.js'
import { bodyOf, patternBytes } from '../storage/driver-conformance.js'

const HOUR = 3_600_000
const cfg = { initialization: 'init-$RepresentationID$.mp4', dvrWindowMs: 4 * HOUR }
const T0 = 1_900_000_000_000
/** Expiry of a media segment available at `t`. */
const segmentAt = (t: number) => t + cfg.dvrWindowMs + EXPIRY_MARGIN_MS

describe('init segment lifetimes', () => {
  let dir: string
  let driver: StorageDriver
  let store: ObjectStore
  const ops: string[] = []
  let n = 0

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'liveorigin-inits-'))
    driver = instrumentDriver(createEmbeddedDriver({ dataDir: dir }), (e) => ops.push(e.op))
    store = new ObjectStore(driver, { replacedGraceMs: 0 })
  })
  after(async () => {
    await store.flushDeletions()
    await driver.close()
    rmSync(dir, { recursive: true, force: true })
  })

  async function storeInit(channel: string, at: number, seed = 1): Promise<ObjectMeta> {
    const { meta } = await store.write(
      { channel, path: 'init-v1.mp4', pipeline: 'east' },
      bodyOf(patternBytes(900, seed)),
      {
        contentType: 'video/mp4',
        expiresAt: initExpiresAt(cfg, at),
      },
    )
    return meta
  }
  const current = async (channel: string) => (await store.list(channel, 'init-v1.mp4'))[0]

  it('leaves an init segment alone while it outlives the segments, and extends it when one would outlive it', async () => {
    const channel = `c${++n}`
    const init = await storeInit(channel, T0)
    const lifetimes = new InitLifetimes(store, driver)
    lifetimes.remember(init)
    ops.length = 0
    // Within INIT_EXTEND_EVERY_MS of the init's write, segments expire before it: no storage work.
    await lifetimes.segmentCommitted(
      channel,
      cfg,
      'v1',
      'east',
      segmentAt(T0 + INIT_EXTEND_EVERY_MS),
      T0 + INIT_EXTEND_EVERY_MS,
    )
    assert.deepEqual(ops, [])
    assert.equal((await current(channel))?.expiresAt, init.expiresAt)

    const later = T0 + INIT_EXTEND_EVERY_MS + 1000
    ops.length = 0
    await lifetimes.segmentCommitted(channel, cfg, 'v1', 'east', segmentAt(later), later)
    assert.deepEqual(ops, ['extend'])
    const extended = await current(channel)
    assert.equal(extended?.token, init.token)
    assert.equal(extended?.expiresAt, initExpiresAt(cfg, later))
    assert.ok(extended!.expiresAt > segmentAt(later))
    // The next segments, up to another INIT_EXTEND_EVERY_MS, need nothing more.
    ops.length = 0
    const next = later + INIT_EXTEND_EVERY_MS - 1000
    await lifetimes.segmentCommitted(channel, cfg, 'v1', 'east', segmentAt(next), next)
    assert.deepEqual(ops, [])
  })

  it('finds an init segment stored by another process, and one extension serves concurrent segments', async () => {
    const channel = `c${++n}`
    const init = await storeInit(channel, T0)
    const lifetimes = new InitLifetimes(store, driver)
    const later = T0 + 2 * INIT_EXTEND_EVERY_MS
    ops.length = 0
    await Promise.all(
      [0, 1, 2].map(() => lifetimes.segmentCommitted(channel, cfg, 'v1', 'east', segmentAt(later), later)),
    )
    assert.deepEqual(ops, ['list', 'extend'])
    assert.equal((await current(channel))?.expiresAt, initExpiresAt(cfg, later))
    assert.equal((await current(channel))?.token, init.token)
  })

  it('never extends over a newer copy: a replaced init is looked up again', async () => {
    const channel = `c${++n}`
    const old = await storeInit(channel, T0, 1)
    const lifetimes = new InitLifetimes(store, driver)
    lifetimes.remember(old)
    // Another node stores a new copy; this process still knows the old one.
    const replacement = await storeInit(channel, T0 + 1000, 2)
    const later = T0 + 2 * INIT_EXTEND_EVERY_MS
    await lifetimes.segmentCommitted(channel, cfg, 'v1', 'east', segmentAt(later), later)
    assert.deepEqual(await current(channel), replacement)
    ops.length = 0
    await lifetimes.segmentCommitted(channel, cfg, 'v1', 'east', segmentAt(later), later)
    assert.deepEqual(ops, ['list', 'extend'])
    const now = await current(channel)
    assert.equal(now?.token, replacement.token)
    assert.equal(now?.expiresAt, initExpiresAt(cfg, later))
  })

  it('does nothing for a pipeline without an init segment', async () => {
    const lifetimes = new InitLifetimes(store, driver)
    ops.length = 0
    await lifetimes.segmentCommitted(`c${++n}`, cfg, 'v1', 'east', segmentAt(T0), T0)
    assert.deepEqual(ops, ['list'])
  })

  it('keeps a manifest PUT once alive while segments arrive, also in a process started after it was PUT', async () => {
    const channel = `c${++n}`
    const { meta: mpd } = await store.write(
      { channel, path: 'manifest.mpd', pipeline: 'east' },
      bodyOf(patternBytes(400, 7)),
      { contentType: 'application/dash+xml', expiresAt: initExpiresAt(cfg, T0) },
    )
    await new InitLifetimes(store, driver).manifestCommitted(mpd)
    // A process that never saw the manifest's commit (a restart, another node) finds its path
    // in the channel's records and extends it when a segment would outlive it.
    const restarted = new InitLifetimes(store, driver)
    const later = T0 + INIT_EXTEND_EVERY_MS + 1000
    ops.length = 0
    await restarted.manifestsOutlive(channel, cfg, segmentAt(later), later)
    assert.deepEqual(ops, ['listRecords', 'list', 'extend'])
    const extended = (await store.list(channel, 'manifest.mpd'))[0]
    assert.equal(extended?.token, mpd.token)
    assert.equal(extended?.expiresAt, initExpiresAt(cfg, later))
    // Later segments need nothing more; a channel without manifests costs one read, once.
    ops.length = 0
    await restarted.manifestsOutlive(channel, cfg, segmentAt(later), later)
    await restarted.manifestsOutlive(`c${++n}`, cfg, segmentAt(later), later)
    await restarted.manifestsOutlive(`c${n}`, cfg, segmentAt(later), later)
    assert.deepEqual(ops, ['listRecords'])
  })

  it("extends every pipeline's manifest while any pipeline's segments arrive: one that PUT its manifest once and died keeps it", async () => {
    const channel = `c${++n}`
    const lifetimes = new InitLifetimes(store, driver)
    const copies: ObjectMeta[] = []
    for (const [pipeline, seed] of [
      ['east', 1],
      ['west', 2],
    ] as const) {
      const { meta } = await store.write(
        { channel, path: 'manifest.mpd', pipeline },
        bodyOf(patternBytes(300, seed)),
        { contentType: 'application/dash+xml', expiresAt: initExpiresAt(cfg, T0) },
      )
      await lifetimes.manifestCommitted(meta)
      copies.push(meta)
    }
    // East dies; west goes on, PUTting its manifest with every segment (on another node).
    const later = T0 + INIT_EXTEND_EVERY_MS + 1000
    const { meta: westNow } = await store.write(
      { channel, path: 'manifest.mpd', pipeline: 'west' },
      bodyOf(patternBytes(300, 3)),
      { contentType: 'application/dash+xml', expiresAt: initExpiresAt(cfg, later) },
    )
    await lifetimes.manifestsOutlive(channel, cfg, segmentAt(later), later)
    const byPipeline = new Map((await store.list(channel, 'manifest.mpd')).map((m) => [m.pipeline, m]))
    assert.equal(byPipeline.get('east')?.token, copies[0]!.token)
    assert.equal(byPipeline.get('east')?.expiresAt, initExpiresAt(cfg, later))
    // West's newer copy already outlives the segment: left as it was PUT.
    assert.deepEqual(byPipeline.get('west'), westNow)
    // Much later, west's segments still keep east's copy alive.
    const evenLater = later + 3 * INIT_EXTEND_EVERY_MS
    await lifetimes.manifestsOutlive(channel, cfg, segmentAt(evenLater), evenLater)
    const east = (await store.list(channel, 'manifest.mpd')).find((m) => m.pipeline === 'east')
    assert.equal(east?.expiresAt, initExpiresAt(cfg, evenLater))
    assert.ok(east!.expiresAt > segmentAt(evenLater))
  })
})
