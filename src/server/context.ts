/**
 * The composition root of one process: configuration, storage (with instrumentation and
 * optional pressure injection), caches, the channel registry, the event bus, held requests,
 * metrics and the logger, built and wired here. Each listener's handler sees only its own
 * narrow deps (`ingest/deps.ts`, `delivery/deps.ts`, `control/deps.ts`), which this
 * composition satisfies.
 */

import { createMemoryCache } from '../cache/memory.js'
import type { NodeFlight, NodeFlightOutcome } from '../cache/node-flight.js'
import type { CacheStore } from '../cache/types.js'
import { ChannelRegistry } from '../channels/registry.js'
import { type Config, rolesOf } from '../config/schema.js'
import { type HeldObject, HoldTable } from '../delivery/holds.js'
import type { CommitHooks } from '../ingest/deps.js'
import type { ProgressSink } from '../ingest/in-progress.js'
import { InProgressBook } from '../objects/in-progress.js'
import { ObjectReader } from '../objects/reader.js'
import { createLogger, type Logger } from '../observability/log.js'
import { createMetrics, type Metrics, tallyOf } from '../observability/metrics.js'
import { AdmissionController, isReadSample, LatencyWindow } from '../overload/admission.js'
import { PeerNode } from '../peers/node.js'
import { HealthBook } from '../selection/health-book.js'
import { withStorageErrors } from '../storage/errors.js'
import { withInjectedPressure } from '../storage/inject.js'
import { instrumentCache, instrumentDriver } from '../storage/instrumented.js'
import { ObjectStore } from '../storage/object-store.js'
import { openSharedCache, openStorage } from '../storage/open.js'
import type { StorageDriver } from '../storage/types.js'
import { type Bus, createBus } from './bus.js'
import { commitReactions } from './commits.js'

/**
 * How often a process polls the channels' version record when other processes may change
 * them (a full scan only when it changed: `ChannelRegistry.poll`).
 */
const CHANNEL_POLL_MS = 5000

export interface Context {
  readonly config: Config
  readonly driver: StorageDriver
  readonly store: ObjectStore
  readonly shared: CacheStore | undefined
  readonly reader: ObjectReader
  readonly channels: ChannelRegistry
  readonly bus: Bus
  readonly holds: HoldTable
  /** Segments of low-latency channels still uploading on this node (`objects/in-progress.ts`). */
  readonly inProgress: InProgressBook
  /** Where the ingest listener announces uploads in progress: the bus (and so every book of the node). */
  readonly progress: ProgressSink
  readonly health: HealthBook
  readonly metrics: Metrics
  readonly log: Logger
  readonly admission: AdmissionController
  /** What a commit or removal on this process sets off (`server/commits.ts`). */
  readonly commits: CommitHooks
  /**
   * Peer notices (`peers/node.ts`), when on: created in every process, started only by the
   * one that serves the control listener (`listeners.ts`).
   */
  readonly peers: PeerNode | undefined
  /** Clock used for every timing decision (epoch ms). */
  readonly now: () => number
  /** Mutable process state: `draining` once shutdown has begun. */
  readonly state: { draining: boolean }
  close(): Promise<void>
}

export interface ContextOptions {
  /** Bus to use (the supervisor gives workers an IPC-backed one). */
  bus?: Bus
  log?: Logger
  now?: () => number
  /** Wraps the storage driver (tests count operations with it). */
  wrapDriver?: (driver: StorageDriver) => StorageDriver
  /** Whether this process answers delivery requests (default: its roles say). */
  delivers?: boolean
  defaultMetrics?: boolean
  /**
   * Single flight of body reads with the node's other processes (a `serve` worker's, over
   * IPC); `outcome` counts how each body was had.
   */
  nodeFlight?: (outcome: (o: NodeFlightOutcome) => void) => NodeFlight
}

