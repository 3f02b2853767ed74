/**
 * The control plane's reads (src/channels/registry.ts, docs/running-at-scale.md#control-plane):
 * two registries on one store stand for two nodes. A poll is one read of the version record;
 * the channel and mask namespaces are scanned only after a change (made on any node) or when
 * the last scan is `RESCAN_EVERY_MS` old. Ending a channel deletes nothing from the scanned
 * namespaces: an end marker expires by itself; the channel's manifest path records go with it.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  ChannelRegistry,
  ENDED_KEPT_MS,
  manifestsNamespace,
  RESCAN_EVERY_MS,
} from '../../src/channels/registry.js'
import { createEmbeddedDriver } from '../../src/storage/embedded.js'
import { wrapDriver } from '../../src/storage/instrumented.js'
import type { StorageDriver } from '../../src/storage/types.js'

const CHANNEL = { segmentDurationMs: 2000, availabilityStartTime: 0, dvrWindowMs: 60_000 }

describe('control-plane polling', () => {
  let dir: string
  let driver: StorageDriver
  let t = Date.now()
  const now = () => t
  /** Operations each node made, by name. */
  const opsOf = (ops: string[], op: string) => ops.filter((o) => o === op).length
  const counted = (ops: string[]) =>
    wrapDriver(driver, (op, call) => {
      ops.push(op)
      return call()
    })

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'liveorigin-poll-'))
    driver = createEmbeddedDriver({ dataDir: dir })
  })
  after(async () => {
    await driver.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('reads one record per poll, scans after a change on another node or a slow safety interval, and ends channels without deleting', async () => {
    const aOps: string[] = []
    const bOps: string[] = []
    const a = new ChannelRegistry(counted(aOps), {}, { now })
    const b = new ChannelRegistry(counted(bOps), {}, { now })
    assert.equal(await a.poll(), true)
    assert.equal(await b.poll(), true)

    // Nothing changed: each poll is one getRecord, no scan.
    bOps.length = 0
    for (let i = 0; i < 20; i++) assert.equal(await b.poll(), false)
    assert.deepEqual(
      { getRecord: opsOf(bOps, 'getRecord'), listRecords: opsOf(bOps, 'listRecords'), all: bOps.length },
      { getRecord: 20, listRecords: 0, all: 20 },
    )

    // A channel created, then masked, on node A: node B's next poll scans and sees it.
    await a.put('poll1', CHANNEL)
    bOps.length = 0
    assert.equal(await b.poll(), true)
    assert.equal(opsOf(bOps, 'listRecords'), 2)
    assert.equal(b.get('poll1')?.config?.dvrWindowMs, 60_000)
    assert.equal(await b.poll(), false)
    await a.addMask('poll1', { pipeline: 'east', from: 5, to: 9 })
    assert.equal(await b.poll(), true)
    assert.deepEqual(b.get('poll1')?.masks, [{ pipeline: 'east', from: 5, to: 9 }])

    // Ended on A: gone on B after its next poll. Nothing was deleted from the scanned
    // namespaces (only the channel's manifest path record, in a namespace of its own).
    await driver.putRecord(manifestsNamespace('poll1'), 'manifest.mpd', 'manifest.mpd')
    aOps.length = 0
    assert.equal(await a.end('poll1'), true)
    assert.equal(opsOf(aOps, 'deleteRecord'), 1)
    assert.deepEqual(await driver.listRecords(manifestsNamespace('poll1')), [])
    assert.equal(await b.poll(), true)
    assert.equal(b.get('poll1'), undefined)
    assert.equal(a.get('poll1'), undefined)
    // A new registry (a restarted node) does not bring it back.
    const c = new ChannelRegistry(driver, {}, { now })
    await c.poll()
    assert.equal(c.get('poll1'), undefined)
    assert.equal(await a.end('poll1'), false)

    // The end marker and the emptied masks expire by themselves, ENDED_KEPT_MS later.
    assert.deepEqual(
      (await driver.listRecords('channels')).map((r) => r.id),
      ['poll1'],
    )
    assert.equal(await driver.sweep(t + ENDED_KEPT_MS + 1000), 2)
    assert.deepEqual(await driver.listRecords('channels'), [])
    assert.deepEqual(await driver.listRecords('masks'), [])

    // Created again: a new channel, without the old masks.
    const { created } = await b.put('poll1', CHANNEL)
    assert.equal(created, true)
    assert.equal(await a.poll(), true)
    assert.deepEqual(a.get('poll1')?.masks, [])

    // No change for RESCAN_EVERY_MS: one full scan anyway, then polls again.
    assert.equal(await b.poll(), true) // its own change bumped the version too
    t += RESCAN_EVERY_MS - 1
    assert.equal(await b.poll(), false)
    t += 1
    bOps.length = 0
    assert.equal(await b.poll(), true)
    assert.equal(opsOf(bOps, 'listRecords'), 2)
    assert.equal(await b.poll(), false)
  })

  it('a channel ended and not created again stays ended on a node that missed the end', async () => {
    const a = new ChannelRegistry(driver, {}, { now })
    const b = new ChannelRegistry(driver, {}, { now })
    await a.put('poll2', CHANNEL)
    await b.poll()
    assert.ok(b.get('poll2'))
    await a.end('poll2')
    // B learns of it from the channel record itself (its refresh after a bus notice, or a scan).
    await b.refresh('poll2')
    assert.equal(b.get('poll2'), undefined)
    // ensure() (a PUT to the ended channel, non-strict) makes a new, empty channel.
    const made = await b.ensure('poll2')
    assert.equal(made.config, undefined)
  })
})
