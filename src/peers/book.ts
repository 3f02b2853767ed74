/**
 * What one origin node knows of the others (docs/running-at-scale.md#peer-notices): the
 * heartbeat records it listed, which peers are live, which failed a notice (skipped until
 * their next heartbeat), and each peer's clock offset as measured from round trips. Pure:
 * times come in as arguments, nothing is read or sent here.
 *
 * Liveness never compares clocks of two nodes: a peer is live while the `at` of its record
 * keeps changing, as seen on this node's clock, at most `ttlMs` apart. A record seen for the
 * first time counts when its own `expiresAt` (the writer's clock) is still ahead.
 */
import { isNodeId } from './notices.js'

/** The heartbeat record of one node (storage record in namespace `PEERS_NAMESPACE`, id = node id). */
export interface HeartbeatRecord {
  readonly id: string
  /** The node's control listener as peers reach it, e.g. `http://10.0.1.5:8082`. */
  readonly url: string
  /** When the node started (its clock, epoch ms). */
  readonly startedAt: number
  /** The node's clock when it wrote the record (epoch ms). */
  readonly at: number
  /** `at` + the writer's `peers.ttlMs`: when the record stops counting. */
  readonly expiresAt: number
  /** The writer's estimate of each peer's clock offset (ms, peer minus writer), by node id. */
  readonly offsets: Readonly<Record<string, number>>
}

/** Storage records namespace of heartbeats. */
export const PEERS_NAMESPACE = 'peers'

/** Round-trip samples kept per peer; the one with the shortest round trip gives the offset. */
const SAMPLES = 8

export interface ClockSample {
  /** Peer clock minus the midpoint of the request on this node's clock (ms). */
  readonly offsetMs: number
  readonly rttMs: number
}

export interface Peer {
  readonly record: HeartbeatRecord
  /** When this node saw `record.at` change last (this node's clock). */
  seenAt: number
  /** A notice to this peer failed at this `record.at`: skipped until the record changes. */
  failedAt: number | undefined
  samples: ClockSample[]
  /** When the last round trip succeeded (this node's clock). */
  lastRoundTripAt: number
}

/** A peer as the status API shows it. */
export interface PeerView {
  readonly id: string
  readonly url: string
  readonly startedAt: number
  readonly heartbeatAt: number
  readonly live: boolean
  readonly skipped: boolean
  readonly clockOffsetMs: number | null
  readonly rttMs: number | null
  readonly clockAlarm: boolean
  /** What the peer measured of the others (its heartbeat's `offsets`). */
  readonly offsets: Readonly<Record<string, number>>
}

/** Checks a listed record; undefined when it is not a heartbeat record. */
export function heartbeatOf(value: unknown): HeartbeatRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const r = value as Record<string, unknown>
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
  if (!isNodeId(r.id) || typeof r.url !== 'string' || !/^https?:\/\/[^\s]+$/.test(r.url)) return undefined
  if (!finite(r.startedAt) || !finite(r.at) || !finite(r.expiresAt)) return undefined
  const offsets: Record<string, number> = {}
  if (typeof r.offsets === 'object' && r.offsets !== null)
    for (const [id, v] of Object.entries(r.offsets)) if (isNodeId(id) && finite(v)) offsets[id] = v
  return { id: r.id, url: r.url, startedAt: r.startedAt, at: r.at, expiresAt: r.expiresAt, offsets }
}

export class PeerBook {
  readonly #self: string
  readonly #ttlMs: number
  readonly #maxOffsetMs: number
  readonly #peers = new Map<string, Peer>()

  constructor(self: string, options: { ttlMs: number; maxClockOffsetMs: number }) {
    this.#self = self
    this.#ttlMs = options.ttlMs
    this.#maxOffsetMs = options.maxClockOffsetMs
  }

