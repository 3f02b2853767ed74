/**
 * Holds a storage driver's chunk reads shut on demand, and fails them on demand: for tests of
 * what an answer does while its body is being read, or when that read fails.
 */
import { wrapDriver } from '../../src/storage/instrumented.js'
import type { StorageDriver } from '../../src/storage/types.js'

export class ChunkReadGate {
  #gate: { promise: Promise<void>; open: () => void } | undefined
  #passes = 0
  /** Chunk reads waiting at the gate now. */
  waiting = 0
  /** While set, every chunk read fails once the gate lets it through. */
  failing = false

  /** The wrapper to give the origin (its `wrapDriver` option). */
  readonly wrap = (driver: StorageDriver): StorageDriver =>
    wrapDriver(driver, async (op, call) => {
      if (op !== 'getChunk') return call()
      const gate = this.#gate
      if (gate && this.#passes-- <= 0) {
        this.waiting++
        try {
          await gate.promise
        } finally {
          this.waiting--
        }
      }
      if (this.failing) throw new Error('chunk read failed on purpose')
      return call()
    })

  /** From now on chunk reads wait until `open`, all but the first `passes` of them. */
  close(passes = 0): void {
    let open = () => {}
    const promise = new Promise<void>((resolve) => {
      open = resolve
    })
    this.#gate = { promise, open }
    this.#passes = passes
  }

  /** Lets every waiting chunk read go on, and the later ones through. */
  open(): void {
    this.#gate?.open()
    this.#gate = undefined
  }
}
