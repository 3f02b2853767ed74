/**
 * The `embedded` storage driver: `StorageDriver` on LMDB (`lmdb` package) in one directory
 * on local disk, for the single-machine shape (docs/protocol.md#deployment-shapes, docs/storage.md). Several processes of one machine
 * open the same directory at once (LMDB's lock file coordinates them): ingest writes, delivery
 * reads.
 *
 * One LMDB environment at `<dataDir>/lmdb` holds four named databases, all with
 * ordered-binary array keys (elements separated by a 0x00 byte, so a key is a prefix of
 * every longer key that starts with the same elements, and nothing else sorts between them):
 * - `objects`  [channel, path, pipeline] → ObjectMeta (msgpack). Every pipeline's copy of one
 *   object is adjacent, so `list(channel, path)` is one range scan.
 * - `chunks`   [token, index] → raw bytes.
 * - `records`  [namespace, id] → JSON document; `listRecords` is one range scan.
 * - `recordExpiry` [namespace, id] → expiresAt of a record that expires (none: it never does).
 * - `expiry`   [expiresAt, 'o', channel, path, pipeline, token], [expiresAt, 'c', token, index]
 *   or [expiresAt, 'r', namespace, id] → empty. An index ordered by time: `sweep(now)` reads
 *   only the entries that are due.
 *
 * Durability: lmdb-js batches writes into transactions committed on a writer thread; with
 * `overlappingSync` (its default on Linux) the write promise resolves when the transaction
 * is committed and visible, and the fsync follows outside the write lock. `commit`, `remove`
 * and the record writes therefore also wait for `env.flushed`: they resolve once the data
 * file is synced, which covers every earlier transaction, the object's chunks included.
 * Chunk writes only wait for their commit, since a chunk matters only once its commit
 * record is durable.
 */

import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Database, open, type RootDatabase } from 'lmdb'
import { z } from 'zod'
import { checked } from '../cache/options.js'
import type { DriverCapabilities, ObjectMeta, StorageDriver } from './types.js'

const DEFAULT_MAP_SIZE = 256 * 2 ** 30
const DEFAULT_MAX_READERS = 126
const DEFAULT_SWEEP_BATCH = 1000

const atLeast = (min: number) =>
  z
    .number()
    .int({ error: `must be an integer ≥ ${min}` })
    .min(min, { error: `must be an integer ≥ ${min}` })

/** Options of `createEmbeddedDriver`. */
export const embeddedOptions = z.strictObject({
  /** Directory of the store; created when missing. The LMDB files live in `<dataDir>/lmdb`. */
  dataDir: z.string({ error: 'must be a non-empty string' }).min(1, 'must be a non-empty string'),
  /**
   * Upper bound of the data file in bytes (LMDB's map size: address space reserved, not disk
   * used; the file grows with the data). Every process must be able to map it. Default 256 GiB.
   */
  mapSize: atLeast(2 ** 20).default(DEFAULT_MAP_SIZE),
  /** Concurrent read transactions across all processes. Default 126. */
  maxReaders: atLeast(1).default(DEFAULT_MAX_READERS),
  /** Expiry entries deleted per write transaction in `sweep`. Default 1000. */
  sweepBatch: atLeast(1).default(DEFAULT_SWEEP_BATCH),
})
export type EmbeddedDriverOptions = z.input<typeof embeddedOptions>

const EMPTY = Buffer.alloc(0)

type Key = Array<string | number>

function checkName(what: string, value: string): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`embedded driver: ${what} must be a non-empty string`)
  }
}

/**
 * Open (or create) the embedded store under `options.dataDir`. Opening is synchronous and
 * cheap; several processes may hold the same directory open at once.
 */
