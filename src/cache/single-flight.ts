/**
 * Single flight: concurrent callers asking for the same key share one call (docs/protocol.md#delivery: many
 * requests for one object cost one storage read). The call is forgotten as soon as it
 * settles, so the next caller starts a fresh one; nothing is cached here.
 */

/** Collapses concurrent calls per key into one. */
export class SingleFlight<K, V> {
  readonly #calls = new Map<K, Promise<V>>()

  /** The running call for `key`, or a new one made with `fn`. Every caller gets its result or error. */
  do(key: K, fn: () => Promise<V>): Promise<V> {
    const running = this.#calls.get(key)
    if (running) return running
    const call = (async () => fn())().finally(() => {
      if (this.#calls.get(key) === call) this.#calls.delete(key)
    })
    this.#calls.set(key, call)
    return call
  }

  /**
   * Let later callers of `key` start a new call instead of joining the running one (e.g. a
   * commit just landed, and a listing started before it would miss it). The running call
   * still settles for those who joined it.
   */
  forget(key: K): void {
    this.#calls.delete(key)
  }

  /** Keys with a call in progress. */
  inFlight(): number {
    return this.#calls.size
  }
}
