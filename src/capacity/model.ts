/**
 * The capacity model of the distributed shape (docs/capacity.md): from the shape of an event
 * (channels, renditions, segment duration and size, pipelines, DVR window, cache zones,
 * origin nodes, CDN PoPs) to the load on each origin node, on Cassandra and on memcached.
 * Pure: numbers in, numbers out. The per-operation costs are the code's own: `putCosts`
 * and `READ_COSTS` are checked against counted operations in test/capacity/model.test.ts,
 * and held objects are costed by the poll schedule the hold table runs (`poll-schedule.ts`).
 */

import { memcachedLayout } from '../cache/memcached.js'
import { DEFAULT_POLL_SCHEDULE, type PollScheduleOptions, pollCost } from '../delivery/poll-schedule.js'

/** The event: what is streamed, and by how many machines to how many CDN PoPs. */
export interface EventShape {
  readonly channels: number
  readonly renditions: number
  /** D (ms). */
  readonly segmentDurationMs: number
  /** Average segment size (bytes). */
  readonly segmentBytes: number
  /** Pipelines (packagers) writing every segment. */
  readonly pipelines: number
  readonly dvrWindowMs: number
  /** memcached zones (each holds a full copy). */
  readonly zones: number
  /** Origin nodes (the load balancer spreads requests over them evenly). */
  readonly nodes: number
  /** CDN PoPs, each asking every new segment of every rendition once. */
  readonly pops: number
  /** H (ms), default D. */
  readonly holdWindowMs?: number
  /** G (ms), default D/4. */
  readonly selectionGraceMs?: number
  /** R (ms), default 2·D. */
  readonly lateAllowanceMs?: number
  /** When, after A(N), the first copy of a segment is committed and written through (default 100 ms). */
  readonly commitAfterMs?: number
  /**
   * When PoPs ask for a segment: `due` at A(N) (the live edge), `hold-window` at A(N) − H
   * (as soon as the 404 they cached for it expires).
   */
  readonly arrival?: 'due' | 'hold-window'
  /** Storage chunk size (`storage.chunkSize`, default 1 MiB). */
  readonly chunkSize?: number
  /** Cassandra replication factor (default 3). */
  readonly replicationFactor?: number
  /** The memcached servers' item size limit (`cache.memcached.itemMaxBytes`, default 1 MiB). */
  readonly itemMaxBytes?: number
}

/** How held objects are polled: `backoff` (`poll-schedule.ts`), or `fixed`, every 10 ms from the first waiter, every zone each poll and storage every tenth (before the schedule). */
export type Polling = 'backoff' | 'fixed'

/** Storage driver and shared-tier calls of one PUT of a media segment (ingest, then the write-through). */
export interface PutCosts {
  /** `StorageDriver` calls: chunk rows and the commit; no listing. */
  readonly driver: { readonly putChunk: number; readonly commit: number }
  /** Shared cache tier calls: the commit announced and confirmed in the candidate log, the body. */
  readonly shared: { readonly appendLog: number; readonly set: number }
}

/**
 * One PUT of a `bytes`-long media segment: `ObjectStore.write` (a chunk row per `chunkSize`,
 * one write-once commit), with `ObjectReader.committing` before the commit and
 * `ObjectReader.written` after it: one append to the candidate log each, and the body.
 */
export function putCosts(bytes: number, chunkSize: number): PutCosts {
  return {
    driver: { putChunk: Math.max(1, Math.ceil(bytes / chunkSize)), commit: 1 },
    shared: { appendLog: 2, set: 1 },
  }
}

/**
 * What a new object costs once, whoever PUTs it first (`ObjectReader.committing`): the writer
 * whose announcement created the candidate log lists storage and seals the log (one append
 * to every zone). None when a reader had already sealed a log for it (a request made before
 * the first copy, which finds no copy and leaves a sealed empty log). Two writers that each
 * create the log in a different zone at the same moment both pay it.
 */
export const NEW_OBJECT_COSTS = { list: 1, extendLog: 1 } as const

/**
 * What Cassandra does per driver call (src/storage/cassandra.ts): a write-once commit (media
 * segments) is one write, without reading the record it replaces; every other call is one
 * statement. (A commit of a mutable object, a manifest, also reads the record it replaces.)
 */
export const CASSANDRA_STATEMENTS = {
  putChunk: { reads: 0, writes: 1 },
  commit: { reads: 0, writes: 1 },
  list: { reads: 1, writes: 0 },
} as const

