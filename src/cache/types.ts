/** The contract of a cache tier, implemented by `memory.ts` and `memcached.ts` beside this file. */

/** A byte cache tier (memory, memcached). Values are opaque bytes with a lifetime. */
export interface CacheStore {
  readonly name: string
  get(key: string): Promise<Buffer | undefined>
  /**
   * Optional, for tiers of several zones: a read of the node's own zone that takes a value
   * absent there for a miss, without asking the other zones (a zone that fails, or holds a
   * broken copy, is read past as by `get`). Polling for values that mostly do not exist yet
   * costs one round trip instead of one per zone.
   */
  getLocal?(key: string): Promise<Buffer | undefined>
  set(key: string, value: Uint8Array, ttlMs: number): Promise<void>
  delete(key: string): Promise<void>
  close(): Promise<void>
}
