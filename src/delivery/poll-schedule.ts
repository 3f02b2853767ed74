/**
 * When a node polls for an object that requests are held for (docs/running-at-scale.md#held-requests).
 * A node hears of commits made in its own process (or fleet) on the bus; commits made on
 * other nodes it learns by polling, and this schedule decides when, and which polls may read
 * storage. Pure: times in, times out.
 *
 * - Nothing is polled before the object is due (A(N) for a segment): it cannot have been
 *   committed on time before then, and a commit heard on the bus releases at once anyway.
 *   The first poll is at A(N), or at once for a hold that begins later.
 * - Polls read the node's own cache zone only. The interval starts at `firstMs` and doubles,
 *   up to `dueMaxMs` until the end of the grace window (A(N) + G, when a punctual commit has
 *   arrived) and up to `lateMaxMs` after it. Nothing shortens it again.
 * - One poll reads storage: the first at or after A(N) + G, when the hold began before
 *   then (a hold that begins later has just read storage). The deadline's own re-read is the
 *   other storage read.
 */

export interface PollScheduleOptions {
  /** First interval (`delivery.holdPollMs`). */
  readonly firstMs: number
  /** Longest interval until the grace window ends (`delivery.holdPollMaxMs`). */
  readonly dueMaxMs: number
  /** Longest interval after it (`delivery.holdPollLateMaxMs`). */
  readonly lateMaxMs: number
}

export const DEFAULT_POLL_SCHEDULE: PollScheduleOptions = { firstMs: 10, dueMaxMs: 40, lateMaxMs: 200 }

/**
 * When the object of a hold is due, as the handler knows it. Neither given (an LL-HLS
 * playlist): polled at once, with intervals up to `dueMaxMs` throughout, storage never (the
 * deadline's re-read is the storage read).
 */
export interface PollTiming {
  /** When the object is due (A(N)); polling starts then. Omitted: at once. */
  readonly dueAt?: number
  /** The end of the grace window (A(N) + G); omitted: `dueAt`. */
  readonly graceUntil?: number
}

/** The state of one object's polling. */
export interface PollPlan {
  /** When the next poll runs (epoch ms). */
  readonly at: number
  /** The interval after this poll, before the cap (doubles with every poll). */
  readonly nextMs: number
  /** Whether the next poll reads storage. */
  readonly storage: boolean
  /** When the grace window ends. */
  readonly graceUntil: number
  /** Whether the storage read is still to come. */
  readonly storagePending: boolean
}

/** The first poll of a hold that began at `startAt` (at A(N), or at once when that is past). */
export function firstPoll(startAt: number, timing: PollTiming, options: PollScheduleOptions): PollPlan {
  const dueAt = timing.dueAt ?? startAt
  const graceUntil =
    timing.dueAt === undefined && timing.graceUntil === undefined
      ? Number.POSITIVE_INFINITY
      : Math.max(timing.graceUntil ?? dueAt, dueAt)
  // A hold that began after the grace window read storage just before it began.
  const storagePending = startAt < graceUntil && graceUntil !== Number.POSITIVE_INFINITY
  return withStorage({
    at: Math.max(dueAt, startAt),
    nextMs: options.firstMs,
    graceUntil,
    storagePending,
    storage: false,
  })
}

/** The poll after `plan`'s. */
export function nextPoll(plan: PollPlan, options: PollScheduleOptions): PollPlan {
  const storagePending = plan.storagePending && !plan.storage
  const cap = plan.at < plan.graceUntil ? options.dueMaxMs : options.lateMaxMs
  const intervalMs = Math.min(plan.nextMs, cap)
  return withStorage({
    at: plan.at + intervalMs,
    // Bounded so that it never overflows; the caps are far below it.
    nextMs: Math.min(plan.nextMs * 2, 2 ** 30),
    graceUntil: plan.graceUntil,
    storagePending,
    storage: false,
  })
}

function withStorage(plan: PollPlan): PollPlan {
  return { ...plan, storage: plan.storagePending && plan.at >= plan.graceUntil }
}

/** What polling costs one held object, from when it is due until it is released. */
export interface PollCost {
  /** Polls (each one read of the local cache zone). */
  readonly polls: number
  /** Polls that read storage (besides the local zone). */
  readonly storagePolls: number
  /** When the last of them ran (NaN when there was none). */
  readonly lastAt: number
}

/**
 * Polls made for an object held from `startAt` whose commit is seen by the first poll at or
 * after `releasedAt` (`Infinity`: never, until `endAt`, the deadline).
 */
export function pollCost(
  startAt: number,
  timing: PollTiming,
  releasedAt: number,
  endAt: number,
  options: PollScheduleOptions,
): PollCost {
  let polls = 0
  let storagePolls = 0
  let lastAt = Number.NaN
  for (let p = firstPoll(startAt, timing, options); p.at < endAt; p = nextPoll(p, options)) {
    polls++
    lastAt = p.at
    if (p.storage) storagePolls++
    if (p.at >= releasedAt) break
  }
  return { polls, storagePolls, lastAt }
}