  /**
   * The records listed at `now`. Returns the peers that left (gone from the listing or no
   * longer live), so that their metrics can be dropped.
   */
  update(records: readonly HeartbeatRecord[], now: number): string[] {
    const listed = new Set<string>()
    for (const record of records) {
      if (record.id === this.#self) continue
      listed.add(record.id)
      const known = this.#peers.get(record.id)
      if (!known) {
        // First sight: only its writer's clock says how fresh it is.
        if (record.expiresAt <= now) continue
        this.#peers.set(record.id, {
          record,
          seenAt: now,
          failedAt: undefined,
          samples: [],
          lastRoundTripAt: -Infinity,
        })
      } else if (record.at !== known.record.at) {
        this.#peers.set(record.id, { ...known, record, seenAt: now })
      }
    }
    const left: string[] = []
    for (const [id, peer] of this.#peers) {
      if (!listed.has(id) || !this.#isLive(peer, now)) {
        this.#peers.delete(id)
        left.push(id)
      }
    }
    return left
  }

  #isLive(peer: Peer, now: number): boolean {
    return now - peer.seenAt < this.#ttlMs
  }

  /** Peers notices go to: live, and not failed since their last heartbeat. */
  targets(now: number): Peer[] {
    return [...this.#peers.values()].filter((p) => this.#isLive(p, now) && p.failedAt !== p.record.at)
  }

  /** A notice to `id` failed: skipped until its heartbeat record changes. */
  failed(id: string): void {
    const peer = this.#peers.get(id)
    if (peer) peer.failedAt = peer.record.at
  }

  /**
   * A round trip to `id`: sent at `sentAt`, answered at `receivedAt` (this node's clock),
   * the peer's clock reading `peerAt` in between. Returns the offset estimate after it.
   */
  sample(id: string, sentAt: number, receivedAt: number, peerAt: number): number | undefined {
    const peer = this.#peers.get(id)
    if (!peer) return undefined
    const rttMs = Math.max(0, receivedAt - sentAt)
    peer.samples.push({ offsetMs: peerAt - (sentAt + receivedAt) / 2, rttMs })
    if (peer.samples.length > SAMPLES) peer.samples.shift()
    peer.lastRoundTripAt = receivedAt
    return this.offset(id)
  }

  /**
   * The clock offset of `id` (peer minus this node, ms): the sample with the shortest round
   * trip of the last few, whose error is at most half its round trip.
   */
  offset(id: string): number | undefined {
    return bestSample(this.#peers.get(id)?.samples ?? [])?.offsetMs
  }

  /** Whether `offsetMs` is beyond the bound (`peers.maxClockOffsetMs`). */
  alarming(offsetMs: number | undefined): boolean {
    return offsetMs !== undefined && Math.abs(offsetMs) > this.#maxOffsetMs
  }

  /** Peers without a round trip since `since` (they get a probe). */
  unprobed(since: number, now: number): Peer[] {
    return this.targets(now).filter((p) => p.lastRoundTripAt < since)
  }

  /** Each peer's offset, rounded to 0.1 ms, for this node's heartbeat record. */
  offsets(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const id of this.#peers.keys()) {
      const o = this.offset(id)
      if (o !== undefined) out[id] = Math.round(o * 10) / 10
    }
    return out
  }

  get size(): number {
    return this.#peers.size
  }

  view(now: number): PeerView[] {
    return [...this.#peers.values()]
      .map((p) => {
        const best = bestSample(p.samples)
        return {
          id: p.record.id,
          url: p.record.url,
          startedAt: p.record.startedAt,
          heartbeatAt: p.record.at,
          live: this.#isLive(p, now),
          skipped: p.failedAt === p.record.at,
          clockOffsetMs: best === undefined ? null : Math.round(best.offsetMs * 10) / 10,
          rttMs: best === undefined ? null : Math.round(best.rttMs * 10) / 10,
          clockAlarm: this.alarming(best?.offsetMs),
          offsets: p.record.offsets,
        }
      })
      .sort((a, b) => a.id.localeCompare(b.id))
  }
}

function bestSample(samples: readonly ClockSample[]): ClockSample | undefined {
  let best: ClockSample | undefined
  for (const s of samples) if (best === undefined || s.rttMs < best.rttMs) best = s
  return best
}
