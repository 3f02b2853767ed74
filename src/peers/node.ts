/**
 * This node's side of peer notices (docs/running-at-scale.md#peer-notices): it writes its
 * heartbeat record and lists the others' every `peers.heartbeatMs`, sends each commit and
 * removal made here to every live peer's control listener (bounded concurrency per peer,
 * short timeout, never awaited by the write that caused it), probes peers it had no round
 * trip with, so that their clock offsets stay measured, and checks the notices it receives
 * before they are published on this node's bus.
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Logger } from '../observability/log.js'
import type { Metrics } from '../observability/metrics.js'
import type { StorageDriver } from '../storage/types.js'
import {
  type HeartbeatRecord,
  heartbeatOf,
  PEERS_NAMESPACE,
  type Peer,
  PeerBook,
  type PeerView,
} from './book.js'
import {
  MAX_NOTICES_PER_REQUEST,
  type Notice,
  type NoticeAnswer,
  type NoticeBatch,
  parseNoticeBatch,
} from './notices.js'

/** The control route notices are POSTed to. */
export const NOTICE_PATH = '/api/v1/peers/notices'
/** Heartbeat records whose `expiresAt` is this far past are deleted by whichever node lists them. */
const STALE_RECORD_MS = 3600_000
/** Notices waiting for one peer at most; the oldest are dropped beyond (its holds poll, or read at their deadline). */
const MAX_QUEUED = 256
/** How long closing waits for this node's heartbeat record to be deleted. */
const CLOSE_WAIT_MS = 1000

export interface PeerNodeDeps {
  readonly records: Pick<StorageDriver, 'putRecord' | 'listRecords' | 'deleteRecord'>
  /** Publishes a received notice on this node's bus, as a commit of another process would be. */
  readonly publish: (notice: Notice & { from: string }) => void
  readonly now: () => number
  readonly log: Logger
  readonly metrics: Pick<Metrics, 'peers' | 'peerNotices' | 'peerClockOffset' | 'peerClockAlarm'>
}

export interface PeerNodeOptions {
  readonly heartbeatMs: number
  readonly ttlMs: number
  readonly noticeTimeoutMs: number
  readonly noticeConcurrency: number
  readonly maxClockOffsetMs: number
  /** `control.token`, sent as a bearer token (peers share one configuration). */
  readonly token?: string | undefined
  /** This node's id (default: host name, process id and random bytes). */
  readonly id?: string
}

/** What the status API and the dashboard show. */
export interface PeersStatus {
  readonly id: string
  readonly url: string | null
  readonly startedAt: number
  readonly now: number
  readonly maxClockOffsetMs: number
  readonly peers: PeerView[]
}

interface Outbox {
  queue: Notice[]
  inFlight: number
}

export class PeerNode {
  readonly id: string
  readonly #deps: PeerNodeDeps
  readonly #options: PeerNodeOptions
  readonly #book: PeerBook
  readonly #outboxes = new Map<string, Outbox>()
  /** Peers whose clock alarm is raised (logged once when it rises, once when it clears). */
  readonly #alarmed = new Set<string>()
  readonly #closing = new AbortController()
  readonly #startedAt: number
  #url: string | undefined
  #timer: NodeJS.Timeout | undefined
  #beating: Promise<void> | undefined

  constructor(deps: PeerNodeDeps, options: PeerNodeOptions) {
    this.#deps = deps
    this.#options = options
    this.id =
      options.id ??
      `${hostname()
        .replace(/[^A-Za-z0-9._-]/g, '-')
        .slice(0, 64)}-${process.pid}-${randomBytes(3).toString('hex')}`
    this.#book = new PeerBook(this.id, options)
    this.#startedAt = deps.now()
  }

  /** Starts heartbeats with `url` as this node's control listener; resolves after the first. */
  async start(url: string): Promise<void> {
    this.#url = url
    await this.#beat()
  }

