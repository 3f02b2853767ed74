/**
 * `liveorigin serve`: runs the roles of one machine. With `roles: [all]` and
 * `delivery.workers` ≥ 1 (the default), a supervisor process serves the control listener
 * and runs ingest and delivery in separate worker processes, so that a read storm cannot
 * slow writes (docs/protocol.md#listeners-and-roles); a worker that dies is started again. Otherwise every role asked for
 * runs in this one process (split fleets: one role per process; tests: all in one).
 */
import cluster, { type Worker } from 'node:cluster'
import { createServer } from 'node:net'
import { setPriority } from 'node:os'
import { fileURLToPath } from 'node:url'
import { AggregatorRegistry, Registry } from 'prom-client'
import { flightDirectory, NodeFlightBroker } from '../cache/node-flight.js'
import { checkExposure } from '../config/load.js'
import { type Config, rolesOf } from '../config/schema.js'
import { createLogger, type Logger } from '../observability/log.js'
import { type Bus, broadcastBusEvent, createBus, relayBusMessage } from './bus.js'
import { type Context, type ContextOptions, createContext } from './context.js'
import { ListenError, type Role, startListeners } from './listeners.js'

export interface Running {
  readonly ports: Partial<Record<Role, number>>
  /** Present when every role runs in this process. */
  readonly context: Context | undefined
  close(): Promise<void>
}

export function isSupervised(config: Config): boolean {
  return config.roles.includes('all') && config.delivery.workers > 0
}

export async function serve(
  config: Config,
  options: ContextOptions & { log?: Logger } = {},
): Promise<Running> {
  checkExposure(config, rolesOf(config))
  if (isSupervised(config))
    return supervise(config, options.log ?? createLogger(config.log.level, { role: 'supervisor' }))
  const context = await createContext(config, options)
  const listeners = await startListeners(context, rolesOf(config))
  return {
    ports: listeners.ports,
    context,
    async close() {
      await listeners.close()
      await context.close()
    },
  }
}

/** Marks a worker process; its configuration (tokens included) arrives over IPC, never in the environment. */
const WORKER_ENV = 'LIVEORIGIN_WORKER'
const HELLO = 'liveorigin:hello'
const ASSIGNMENT = 'liveorigin:assignment'
const METRICS_REQUEST = 'liveorigin:metrics-request'
const METRICS_RESPONSE = 'liveorigin:metrics-response'
/** How long `/metrics` waits for a worker's answer before aggregating without it. */
const METRICS_TIMEOUT_MS = 2000
/** The supervisor's own metrics in `/metrics`: those of peer notices (`src/peers/`). */
const PEER_METRIC = /^liveorigin_peers?(_|$)/
/** One registry's metrics, as a worker sends them. */
type WorkerMetrics = Awaited<ReturnType<Registry['getMetricsAsJSON']>>

interface WorkerSpec {
  role: 'ingest' | 'delivery'
  port: number
  /** A standby ingest worker: ready, listening only once activated. */
  standby?: boolean
}

/** What a worker is told over IPC once it asks (see `workerAssignment`). */
interface Assignment {
  spec: WorkerSpec
  config: Config
}

/**
 * glibc's `malloc` settings for the workers, as `GLIBC_TUNABLES`. With glibc's defaults, memory
 * freed at the top of a heap goes back to the kernel as soon as twice the largest recent
 * allocation is free there, so the memory a worker allocates for every chunk it moves (LMDB's
 * megabyte of pages for each chunk written, the body's reads) comes back as fresh pages, each
 * faulted in and zeroed again: 125–171 page faults per 2 MiB PUT in the ingest worker, 11–13
 * with these settings (docs/benchmarks.md#freed-memory-kept). Allocations up to 32 MiB (the
 * ceiling of glibc's own adaptive threshold) come from the heaps, and up to 16 MiB free at the
 * top of a heap stays in the process. A `GLIBC_TUNABLES` in the environment of
 * `liveorigin serve` wins (empty: glibc's defaults); other C libraries ignore the variable.
 */
export const WORKER_MALLOC_TUNABLES =
  'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=16777216'