/** Shared-tier and driver calls of the reads a node makes for an object. */
export const READ_COSTS = {
  /** A poll of the local zone (`ObjectReader.appeared` without storage): one local `getLog`. */
  poll: { getLogLocal: 1, getLog: 0, list: 0, appendLog: 0, extendLog: 0 },
  /**
   * A poll that may read storage, or a first read, of an object without a sealed log: one
   * `getLog` (every zone), the log opened (`appendLog`), one `list`, the seal (`extendLog`).
   * The log is then sealed for every node: later reads of the object, on any node, find it
   * (an upper bound for the held-object costs below, which count a `list` per storage poll).
   */
  missingList: { getLogLocal: 0, getLog: 1, list: 1, appendLog: 1, extendLog: 1 },
  /**
   * Reading the candidate log after a poll found a copy in it: one `getLog`, which reads the log
   * in every zone and merges them (a record one writer could not append to a zone is in another).
   */
  foundList: { getLogLocal: 0, getLog: 1, list: 0, appendLog: 0, extendLog: 0 },
} as const

/** Per held object per segment, on one node. */
export interface HeldObjectCost {
  /** memcached items read from the local zone. */
  readonly localItems: number
  /** memcached items read from other zones. */
  readonly otherItems: number
  /** Cassandra `list` reads. */
  readonly lists: number
  /** How long the first request is held, from its arrival to the poll that sees the commit (ms). */
  readonly heldMs: number
}

function timingOf(shape: EventShape) {
  const d = shape.segmentDurationMs
  return {
    d,
    h: shape.holdWindowMs ?? d,
    g: shape.selectionGraceMs ?? Math.floor(d / 4),
    r: shape.lateAllowanceMs ?? 2 * d,
    commit: shape.commitAfterMs ?? 100,
    arrival: shape.arrival ?? 'due',
  }
}

/**
 * What one node spends on one object it holds requests for, from the first request until the
 * poll that sees the commit, release included (the list, not the body). Times relative to A(N).
 */
export function heldObjectCost(
  shape: EventShape,
  polling: Polling,
  schedule: PollScheduleOptions = DEFAULT_POLL_SCHEDULE,
): HeldObjectCost {
  const t = timingOf(shape)
  const start = t.arrival === 'due' ? 0 : -t.h
  const others = shape.zones - 1
  // No copy by the deadline (A(N) + R): the waiters wake and read every zone and storage.
  const missing = t.commit >= t.r
  const deadlineRead = missing ? { local: 1, others, lists: 1 } : { local: 0, others: 0, lists: 0 }
  if (polling === 'fixed') {
    // The first request read every zone and storage; then a poll every 10 ms of every zone
    // (a miss in each), storage every tenth; the poll that finds the list reads it once more
    // (every zone).
    const polls = Math.max(1, Math.ceil((Math.min(t.commit, t.r) - start) / 10) - (missing ? 1 : 0))
    const storagePolls = Math.floor(polls / 10)
    return {
      localItems: 1 + polls + (missing ? deadlineRead.local : 1),
      otherItems: others * (polls + 1) + deadlineRead.others,
      lists: 1 + storagePolls + deadlineRead.lists,
      heldMs: missing ? t.r - start : polls * 10,
    }
  }
  // Held without a read (the segment is within its grace window, this node heard nothing of
  // it); polls on the schedule until the one that sees the commit, which is then read once more.
  const cost = pollCost(start, { dueAt: 0, graceUntil: t.g }, t.commit, t.r, schedule)
  return {
    localItems:
      cost.polls * READ_COSTS.poll.getLogLocal + (missing ? deadlineRead.local : READ_COSTS.foundList.getLog),
    otherItems:
      cost.storagePolls * others + (missing ? deadlineRead.others : others * READ_COSTS.foundList.getLog),
    lists: cost.storagePolls * READ_COSTS.missingList.list + deadlineRead.lists,
    heldMs: (missing ? t.r : cost.lastAt) - start,
  }
}

/** The model's answer: rates per second unless the name says otherwise. */
export interface Capacity {
  readonly objects: number
  /** PUTs per second, whole event / per node. */
  readonly putsPerSecond: number
  readonly putsPerSecondPerNode: number
  /** Ingest (bytes per day, before replication) and stored (bytes in the DVR window, replicas included). */
  readonly bytesPerDay: number
  readonly storedBytes: number
  /** Cassandra statements caused by one node (coordinator requests). */
  readonly storageWritesPerNode: number
  readonly storageReadsPerNode: number
  /** …of which reads made for held objects. */
  readonly storageReadsForHoldsPerNode: number
  /** Replica writes in the whole ring (statements × RF). */
  readonly replicaWritesPerSecond: number
  /** memcached item operations caused by one node. */
  readonly memcachedWritesPerNode: number
  readonly memcachedReadsPerNode: number
  /** …of which reads made for held objects. */
  readonly memcachedReadsForHoldsPerNode: number
  /** Requests held on one node at any moment (average). */
  readonly heldRequestsPerNode: number
  /** Objects one node holds requests for, per segment. */
  readonly heldObjectsPerNode: number
  readonly perHeldObject: HeldObjectCost
  /**
   * Peer notices one node sends (and as many it receives): one per PUT made on it to each
   * other node, or fewer requests when several wait for one peer (docs/running-at-scale.md#peer-notices).
   */
  readonly noticesPerNode: number
  /** Heartbeat statements of one node (one record written, the records listed, per `peers.heartbeatMs`). */
  readonly heartbeatStatementsPerNode: number
}

