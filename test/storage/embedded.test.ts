/**
 * The embedded (LMDB) driver: the shared conformance suite, then what is special to it:
 * several processes sharing one store, crash safety under `kill -9`, disk use that stays flat
 * over many write/expire cycles, and its options.
 */

import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface, type Interface } from 'node:readline'
import { after, describe, it } from 'node:test'
import { createEmbeddedDriver } from '../../src/storage/embedded.js'
import { ObjectStore } from '../../src/storage/object-store.js'
import type { ObjectMeta } from '../../src/storage/types.js'
import { bodyOf, driverConformance, patternBytes } from './driver-conformance.js'

const dirs: string[] = []
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'liveorigin-embedded-'))
  dirs.push(dir)
  return dir
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

driverConformance('embedded', async () => createEmbeddedDriver({ dataDir: tempDir() }))

const CHILD = join(import.meta.dirname, 'fixtures', 'embedded-child.ts')

/** A child process that runs commands against the store, one JSON line in, one out. */
class Child {
  readonly proc: ChildProcess
  readonly lines: Interface
  readonly #waiting: Array<(line: string) => void> = []
  readonly #buffered: string[] = []

  constructor(dataDir: string, ...args: string[]) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, ...args], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    this.lines = createInterface({ input: this.proc.stdout! })
    this.lines.on('line', (line) => {
      const w = this.#waiting.shift()
      if (w) w(line)
      else this.#buffered.push(line)
    })
  }

  next(): Promise<string> {
    const line = this.#buffered.shift()
    if (line !== undefined) return Promise.resolve(line)
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
      return Promise.reject(new Error('child exited before answering'))
    }
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`child exited (${code}) before answering`))
      this.proc.once('exit', onExit)
      this.#waiting.push((line) => {
        this.proc.off('exit', onExit)
        resolve(line)
      })
    })
  }

  async ask(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.proc.stdin!.write(`${JSON.stringify(command)}\n`)
    const answer = JSON.parse(await this.next()) as Record<string, unknown>
    if (answer.error) throw new Error(`child: ${answer.error}`)
    return answer
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return
    const exited = new Promise((resolve) => this.proc.once('exit', resolve))
    this.proc.stdin!.end()
    await exited
  }
}

describe('embedded: several processes share one store', () => {
  it('each process reads what the other committed, while both hold the store open', async () => {
    const dataDir = tempDir()
    const driver = createEmbeddedDriver({ dataDir })
    const objects = new ObjectStore(driver, { chunkSize: 64 * 1024 })
    const child = new Child(dataDir, 'serve')
    try {
      assert.equal((await child.next()) as string, '{"ready":true}')

      // The child writes; this process, opened before, sees it without reopening.
      const fromChild = await child.ask({
        op: 'write',
        channel: 'mp',
        path: 'v/1.m4s',
        pipeline: 'child',
        size: 300_000,
        seed: 1,
      })
      const [meta] = await objects.list('mp', 'v/1.m4s')
      assert.ok(meta, 'the commit of the other process is visible')
      assert.equal(meta.etag, fromChild.etag)
      assert.deepEqual(await objects.readAll(meta), patternBytes(300_000, 1))

      // This process writes; the child, still running, sees it.
      const mine = await objects.write(
        { channel: 'mp', path: 'v/1.m4s', pipeline: 'parent' },
        bodyOf(patternBytes(200_000, 2), 65536),
        {
          contentType: 'video/mp4',
          expiresAt: 0,
        },
      )
      const seen = await child.ask({ op: 'read', channel: 'mp', path: 'v/1.m4s' })
      assert.deepEqual(seen.objects, { child: fromChild.etag, parent: mine.meta.etag })
      assert.equal(
        (seen.sha256 as Record<string, string>).parent,
        createHash('sha256').update(patternBytes(200_000, 2)).digest('hex'),
      )

      // Control-plane records cross too.
      await driver.putRecord('channels', 'mp', { segmentDurationMs: 2000 })
      assert.deepEqual((await child.ask({ op: 'record', namespace: 'channels', id: 'mp' })).value, {
        segmentDurationMs: 2000,
      })

      // Both write at the same time: nothing is lost.
      const writes = Array.from({ length: 20 }, (_, i) =>
        objects.write(
          { channel: 'mp', path: `c/${i}.m4s`, pipeline: 'parent' },
          bodyOf(patternBytes(100_000, i)),
          {
            contentType: 'video/mp4',
            expiresAt: 0,
          },
        ),
      )
      const childWrites = child.ask({
        op: 'writeMany',
        channel: 'mp',
        prefix: 'c/',
        count: 20,
        pipeline: 'child',
        size: 100_000,
      })
      await Promise.all([...writes, childWrites])
      for (let i = 0; i < 20; i++) {
        const listed = await objects.list('mp', `c/${i}.m4s`)
        assert.deepEqual(listed.map((m) => m.pipeline).sort(), ['child', 'parent'])
        for (const m of listed) assert.equal((await objects.readAll(m)).byteLength, 100_000)
      }
      const childView = await child.ask({ op: 'count', channel: 'mp', prefix: 'c/', count: 20 })
      assert.equal(childView.copies, 40)
    } finally {
      await child.stop()
      await driver.close()
    }
  })
})