/**
 * The environment of a worker, over the supervisor's own: every setting left out (those travel
 * over IPC), and glibc's `malloc` settings added unless the supervisor's environment has some.
 */
export function workerEnv(parent: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { [WORKER_ENV]: '1' }
  // child_process leaves out variables whose value is undefined.
  for (const key of Object.keys(parent))
    if (key.startsWith('LIVEORIGIN_') && key !== WORKER_ENV) env[key] = undefined
  if (parent.GLIBC_TUNABLES === undefined) env.GLIBC_TUNABLES = WORKER_MALLOC_TUNABLES
  return env
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, host, () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/**
 * V8's initial old-generation size for the workers, in MiB. A worker's heap holds little
 * (its objects are small; bodies live outside it, in buffers), and on a heap that small V8
 * starts a full collection every few uploads of 2 MiB, paid inside them; room for 64 MiB from
 * the start removes those (docs/benchmarks.md#the-put-phase-by-phase). Node's own
 * `--initial-old-space-size` or `--initial-heap-size`, given to the process that runs
 * `liveorigin serve` (Node.js refuses both in `NODE_OPTIONS`), wins.
 */
export const WORKER_INITIAL_OLD_SPACE_MIB = 64

/** The workers' Node.js flags: the supervisor's own, with the heap's initial size unless set. */
export function workerExecArgv(execArgv: readonly string[]): string[] {
  if (execArgv.some((a) => /^--initial-(old-space|heap)-size\b/.test(a))) return [...execArgv]
  return [...execArgv, `--initial-old-space-size=${WORKER_INITIAL_OLD_SPACE_MIB}`]
}

function workerEntry(): string {
  const here = fileURLToPath(import.meta.url)
  return here.replace(/serve\.(ts|js)$/, (_m, ext) => `worker-main.${ext}`)
}

async function supervise(config: Config, log: Logger): Promise<Running> {
  // Workers accept their own connections (the supervisor is not in the data path).
  cluster.schedulingPolicy = cluster.SCHED_NONE
  cluster.setupPrimary({
    exec: workerEntry(),
    execArgv: workerExecArgv(process.execArgv),
  })

  const ingestPort = config.ingest.port || (await freePort(config.host))
  const deliveryPort = config.delivery.port || (await freePort(config.host))
  const workers = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined)

  const local = createBus()
  const bus: Bus = {
    publish(event) {
      local.publish(event)
      broadcastBusEvent(event, workers())
    },
    subscribe: local.subscribe,
  }
  const specs = new Map<number, WorkerSpec>()
  const listenFailures = new Map<number, string>()
  /** Workers that asked for their assignment: they answer IPC requests (metrics) from then on. */
  const greeted = new Set<number>()
  /**
   * The standby ingest worker: when the active one dies, it takes the port over at once
   * (a new process needs about a second to start, more on a busy machine).
   */
  let standby: { worker: Worker; ready: boolean } | undefined
  /** Single flight of body reads across the workers (`cache/node-flight.ts`). */
  const reads = new NodeFlightBroker<Worker>(flightDirectory())
  const onMessage = (worker: Worker, message: unknown) => {
    const tag = (message as { tag?: string } | null)?.tag
    if (tag === METRICS_RESPONSE) {
      const m = message as { id: number; metrics: WorkerMetrics[] }
      pendingMetrics.get(m.id)?.(worker, m.metrics)
      return
    }
    if (tag === HELLO) {
      greeted.add(worker.id)
      const spec = specs.get(worker.id)
      if (spec) worker.send({ tag: ASSIGNMENT, spec, config } satisfies Assignment & { tag: string })
      return
    }
    if (tag === STANDBY_READY) {
      if (standby?.worker === worker) {
        standby.ready = true
        log.info({ workerPid: worker.process.pid }, 'standby ingest worker ready')
      }
      return
    }
    if (tag === LISTEN_FAILED_TAG) {
      listenFailures.set(worker.id, String((message as { message?: unknown }).message))
      return
    }
    if (reads.handle(worker, message)) return
    relayBusMessage(message, worker, workers(), (e) => local.publish(e))
  }
  cluster.on('message', onMessage)

  const context = await createContext(config, { bus, log, defaultMetrics: false })
  // Metrics are asked of the workers that are up (said hello); one still starting (a standby,
  // a replacement) cannot answer yet and must not hold `/metrics` up.
  let metricsRequests = 0
  const pendingMetrics = new Map<number, (worker: Worker, metrics: WorkerMetrics[]) => void>()
  const clusterMetrics = async (): Promise<string> => {
    const asked = workers().filter((w) => greeted.has(w.id) && w.isConnected())
    const id = ++metricsRequests
    const answers: WorkerMetrics[] = []
    await new Promise<void>((resolve) => {
      let left = asked.length
      if (left === 0) return resolve()
      const timer = setTimeout(resolve, METRICS_TIMEOUT_MS)
      pendingMetrics.set(id, (_worker, metrics) => {
        answers.push(...metrics)
        if (--left === 0) {
          clearTimeout(timer)
          resolve()
        }
      })
      for (const w of asked) w.send({ tag: METRICS_REQUEST, id })
    })
    pendingMetrics.delete(id)
    // Peer notices run in this process (it serves the control listener): their metrics are
    // this process's own, and only these (the workers count everything else).
    const own = (await context.metrics.registry.getMetricsAsJSON()).filter((m) => PEER_METRIC.test(m.name))
    return AggregatorRegistry.aggregate([...answers, own]).metrics()
  }
  // Workers whose listener accepts, by role: the node is ready only when all of them do.
  const listening = new Map<number, WorkerSpec['role']>()
  const notReady = (): string | undefined => {
    const count = (role: WorkerSpec['role']) => [...listening.values()].filter((r) => r === role).length
    const ingest = count('ingest')
    const delivery = count('delivery')
    if (ingest >= 1 && delivery >= config.delivery.workers) return undefined
    return `listening: ingest ${ingest}/1, delivery ${delivery}/${config.delivery.workers}`
  }
  const listeners = await startListeners(context, ['control'], {
    control: {
      notReady,
      metricsText: async () => ({
        contentType: Registry.PROMETHEUS_CONTENT_TYPE,
        body: await clusterMetrics(),
      }),
    },
  })

  let stopping = false
  const fork = (spec: WorkerSpec, forked?: (worker: Worker) => void): Promise<Worker> => {
    const worker = cluster.fork(workerEnv())
    specs.set(worker.id, spec)
    // A message sent to a worker that is dying fails later, as an 'error' on the worker (its IPC
    // channel closed after `isConnected()` said yes). The worker's 'exit' restarts it; the
    // failed message must not take the supervisor, and every other worker, down with it.
    worker.on('error', (err) =>
      log.warn({ err, workerRole: spec.role, workerPid: worker.process.pid }, 'a message to a worker failed'),
    )
    forked?.(worker)
    if (spec.role === 'delivery' && config.delivery.niceness > 0 && worker.process.pid !== undefined) {
      // Reads yield the CPU to writes when both want it.
      try {
        setPriority(worker.process.pid, config.delivery.niceness)
      } catch (err) {
        log.warn({ err }, 'could not lower the priority of a delivery worker')
      }
    }
    return new Promise((resolve, reject) => {
      const onExit = (code: number) =>
        reject(
          code === LISTEN_FAILED
            ? new ListenError(
                listenFailures.get(worker.id) ??
                  `cannot listen on ${config.host}:${spec.port} (${spec.role})`,
              )
            : new Error(`${spec.role} worker exited with ${code} before listening`),
        )
      worker.once('exit', onExit)
      worker.once('listening', () => {
        worker.off('exit', onExit)
        listening.set(worker.id, spec.role)
        resolve(worker)
      })
    })
  }
  const startStandby = () => {
    if (stopping || !config.ingest.standby) return
    const spec: WorkerSpec = { role: 'ingest', port: ingestPort, standby: true }
    fork(spec, (worker) => {
      standby = { worker, ready: false }
    }).catch((err) => {
      // A standby never listens until it takes over: its exit during shutdown is expected.
      if (!stopping) log.error({ err }, 'standby ingest worker failed')
    })
  }
  const onExit = (worker: Worker, code: number, signal: string) => {
    reads.gone(worker)
    const spec = specs.get(worker.id)
    specs.delete(worker.id)
    listening.delete(worker.id)
    greeted.delete(worker.id)
    if (stopping || !spec) return
    if (spec.role === 'ingest' && !spec.standby && standby?.ready && standby.worker.isConnected()) {
      const next = standby
      standby = undefined
      specs.get(next.worker.id)!.standby = false
      next.worker.send({ tag: ACTIVATE })
      log.warn(
        {
          workerRole: spec.role,
          workerPid: worker.process.pid,
          code,
          signal,
          standbyPid: next.worker.process.pid,
        },
        'ingest worker died; the standby took over',
      )
      setTimeout(startStandby, 100).unref()
      return
    }
    if (spec.standby) {
      if (standby?.worker === worker) standby = undefined
      log.warn(
        { workerPid: worker.process.pid, code, signal },
        'standby ingest worker died; starting a new one',
      )
      setTimeout(startStandby, 100).unref()
      return
    }
    log.warn(
      { workerRole: spec.role, workerPid: worker.process.pid, code, signal },
      'worker died; starting a new one',
    )
    setTimeout(() => {
      if (!stopping) fork(spec).catch((err) => log.error({ err }, 'worker restart failed'))
    }, 100).unref()
  }
  cluster.on('exit', onExit)

  try {
    await Promise.all([
      fork({ role: 'ingest', port: ingestPort }),
      ...Array.from({ length: config.delivery.workers }, () =>
        fork({ role: 'delivery', port: deliveryPort }),
      ),
    ])
    // Started once the node is up, so that it does not slow the start.
    startStandby()
  } catch (err) {
    stopping = true
    for (const w of workers()) w.process.kill('SIGKILL')
    reads.close()
    await listeners.close()
    await context.close()
    throw err
  }

  return {
    ports: { ingest: ingestPort, delivery: deliveryPort, control: listeners.ports.control! },
    context: undefined,
    async close() {
      stopping = true
      const exits = workers().map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve()
            const kill = setTimeout(() => w.process.kill('SIGKILL'), 35_000)
            w.once('exit', () => {
              clearTimeout(kill)
              resolve()
            })
            w.process.kill('SIGTERM')
          }),
      )
      await Promise.all(exits)
      cluster.off('message', onMessage)
      cluster.off('exit', onExit)
      reads.close()
      await listeners.close()
      await context.close()
    },
  }
}

