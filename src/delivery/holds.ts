/**
 * Held requests at the live edge. Requests waiting for the same object share one entry with
 * one timer and, while anyone waits, one poll for commits made where no bus reaches (on the
 * schedule of `poll-schedule.ts`: from the moment the object is due, backing off); a commit
 * releases them all at once. A waiter whose client goes away is removed immediately.
 *
 * The table does not answer requests: it calls each waiter's `wake` with the reason and, for
 * a commit, the release they share (one object per release, its identity only), on which the
 * delivery handler decides once for all of them what to answer.
 */

import {
  DEFAULT_POLL_SCHEDULE,
  firstPoll,
  nextPoll,
  type PollPlan,
  type PollScheduleOptions,
  type PollTiming,
} from './poll-schedule.js'

export type WakeReason = 'commit' | 'deadline'

/** What requests wait for: one object of one channel. */
export interface HeldObject {
  readonly channel: string
  readonly path: string
}

/** The requests woken by one commit share one: it names the release, and holds nothing. */
export type Release = object

export type Wake = (reason: WakeReason, release?: Release) => void

export interface Waiter {
  readonly object: HeldObject
  readonly deadline: number
  readonly since: number
  wake: Wake
}

interface Entry {
  readonly object: HeldObject
  waiters: Set<Waiter>
  timer: NodeJS.Timeout | undefined
  timerAt: number
  poll: NodeJS.Timeout | undefined
}

/** One poll of an object: `storage` when this poll may read storage, not only the local cache zone. */
export type PollFn = (object: HeldObject, poll: { attempt: number; storage: boolean }) => Promise<boolean>

export interface HoldTableOptions {
  now?: () => number
  /**
   * Called on the poll schedule for a key while it has waiters (`attempt` counts from 1);
   * resolves true when something committed.
   */
  poll?: PollFn
  /** The poll schedule (default `DEFAULT_POLL_SCHEDULE`). */
  schedule?: PollScheduleOptions
  /**
   * Commits may be made where this process's bus does not reach (other nodes), even when
   * they are not polled for (`delivery.holdPolling` off: peers' notices release, and the
   * deadline re-reads). Implied by `poll`.
   */
  remoteCommits?: boolean
}

export class HoldTable {
  readonly #entries = new Map<string, Entry>()
  readonly #now: () => number
  readonly #poll: PollFn | undefined
  readonly #schedule: PollScheduleOptions
  readonly #remote: boolean
  #count = 0

  constructor(options: HoldTableOptions = {}) {
    this.#now = options.now ?? Date.now
    this.#poll = options.poll
    this.#schedule = options.schedule ?? DEFAULT_POLL_SCHEDULE
    this.#remote = options.remoteCommits === true || options.poll !== undefined
  }

  /** Whether held objects are polled (commits may be made where the bus does not reach). */
  get polls(): boolean {
    return this.#poll !== undefined
  }

  /** Whether commits may be made where the bus does not reach (polled for or not). */
  get remoteCommits(): boolean {
    return this.#remote
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

  /**
   * Adds a waiter; returns a function that removes it (idempotent). `timing` (when the object
   * is due) sets when polling starts; the first waiter of an object sets it for all.
   */
  add(object: HeldObject, deadline: number, wake: Wake, timing: PollTiming = {}): () => boolean {
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
      if (this.#poll) this.#startPoll(key, entry, timing)
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
    const release: Release = {}
    for (const w of woken) w.wake('commit', release)
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

  #startPoll(key: string, entry: Entry, timing: PollTiming): void {
    let attempt = 0
    let plan: PollPlan = firstPoll(this.#now(), timing, this.#schedule)
    const schedule = () => {
      entry.poll = setTimeout(tick, Math.max(0, plan.at - this.#now()))
    }
    const again = () => {
      if (this.#entries.get(key) !== entry) return
      // A poll that ran late (a busy process) is not followed by a burst of catching up.
      do plan = nextPoll(plan, this.#schedule)
      while (plan.at <= this.#now() && !plan.storage)
      schedule()
    }
    const tick = () => {
      entry.poll = undefined
      // Timers run on real time; a poll is not due before the clock says so (as deadlines).
      if (plan.at > this.#now()) {
        schedule()
        return
      }
      this.#poll!(entry.object, { attempt: ++attempt, storage: plan.storage }).then((changed) => {
        if (this.#entries.get(key) !== entry) return
        if (changed) this.#release(key)
        else again()
      }, again)
    }
    schedule()
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