export async function createContext(config: Config, options: ContextOptions = {}): Promise<Context> {
  const log = options.log ?? createLogger(config.log.level)
  const metrics = createMetrics({ defaultMetrics: options.defaultMetrics ?? true })
  const now = options.now ?? Date.now
  const latency = new LatencyWindow(1000)

  let driver = await openStorage(config.storage)
  if (config.storage.inject) {
    driver = withInjectedPressure(driver, {
      latencyMs: config.storage.inject.latencyMs,
      ...(config.storage.inject.maxConcurrent !== undefined
        ? { maxConcurrent: config.storage.inject.maxConcurrent }
        : {}),
    })
  }
  driver = instrumentDriver(driver, (e) => {
    metrics.storageOps.inc({ driver: e.driver, op: e.op, result: e.result })
    metrics.storageDuration.observe({ driver: e.driver, op: e.op }, e.durationMs / 1000)
    // Admission protects reads: what reads wait for is what counts.
    if (isReadSample('storage', e.op, e.result)) latency.add(e.durationMs)
  })
  if (options.wrapDriver) driver = options.wrapDriver(driver)
  // Last, so that whatever fails below reaches the listeners as one kind of answer.
  driver = withStorageErrors(driver)

  let shared = await openSharedCache(config.cache, (e) => metrics.cacheErrors.inc({ zone: e.zone, op: e.op }))
  if (shared) {
    shared = instrumentCache(shared, (e) => {
      metrics.cacheOps.inc({ tier: e.driver, op: e.op, result: e.result })
      // A read the shared tier answered did not wait for storage (admission.ts, isReadSample).
      if (isReadSample('cache', e.op, e.result)) latency.add(e.durationMs)
    })
  }
  // Commit times share the timing clock: late-segment counts compare them with A(N).
  const store = new ObjectStore(driver, { chunkSize: config.storage.chunkSize, now })
  const memory = createMemoryCache({ maxBytes: config.cache.memoryBytes })
  const reader = new ObjectReader(store, memory, shared, metrics, {
    maxCachedObjectBytes: Math.min(16 * 1024 * 1024, Math.floor(config.cache.memoryBytes / 4)),
    delivers: options.delivers ?? rolesOf(config).includes('delivery'),
    ...(options.nodeFlight ? { nodeFlight: options.nodeFlight(nodeOutcomes(metrics)) } : {}),
  })
  const bus = options.bus ?? createBus()
  const channels = new ChannelRegistry(driver, config.channels, {
    onChange: (channel) => bus.publish({ type: 'channel', channel }),
    onBroken: (channel, problem) =>
      log.error({ channel, problem }, `channel ${channel} skipped: stored record invalid (${problem})`),
    maxChannels: config.control.maxChannels,
    maxMasksPerChannel: config.control.maxMasksPerChannel,
  })
  await channels.poll()
  const servesAll = rolesOf(config).length === 3
  const peersOn = config.peers.enabled ?? (config.storage.driver === 'cassandra' && servesAll)
  // Channels created or changed on other nodes (or other processes of a split fleet) reach
  // this process by polling the version record: no bus connects them.
  const crossProcess = config.storage.driver === 'cassandra' || !config.roles.includes('all') || peersOn
  const reload = crossProcess
    ? setInterval(() => {
        channels.poll().catch((err) => log.warn({ err }, 'channel reload failed'))
      }, CHANNEL_POLL_MS)
    : undefined
  reload?.unref()

  // Commits reach held requests over the bus when every role runs under one `serve`, and
  // other nodes' commits over it too when peer notices are on. Where they may come from
  // elsewhere (another node, another process of a split fleet), held requests also poll
  // (delivery/poll-schedule.ts), unless `delivery.holdPolling` is off: the shared cache tier
  // when there is one, else storage.
  const holds = new HoldTable({
    remoteCommits: crossProcess,
    now,
    schedule: {
      firstMs: config.delivery.holdPollMs,
      dueMaxMs: config.delivery.holdPollMaxMs,
      lateMaxMs: config.delivery.holdPollLateMaxMs,
    },
    ...(crossProcess && config.delivery.holdPolling
      ? {
          // The local cache zone every poll; storage on the few polls the schedule says.
          poll: (object: HeldObject, poll: { storage: boolean }) =>
            reader.appeared(object.channel, object.path, poll.storage),
        }
      : {}),
  })
  // A copy's first chunk answers the requests held for its object.
  const inProgress = new InProgressBook({
    maxBytes: config.delivery.inProgressMaxBytes,
    onFirstChunk: (channel, path) => holds.release({ channel, path }),
  })
  const health = new HealthBook()
  const admission = new AdmissionController(
    config.overload,
    () => ({ storageLatencyMs: latency.quantile(0.9), inFlight: reader.inFlight() }),
    (state, reading) => {
      metrics.admission.set({ class: 'dvr' }, state.dvr ? 0 : 1)
      metrics.admission.set({ class: 'live' }, state.live ? 0 : 1)
      metrics.eventLoopDelay.set(reading.eventLoopDelayMs / 1000)
    },
  )
  metrics.admission.set({ class: 'ingest' }, 1)

  const peers = peersOn
    ? new PeerNode(
        {
          records: driver,
          publish: (notice) => bus.publish(notice),
          now,
          log,
          metrics,
        },
        { ...config.peers, token: config.control.token },
      )
    : undefined

  bus.subscribe((event) => {
    if (event.type === 'progress-start' || event.type === 'progress-chunk' || event.type === 'progress-end') {
      inProgress.apply(event)
      return
    }
    // This node's own commits and removals (not a peer's, which carry `from`) go to its peers.
    if (peers && event.type !== 'channel' && event.from === undefined) {
      const { from: _, ...notice } = event
      peers.notify(notice)
    }
    if (event.type === 'channel') {
      // Another process changed a channel: reload it (errors leave the old copy in place).
      channels
        .refresh(event.channel)
        .catch((err) => log.warn({ err, channel: event.channel }, 'channel refresh failed'))
    } else {
      reader.invalidate(event.channel, event.path)
      if (event.type === 'commit') reader.noteCommit(event.channel, event.path)
      holds.release(event)
      if (event.type === 'commit') {
        health.committed(channels.get(event.channel), event.path, event.pipeline, now(), event.defects)
      }
    }
  })

  return {
    config,
    driver,
    store,
    shared,
    reader,
    channels,
    bus,
    holds,
    inProgress,
    progress: {
      publish: (event) => bus.publish(event),
      isOpen: (id) => inProgress.isOpen(id),
      maxCopyBytes: Math.floor(config.delivery.inProgressMaxBytes / 4),
    },
    health,
    metrics,
    log,
    admission,
    commits: commitReactions({ reader, bus, metrics, channels }),
    peers,
    now,
    state: { draining: false },
    async close() {
      clearInterval(reload)
      admission.stop()
      holds.clear()
      await peers?.close()
      inProgress.clear()
      await shared?.close()
      await driver.close()
    },
  }
}

/**
 * Counts bodies had through the node's single flight in `liveorigin_cache_operations_total`,
 * tier `node`: `hit` when another process read it, `miss` when this one did.
 */
function nodeOutcomes(metrics: Metrics): (o: NodeFlightOutcome) => void {
  const ops = tallyOf(metrics.cacheOps)
  const hit = ops('node', 'get', 'hit')
  const miss = ops('node', 'get', 'miss')
  return (o) => (o === 'shared' ? hit : miss).inc()
}