export function createEmbeddedDriver(options: EmbeddedDriverOptions): StorageDriver {
  const opts = checked(embeddedOptions, options, 'the embedded storage driver')
  const path = join(opts.dataDir, 'lmdb')
  mkdirSync(path, { recursive: true })
  // Never noSync, noMetaSync, useWritemap or mapAsync: each trades crash safety for speed.
  const env: RootDatabase = open({
    path,
    mapSize: opts.mapSize,
    maxReaders: opts.maxReaders,
    maxDbs: 8,
  })
  const objects: Database<ObjectMeta, Key> = env.openDB({ name: 'objects' })
  const chunks: Database<Uint8Array, Key> = env.openDB({ name: 'chunks', encoding: 'binary' })
  const records: Database<unknown, Key> = env.openDB({ name: 'records', encoding: 'json' })
  const expiry: Database<Buffer, Key> = env.openDB({ name: 'expiry', encoding: 'binary' })
  const recordExpiry: Database<number, Key> = env.openDB({ name: 'recordExpiry' })
  /** Whether a record read now is past its expiry (sweep may not have dropped it yet). */
  const expired = (namespace: string, id: string, now = Date.now()): boolean => {
    const at = recordExpiry.get([namespace, id])
    return at !== undefined && at <= now
  }
  let closed = false

  const ensureOpen = () => {
    if (closed) throw new Error('embedded driver: store is closed')
  }
  const durable = async () => {
    await env.flushed
  }
  const objectExpiryKey = (m: ObjectMeta): Key => [m.expiresAt, 'o', m.channel, m.path, m.pipeline, m.token]

  const capabilities: DriverCapabilities = { nativeTtl: false, multiProcess: true }

  return {
    name: 'embedded',
    capabilities,

    async putChunk(token, index, data, expiresAt) {
      ensureOpen()
      checkName('token', token)
      await env.batch(() => {
        chunks.put([token, index], data)
        if (expiresAt > 0) expiry.put([expiresAt, 'c', token, index], EMPTY)
      })
    },

    async getChunk(token, index) {
      ensureOpen()
      return chunks.getBinary([token, index]) ?? undefined
    },

    async deleteChunks(token, count) {
      ensureOpen()
      if (count <= 0) return
      // Their expiry entries stay behind; `sweep` drops them when due, finding nothing to delete.
      await env.batch(() => {
        for (let i = 0; i < count; i++) chunks.remove([token, i])
      })
    },

    // `writeOnce` changes nothing here: the replaced record is read inside the write
    // transaction, at no cost beyond the write itself.
    async commit(meta) {
      ensureOpen()
      checkName('channel', meta.channel)
      checkName('path', meta.path)
      checkName('pipeline', meta.pipeline)
      checkName('token', meta.token)
      const key: Key = [meta.channel, meta.path, meta.pipeline]
      const record: ObjectMeta = { ...meta }
      const previous = await env.transaction(() => {
        const old = objects.get(key)
        if (old && old.expiresAt > 0) expiry.removeSync(objectExpiryKey(old))
        objects.putSync(key, record)
        if (record.expiresAt > 0) expiry.putSync(objectExpiryKey(record), EMPTY)
        return old
      })
      await durable()
      return previous ?? undefined
    },

    async extend(meta, expiresAt) {
      ensureOpen()
      const key: Key = [meta.channel, meta.path, meta.pipeline]
      const result = await env.transaction(() => {
        const current = objects.get(key)
        if (!current || current.token !== meta.token) return undefined
        if (current.expiresAt === 0 || current.expiresAt >= expiresAt)
          return { meta: current, changed: false }
        // The chunks were written with the record's expiresAt: move their entries with it.
        for (let i = 0; i < current.chunks; i++) {
          expiry.removeSync([current.expiresAt, 'c', current.token, i])
          expiry.putSync([expiresAt, 'c', current.token, i], EMPTY)
        }
        expiry.removeSync(objectExpiryKey(current))
        const extended: ObjectMeta = { ...current, expiresAt }
        objects.putSync(key, extended)
        expiry.putSync(objectExpiryKey(extended), EMPTY)
        return { meta: extended, changed: true }
      })
      if (result?.changed) await durable()
      return result?.meta
    },

    async list(channel, path) {
      ensureOpen()
      // The read snapshot lives until the next event-loop turn; another process may have
      // committed since (the bus tells us so), and a listing must see that commit.
      env.resetReadTxn()
      const found: ObjectMeta[] = []
      for (const { key, value } of objects.getRange({ start: [channel, path] })) {
        if (key[0] !== channel || key[1] !== path) break
        found.push(value)
      }
      return found
    },

    async remove(key) {
      ensureOpen()
      const k: Key = [key.channel, key.path, key.pipeline]
      const removed = await env.transaction(() => {
        const old = objects.get(k)
        if (!old) return undefined
        objects.removeSync(k)
        if (old.expiresAt > 0) expiry.removeSync(objectExpiryKey(old))
        return old
      })
      if (removed) await durable()
      return removed
    },

    async putRecord(namespace, id, value, expiresAt = 0) {
      ensureOpen()
      checkName('namespace', namespace)
      checkName('id', id)
      if (value === undefined) throw new TypeError('embedded driver: a record value cannot be undefined')
      await env.transaction(() => {
        records.putSync([namespace, id], value)
        if (expiresAt > 0) {
          recordExpiry.putSync([namespace, id], expiresAt)
          expiry.putSync([expiresAt, 'r', namespace, id], EMPTY)
        } else {
          recordExpiry.removeSync([namespace, id])
        }
      })
      await durable()
    },

    async getRecord<T>(namespace: string, id: string) {
      ensureOpen()
      env.resetReadTxn()
      if (expired(namespace, id)) return undefined
      return records.get([namespace, id]) as T | undefined
    },

    async listRecords<T>(namespace: string) {
      ensureOpen()
      env.resetReadTxn()
      const out: Array<{ id: string; value: T }> = []
      const now = Date.now()
      for (const { key, value } of records.getRange({ start: [namespace] })) {
        if (key[0] !== namespace) break
        if (expired(namespace, String(key[1]), now)) continue
        out.push({ id: String(key[1]), value: value as T })
      }
      return out
    },

    async deleteRecord(namespace, id) {
      ensureOpen()
      const removed = await env.transaction(() => {
        recordExpiry.removeSync([namespace, id])
        return records.removeSync([namespace, id])
      })
      if (removed) await durable()
    },

    async sweep(now) {
      ensureOpen()
      let removed = 0
      for (;;) {
        env.resetReadTxn()
        const due: Key[] = []
        for (const key of expiry.getKeys({ limit: opts.sweepBatch })) {
          if ((key[0] as number) > now) break
          due.push(key)
        }
        if (due.length === 0) break
        removed += await env.transaction(() => {
          let n = 0
          for (const key of due) {
            if (key[1] === 'c') {
              if (chunks.removeSync([key[2] as string, key[3] as number])) n++
            } else if (key[1] === 'r') {
              const recordKey: Key = [key[2] as string, key[3] as string]
              // A later putRecord moved or removed the expiry: this entry no longer applies.
              if (recordExpiry.get(recordKey) === key[0]) {
                recordExpiry.removeSync(recordKey)
                if (records.removeSync(recordKey)) n++
              }
            } else {
              const objectKey: Key = [key[2] as string, key[3] as string, key[4] as string]
              const current = objects.get(objectKey)
              // A newer commit of the same key has its own entry; only the record this entry names goes.
              if (current && current.token === key[5] && current.expiresAt === key[0]) {
                objects.removeSync(objectKey)
                n++
              }
            }
            expiry.removeSync(key)
          }
          return n
        })
        if (due.length < opts.sweepBatch) break
      }
      return removed
    },

    async ping() {
      ensureOpen()
      records.get(['', ''])
    },

    async close() {
      if (closed) return
      closed = true
      await env.close()
    },
  }
}