/** `peers.heartbeatMs` default: a heartbeat write and one listing per second. */
export const HEARTBEAT_MS = 1000

export function capacity(shape: EventShape, polling: Polling = 'backoff'): Capacity {
  check(shape)
  const t = timingOf(shape)
  const perSecond = 1000 / t.d
  const objects = shape.channels * shape.renditions
  const chunkSize = shape.chunkSize ?? 1024 * 1024
  const rf = shape.replicationFactor ?? 3
  const itemMax = shape.itemMaxBytes ?? 1024 * 1024
  const puts = objects * shape.pipelines * perSecond
  const putsNode = puts / shape.nodes
  const put = putCosts(shape.segmentBytes, chunkSize)
  const newObjectsNode = (objects * perSecond) / shape.nodes
  const statements = (kind: 'reads' | 'writes') =>
    put.driver.putChunk * CASSANDRA_STATEMENTS.putChunk[kind] +
    put.driver.commit * CASSANDRA_STATEMENTS.commit[kind]
  // A log append is one item; a body of a key like `b:<token>` is laid out in items.
  const bodyItems = memcachedLayout(40, shape.segmentBytes, itemMax).items
  // Each PoP's request for an object goes to one node at random: the chance that a node gets
  // at least one of them.
  const reached = 1 - (1 - 1 / shape.nodes) ** shape.pops
  const heldObjects = objects * reached
  const held = heldObjectCost(shape, polling)
  const requestsNode = (objects * shape.pops) / shape.nodes
  // Every node reads each new body once from the tier (then serves it from memory).
  const bodyReadsNode = heldObjects * bodyItems * perSecond
  const holdMemcached = heldObjects * (held.localItems + held.otherItems) * perSecond
  const holdLists = heldObjects * held.lists * perSecond
  return {
    objects,
    putsPerSecond: puts,
    putsPerSecondPerNode: putsNode,
    bytesPerDay: puts * shape.segmentBytes * 86_400,
    storedBytes: objects * shape.pipelines * shape.segmentBytes * (shape.dvrWindowMs / t.d) * rf,
    storageWritesPerNode: putsNode * statements('writes'),
    storageReadsPerNode:
      putsNode * statements('reads') +
      newObjectsNode * NEW_OBJECT_COSTS.list * CASSANDRA_STATEMENTS.list.reads +
      holdLists,
    storageReadsForHoldsPerNode: holdLists,
    replicaWritesPerSecond: puts * statements('writes') * rf,
    memcachedWritesPerNode:
      putsNode * shape.zones * (put.shared.appendLog + put.shared.set * bodyItems) +
      newObjectsNode * shape.zones * NEW_OBJECT_COSTS.extendLog,
    memcachedReadsPerNode: holdMemcached + bodyReadsNode,
    memcachedReadsForHoldsPerNode: holdMemcached,
    // Each request waits from its arrival (all at once) to the poll that sees the commit.
    heldRequestsPerNode: requestsNode * perSecond * (held.heldMs / 1000),
    heldObjectsPerNode: heldObjects,
    perHeldObject: held,
    noticesPerNode: putsNode * (shape.nodes - 1),
    heartbeatStatementsPerNode: 2 * (1000 / HEARTBEAT_MS),
  }
}

function check(shape: EventShape): void {
  for (const k of [
    'channels',
    'renditions',
    'segmentDurationMs',
    'segmentBytes',
    'pipelines',
    'zones',
    'nodes',
    'pops',
  ] as const) {
    const v = shape[k]
    if (!Number.isSafeInteger(v) || v < 1) throw new TypeError(`${k} must be a positive integer, got ${v}`)
  }
  if (!Number.isSafeInteger(shape.dvrWindowMs) || shape.dvrWindowMs < 0)
    throw new TypeError(`dvrWindowMs must be an integer ≥ 0, got ${shape.dvrWindowMs}`)
}
