/**
 * One storage read per node (docs/delivery.md#one-read-per-node): a `serve` with two
 * delivery workers, each with its own memory tier, answers bursts of concurrent GETs of a
 * body neither has with one storage read, the worker that did not read it getting it from the
 * one that did (`liveorigin_cache_operations_total{tier="node",result="hit"}`).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, it } from 'node:test'
import { type CliOrigin, startCli, waitReady } from '../helpers/cli.js'
import { metricValue } from '../helpers/origin.js'

const dataDir = mkdtempSync(join(tmpdir(), 'liveorigin-nodeflight-'))
let cli: CliOrigin

before(async () => {
  cli = await startCli(['--data-dir', dataDir], { LIVEORIGIN_DELIVERY_WORKERS: '2' })
  await waitReady(cli)
})
after(async () => {
  cli?.child.kill('SIGTERM')
  await cli?.exited
  rmSync(dataDir, { recursive: true, force: true })
})

/** A GET on a connection of its own (so that the kernel spreads them over the workers). */
function getAlone(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (c: Buffer) => parts.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }))
      res.on('error', reject)
    })
      .on('error', reject)
      .end()
  })
}

async function counters() {
  const text = await fetch(`${cli.control}/metrics`).then((r) => r.text())
  return {
    reads: metricValue(text, 'liveorigin_object_reads_total'),
    handed: metricValue(text, 'liveorigin_cache_operations_total', {
      tier: 'node',
      op: 'get',
      result: 'hit',
    }),
  }
}

it('bursts of GETs over two delivery workers: one storage read per body', { timeout: 240_000 }, async () => {
  let handed = 0
  for (let i = 1; i <= 8 && handed < 2; i++) {
    const body = randomBytes(256 * 1024)
    const put = await fetch(`${cli.ingest}/nf/v/${i}.m4s`, {
      method: 'PUT',
      body,
      headers: { 'Pipeline-Id': 'east' },
    })
    assert.equal(put.status, 201)
    const before = await counters()
    const answers = await Promise.all(
      Array.from({ length: 32 }, () => getAlone(`${cli.delivery}/nf/v/${i}.m4s`)),
    )
    for (const a of answers) {
      assert.equal(a.status, 200)
      assert.ok(a.body.equals(body))
    }
    const now = await counters()
    assert.equal(now.reads - before.reads, 1, `object ${i}: one storage read for the node`)
    handed += now.handed - before.handed
  }
  // Without the node's single flight both workers would have read: the test must have seen
  // a body handed from one worker to the other.
  assert.ok(handed >= 1, 'no burst reached both workers')
})