/** Exit code of a worker whose listener could not bind its port, and the IPC message saying why. */
export const LISTEN_FAILED = 2
export const LISTEN_FAILED_TAG = 'liveorigin:listen-failed'
/** A standby worker is ready to listen; the supervisor tells it to. */
export const STANDBY_READY = 'liveorigin:standby-ready'
export const ACTIVATE = 'liveorigin:activate'

/**
 * Worker side: asks the supervisor over IPC for this worker's role, port and configuration.
 * Undefined when this process is not a worker started by `serve`.
 */
export async function workerAssignment(
  metricsOf: () => Promise<WorkerMetrics[]>,
): Promise<Assignment | undefined> {
  if (process.env[WORKER_ENV] !== '1' || !process.send) return undefined
  // Answers the supervisor's metric requests from the moment it greets it.
  process.on('message', (m: unknown) => {
    if ((m as { tag?: string } | null)?.tag !== METRICS_REQUEST) return
    const id = (m as { id: number }).id
    metricsOf().then(
      (metrics) => process.send?.({ tag: METRICS_RESPONSE, id, metrics }),
      () => process.send?.({ tag: METRICS_RESPONSE, id, metrics: [] }),
    )
  })
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      if ((m as { tag?: string } | null)?.tag !== ASSIGNMENT) return
      process.off('message', onMessage)
      const { spec, config } = m as Assignment
      resolve({ spec, config })
    }
    process.on('message', onMessage)
    process.send!({ tag: HELLO })
  })
}