describe('embedded: crash safety', () => {
  it('every object whose commit resolved survives kill -9 of the writer, whole', async () => {
    const dataDir = tempDir()
    const committed: Array<{ path: string; etag: string; seed: number; size: number }> = []
    // The writes in progress when the kill came (the child's paths and bytes are deterministic).
    const cutShort: Array<{ path: string; seed: number; size: number }> = []
    for (let round = 0; round < 3; round++) {
      // The child commits objects back to back and reports each as soon as its commit
      // resolves; we kill it the moment we read the nth report, mid-way through the next write.
      const child = new Child(dataDir, 'crash', String(round))
      const stopAfter = 5 + round * 4
      for (let n = 0; n < stopAfter; n++) {
        const line = JSON.parse(await child.next()) as {
          path: string
          etag: string
          seed: number
          size: number
        }
        committed.push(line)
      }
      child.proc.kill('SIGKILL')
      await new Promise((resolve) => child.proc.once('exit', resolve))
      cutShort.push({
        path: `r${round}/${stopAfter}.m4s`,
        size: 1_000_000 + stopAfter * 7919,
        seed: round * 1000 + stopAfter + 1,
      })
    }
    for (let round = 0; round < 3; round++) {
      const child = new Child(dataDir, 'selfkill', String(round))
      committed.push(JSON.parse(await child.next()))
      const signal = await new Promise((resolve) => child.proc.once('exit', (_code, sig) => resolve(sig)))
      assert.equal(signal, 'SIGKILL')
    }
    const driver = createEmbeddedDriver({ dataDir })
    const objects = new ObjectStore(driver)
    try {
      for (const c of committed) {
        const [meta] = await objects.list('crash', c.path)
        assert.ok(meta, `${c.path} was reported committed but is missing`)
        assert.equal(meta.etag, c.etag)
        const bytes = await objects.readAll(meta)
        assert.deepEqual(bytes, patternBytes(c.size, c.seed), `${c.path} is not whole`)
      }
      for (const c of cutShort) {
        for (const meta of await objects.list('crash', c.path)) {
          assert.deepEqual(
            await objects.readAll(meta),
            patternBytes(c.size, c.seed),
            `${c.path} is visible but torn`,
          )
        }
      }
      // The store still takes writes after the crashes (no stale lock).
      const { meta } = await objects.write(
        { channel: 'crash', path: 'after', pipeline: 'a' },
        bodyOf(patternBytes(10)),
        {
          contentType: 'text/plain',
          expiresAt: 0,
        },
      )
      assert.equal(meta.size, 10)
    } finally {
      await driver.close()
    }
  })
})

