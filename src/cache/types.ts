/** The contract of a cache tier, implemented by `memory.ts` and `memcached.ts` beside this file. */

/** A byte cache tier (memory, memcached). Values are opaque bytes with a lifetime. */
export interface CacheStore {
  readonly name: string
  get(key: string): Promise<Buffer | undefined>
  set(key: string, value: Uint8Array, ttlMs: number): Promise<void>
  delete(key: string): Promise<void>
  close(): Promise<void>
}
