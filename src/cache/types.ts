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
  /**
   * Optional: logs of small records that several writers add to at once (candidate lists).
   * `appendLog` appends `record` (its own bytes, e.g. one line) to the log at `key` in every
   * zone; where the log is absent it creates it, with lifetime `ttlMs`, holding `opening` (if
   * given) then `record`. Appends are atomic, so no writer's record is ever lost to another's.
   * A zone that fails the append drops its copy of the log, so that its readers fall back to
   * storage rather than read a log without the record. Resolves to whether the log was
   * created in some zone.
   */
  appendLog?(key: string, record: Uint8Array, ttlMs: number, opening?: Uint8Array): Promise<boolean>
  /** Optional: appends `record` to the log at `key` in every zone where the log exists; never creates one. */
  extendLog?(key: string, record: Uint8Array): Promise<void>
  /**
   * Optional: the log at `key`: the records of every zone that holds it, local zone first (a
   * record that one writer could not append to one zone is still read by that zone's readers);
   * undefined when no zone holds it. With `localOnly`, the local zone's log alone, and a log
   * absent from it is a miss (a local zone that fails is read past: every other zone's).
   */
  getLog?(key: string, localOnly?: boolean): Promise<Buffer | undefined>
  delete(key: string): Promise<void>
  close(): Promise<void>
}