describe('embedded: disk use', () => {
  it('stays flat over many write/expire/sweep cycles', async () => {
    const dataDir = tempDir()
    const driver = createEmbeddedDriver({ dataDir })
    const objects = new ObjectStore(driver, { replacedGraceMs: 0 })
    const dataFile = join(dataDir, 'lmdb', 'data.mdb')
    const size = 2 * 1024 * 1024 + 12345
    const live = 6
    let t = 1_000_000
    const sizes: number[] = []
    try {
      for (let cycle = 0; cycle < 40; cycle++) {
        // A live window of `live` segments: each cycle adds one that expires `live` cycles later,
        // and rewrites a manifest in place (the replaced copy's chunks are deleted).
        t += 1000
        await objects.write(
          { channel: 'disk', path: `v/${cycle}.m4s`, pipeline: 'a' },
          bodyOf(patternBytes(size, cycle), 65536),
          {
            contentType: 'video/mp4',
            expiresAt: t + live * 1000,
          },
        )
        await objects.write(
          { channel: 'disk', path: 'manifest.mpd', pipeline: 'a' },
          bodyOf(patternBytes(50_000, cycle)),
          {
            contentType: 'application/dash+xml',
            expiresAt: 0,
          },
        )
        await objects.flushDeletions()
        await driver.sweep(t)
        sizes.push(statSync(dataFile).size)
      }
      const warm = sizes[2 * live]!
      const end = sizes.at(-1)!
      if (process.env.SHOW_SIZES) console.log(sizes.join(' '))
      assert.ok(end <= warm * 1.25, `data file grew from ${warm} to ${end} bytes: ${sizes.join(' ')}`)
      assert.ok(end < (live + 4) * size * 1.5, `data file is ${end} bytes for ${live} live objects`)
      // What is still there is what should be.
      assert.equal((await objects.list('disk', 'v/0.m4s')).length, 0)
      assert.equal((await objects.list('disk', 'v/39.m4s')).length, 1)
    } finally {
      await driver.close()
    }
  })
})

describe('embedded: options', () => {
  it('rejects bad options with a TypeError naming the option', () => {
    assert.throws(() => createEmbeddedDriver({ dataDir: '' }), { name: 'TypeError', message: /dataDir/ })
    assert.throws(() => createEmbeddedDriver({} as never), { name: 'TypeError', message: /dataDir/ })
    assert.throws(() => createEmbeddedDriver({ dataDir: tempDir(), mapSize: 5 }), {
      name: 'TypeError',
      message: /mapSize/,
    })
    assert.throws(() => createEmbeddedDriver({ dataDir: tempDir(), maxReaders: 0 }), {
      name: 'TypeError',
      message: /maxReaders/,
    })
    assert.throws(() => createEmbeddedDriver({ dataDir: tempDir(), sweepBatch: 1.5 }), {
      name: 'TypeError',
      message: /sweepBatch/,
    })
    assert.throws(() => createEmbeddedDriver({ dataDir: tempDir(), noSync: true } as never), {
      name: 'TypeError',
      message: /noSync/,
    })
  })

  it('keeps its data across close and reopen, and refuses work once closed', async () => {
    const dataDir = tempDir()
    const first = createEmbeddedDriver({ dataDir })
    const objects = new ObjectStore(first)
    const { meta } = await objects.write(
      { channel: 'ro', path: 'x', pipeline: 'a' },
      bodyOf(patternBytes(5000)),
      {
        contentType: 'application/octet-stream',
        expiresAt: 0,
      },
    )
    await first.putRecord('tokens', 'east', { hash: 'abc' })
    await first.close()
    await assert.rejects(first.list('ro', 'x'), /closed/)
    await assert.rejects(first.ping(), /closed/)
    const second = createEmbeddedDriver({ dataDir })
    try {
      assert.deepEqual(await second.list('ro', 'x'), [meta] satisfies ObjectMeta[])
      assert.deepEqual(await second.getRecord('tokens', 'east'), { hash: 'abc' })
      assert.deepEqual(await new ObjectStore(second).readAll(meta), patternBytes(5000))
    } finally {
      await second.close()
    }
  })
})
