/**
 * Held requests at the live edge. Requests waiting for the same object share one entry with
 * one timer and, while anyone waits, one poll of storage; a commit releases them all at
 * once. A waiter whose client goes away is removed immediately.
 *
 * The table does not answer requests: it calls each waiter's `wake` with the reason, and the
 * delivery handler re-resolves the object once for all of them (single flight).
 */

export type WakeReason = 'commit' | 'deadline'

/** What requests wait for: one object of one channel. */
export interface HeldObject {
  readonly channel: string
  readonly path: string
}

export interface Waiter {
  readonly object: HeldObject
  readonly deadline: number
  readonly since: number
  wake(reason: WakeReason): void
}

interface Entry {
  readonly object: HeldObject
  waiters: Set<Waiter>
  timer: NodeJS.Timeout | undefined
  timerAt: number
  poll: NodeJS.Timeout | undefined
}

export interface HoldTableOptions {
  now?: () => number
  /**
   * Called every `pollMs` for a key while it has waiters (`attempt` counts from 1); resolves
   * true when something committed.
   */
  poll?: (object: HeldObject, attempt: number) => Promise<boolean>
  pollMs?: number
}

export class HoldTable {
  readonly #entries = new Map<string, Entry>()
  readonly #now: () => number
  readonly #poll: ((object: HeldObject, attempt: number) => Promise<boolean>) | undefined
  readonly #pollMs: number
  #count = 0

  constructor(options: HoldTableOptions = {}) {
    this.#now = options.now ?? Date.now
    this.#poll = options.poll
    this.#pollMs = options.pollMs ?? 10
  }

  /** Requests currently held. */
  get size(): number {
    return this.#count
  }

  /** Keys with at least one waiter. */
  get keys(): number {
    return this.#entries.size
  }

  /** The earliest deadline among the waiters of `object`; undefined when nobody waits for it. */
  earliestDeadline(object: HeldObject): number | undefined {
    return this.#entries.get(keyOf(object))?.timerAt
  }

  /** Adds a waiter; returns a function that removes it (idempotent). */
  add(object: HeldObject, deadline: number, wake: (reason: WakeReason) => void): () => boolean {
    const key = keyOf(object)
    let entry = this.#entries.get(key)
    if (!entry) {
      entry = {
        object: { channel: object.channel, path: object.path },
        waiters: new Set(),
        timer: undefined,
        timerAt: Number.POSITIVE_INFINITY,
        poll: undefined,
      }
      this.#entries.set(key, entry)
      if (this.#poll) this.#startPoll(key, entry)
    }
    const waiter: Waiter = { object: entry.object, deadline, since: this.#now(), wake }
    entry.waiters.add(waiter)
    this.#count++
    if (deadline < entry.timerAt) this.#arm(key, entry, deadline)
    return () => this.#remove(key, waiter)
  }

  /** Wakes every waiter of `object` (it committed). */
  release(object: HeldObject): number {
    return this.#release(keyOf(object))
  }

  #release(key: string): number {
    const entry = this.#entries.get(key)
    if (!entry) return 0
    this.#drop(key, entry)
    const woken = [...entry.waiters]
    this.#count -= woken.length
    for (const w of woken) w.wake('commit')
    return woken.length
  }

  #remove(key: string, waiter: Waiter): boolean {
    const entry = this.#entries.get(key)
    if (!entry?.waiters.delete(waiter)) return false
    this.#count--
    if (entry.waiters.size === 0) this.#drop(key, entry)
    return true
  }

  #drop(key: string, entry: Entry): void {
    if (entry.timer) clearTimeout(entry.timer)
    if (entry.poll) clearTimeout(entry.poll)
    entry.timer = undefined
    entry.poll = undefined
    this.#entries.delete(key)
  }

  #arm(key: string, entry: Entry, at: number): void {
    if (entry.timer) clearTimeout(entry.timer)
    entry.timerAt = at
    entry.timer = setTimeout(() => this.#expire(key, entry), Math.max(0, at - this.#now()))
  }

  #expire(key: string, entry: Entry): void {
    entry.timer = undefined
    entry.timerAt = Number.POSITIVE_INFINITY
    const now = this.#now()
    let next = Number.POSITIVE_INFINITY
    const due: Waiter[] = []
    for (const w of entry.waiters) {
      if (w.deadline <= now) due.push(w)
      else next = Math.min(next, w.deadline)
    }
    for (const w of due) entry.waiters.delete(w)
    this.#count -= due.length
    if (entry.waiters.size === 0) this.#drop(key, entry)
    else if (next !== Number.POSITIVE_INFINITY) this.#arm(key, entry, next)
    for (const w of due) w.wake('deadline')
  }

  #startPoll(key: string, entry: Entry): void {
    let attempt = 0
    const tick = () => {
      entry.poll = undefined
      this.#poll!(entry.object, ++attempt).then(
        (changed) => {
          if (this.#entries.get(key) !== entry) return
          if (changed) this.#release(key)
          else entry.poll = setTimeout(tick, this.#pollMs)
        },
        () => {
          if (this.#entries.get(key) === entry) entry.poll = setTimeout(tick, this.#pollMs)
        },
      )
    }
    entry.poll = setTimeout(tick, this.#pollMs)
  }

  /** Wakes every waiter with 'deadline' and forgets them (shutdown). */
  clear(): void {
    for (const [key, entry] of [...this.#entries]) {
      this.#drop(key, entry)
      this.#count -= entry.waiters.size
      for (const w of entry.waiters) w.wake('deadline')
    }
  }
}

/** The table's own key of an object (never parsed back: the entry keeps the object). */
function keyOf(object: HeldObject): string {
  return `${object.channel}\u0000${object.path}`
}