  async #beat(): Promise<void> {
    if (this.#closing.signal.aborted) return
    const beating = this.#heartbeat().catch((err) =>
      this.#deps.log.warn({ err }, 'peer heartbeat failed (notices go to the peers last listed)'),
    )
    this.#beating = beating
    await beating
    if (!this.#closing.signal.aborted) {
      this.#timer = setTimeout(() => void this.#beat(), this.#options.heartbeatMs)
      this.#timer.unref()
    }
  }

  async #heartbeat(): Promise<void> {
    const { records, now } = this.#deps
    const at = now()
    const record: HeartbeatRecord = {
      id: this.id,
      url: this.#url!,
      startedAt: this.#startedAt,
      at,
      expiresAt: at + this.#options.ttlMs,
      offsets: this.#book.offsets(),
    }
    await records.putRecord(PEERS_NAMESPACE, this.id, record)
    const listed: HeartbeatRecord[] = []
    for (const { value } of await records.listRecords(PEERS_NAMESPACE)) {
      const r = heartbeatOf(value)
      if (!r) continue
      if (r.expiresAt < at - STALE_RECORD_MS) {
        records.deleteRecord(PEERS_NAMESPACE, r.id).catch(() => {})
        continue
      }
      listed.push(r)
    }
    const t = now()
    for (const id of this.#book.update(listed, t)) this.#forget(id)
    this.#deps.metrics.peers.set(this.#book.targets(t).length)
    // A peer that got no notice during the last period gets an empty one: its clock offset
    // stays measured, and a dead peer is found before a commit waits on it.
    for (const peer of this.#book.unprobed(t - this.#options.heartbeatMs, t)) {
      const out = this.#outbox(peer.record.id)
      if (out.inFlight < this.#options.noticeConcurrency) this.#post(peer, out, [])
    }
  }

  /** Sends a commit or removal made on this node to every live peer; returns at once. */
  notify(notice: Notice): void {
    if (this.#url === undefined || this.#closing.signal.aborted) return
    for (const peer of this.#book.targets(this.#deps.now())) {
      const out = this.#outbox(peer.record.id)
      out.queue.push(notice)
      if (out.queue.length > MAX_QUEUED) {
        out.queue.shift()
        this.#deps.metrics.peerNotices.inc({ direction: 'sent', result: 'dropped' })
      }
      this.#pump(peer, out)
    }
  }

  #outbox(id: string): Outbox {
    let out = this.#outboxes.get(id)
    if (!out) {
      out = { queue: [], inFlight: 0 }
      this.#outboxes.set(id, out)
    }
    return out
  }

  #pump(peer: Peer, out: Outbox): void {
    while (out.queue.length > 0 && out.inFlight < this.#options.noticeConcurrency) {
      this.#post(peer, out, out.queue.splice(0, MAX_NOTICES_PER_REQUEST))
    }
  }

  #post(peer: Peer, out: Outbox, notices: Notice[]): void {
    const { now, metrics, log } = this.#deps
    const id = peer.record.id
    out.inFlight++
    const body: NoticeBatch = { from: this.id, notices }
    const sentAt = now()
    const signal = AbortSignal.any([this.#closing.signal, AbortSignal.timeout(this.#options.noticeTimeoutMs)])
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (this.#options.token !== undefined) headers.authorization = `Bearer ${this.#options.token}`
    fetch(new URL(NOTICE_PATH, peer.record.url), {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal,
    })
      .then(async (res) => {
        const text = await res.text()
        if (!res.ok) throw new Error(`${res.status} ${text.slice(0, 200)}`)
        const answer = JSON.parse(text) as Partial<NoticeAnswer>
        if (answer.id !== id || typeof answer.at !== 'number')
          throw new Error(`not node ${id}: ${text.slice(0, 200)}`)
        this.#clock(id, this.#book.sample(id, sentAt, now(), answer.at))
        if (notices.length > 0) metrics.peerNotices.inc({ direction: 'sent', result: 'ok' }, notices.length)
      })
      .catch((err: Error) => {
        if (this.#closing.signal.aborted) return
        // Skipped until its next heartbeat; what waited for it is dropped (its holds poll).
        const wasTarget = this.#book.targets(now()).some((p) => p.record.id === id)
        this.#book.failed(id)
        const dropped = notices.length + out.queue.length
        out.queue.length = 0
        if (dropped > 0) metrics.peerNotices.inc({ direction: 'sent', result: 'failed' }, dropped)
        metrics.peers.set(this.#book.targets(now()).length)
        if (wasTarget)
          log.warn(
            { peer: id, url: peer.record.url, err: err.name === 'TimeoutError' ? 'timeout' : err.message },
            'peer notice failed; peer skipped until its next heartbeat',
          )
      })
      .finally(() => {
        out.inFlight--
        const current = this.#book.targets(now()).find((p) => p.record.id === id)
        if (current) this.#pump(current, out)
      })
  }

  #clock(id: string, offsetMs: number | undefined): void {
    if (offsetMs === undefined) return
    const { metrics, log } = this.#deps
    metrics.peerClockOffset.set({ peer: id }, Math.round(offsetMs * 10) / 10)
    const alarm = this.#book.alarming(offsetMs)
    metrics.peerClockAlarm.set({ peer: id }, alarm ? 1 : 0)
    if (alarm && !this.#alarmed.has(id)) {
      this.#alarmed.add(id)
      log.warn(
        { peer: id, offsetMs: Math.round(offsetMs), maxClockOffsetMs: this.#options.maxClockOffsetMs },
        'peer clock offset beyond peers.maxClockOffsetMs',
      )
    } else if (!alarm && this.#alarmed.delete(id)) {
      log.info({ peer: id, offsetMs: Math.round(offsetMs) }, 'peer clock offset back within bound')
    }
  }

  #forget(id: string): void {
    this.#outboxes.delete(id)
    this.#alarmed.delete(id)
    this.#deps.metrics.peerClockOffset.remove({ peer: id })
    this.#deps.metrics.peerClockAlarm.remove({ peer: id })
  }

  /** A received notice body: checked (400 naming the problem), then published. */
  receive(body: unknown): NoticeAnswer {
    const batch = parseNoticeBatch(body)
    for (const notice of batch.notices) this.#deps.publish({ ...notice, from: batch.from })
    if (batch.notices.length > 0)
      this.#deps.metrics.peerNotices.inc({ direction: 'received', result: 'ok' }, batch.notices.length)
    return { id: this.id, at: this.#deps.now(), accepted: batch.notices.length }
  }

  status(): PeersStatus {
    const now = this.#deps.now()
    return {
      id: this.id,
      url: this.#url ?? null,
      startedAt: this.#startedAt,
      now,
      maxClockOffsetMs: this.#options.maxClockOffsetMs,
      peers: this.#book.view(now),
    }
  }

  /** Stops heartbeats and sends, and deletes this node's record so that peers stop at once. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return
    this.#closing.abort()
    clearTimeout(this.#timer)
    await this.#beating
    if (this.#url === undefined) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      this.#deps.records.deleteRecord(PEERS_NAMESPACE, this.id).catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CLOSE_WAIT_MS)
      }),
    ])
    clearTimeout(timer)
  }
}
