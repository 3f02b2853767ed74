/**
 * `liveorigin serve`: runs the roles of one machine. With `roles: [all]` and
 * `delivery.workers` ≥ 1 (the default), a supervisor process serves the control listener
 * and runs ingest and delivery in separate worker processes, so that a read storm cannot
 * slow writes (SPEC §2); a worker that dies is started again. Otherwise every role asked for
 * runs in this one process (split fleets: one role per process; tests: all in one).
 */
import cluster, { type Worker } from 'node:cluster'
import { createServer } from 'node:net'
import { setPriority } from 'node:os'
import { fileURLToPath } from 'node:url'
import { AggregatorRegistry } from 'prom-client'
import type { Config } from '../config/schema.js'
import { createLogger, type Logger } from '../observability/log.js'
import { type Bus, broadcastBusEvent, createBus, relayBusMessage } from './bus.js'
import { type Context, type ContextOptions, createContext } from './context.js'
import { type Role, startListeners } from './listeners.js'

export interface Running {
  readonly ports: Partial<Record<Role, number>>
  /** Present when every role runs in this process. */
  readonly context: Context | undefined
  close(): Promise<void>
}

export function rolesOf(config: Config): Role[] {
  if (config.roles.includes('all')) return ['ingest', 'delivery', 'control']
  return [...new Set(config.roles as Role[])]
}

export function isSupervised(config: Config): boolean {
  return config.roles.includes('all') && config.delivery.workers > 0
}

export async function serve(
  config: Config,
  options: ContextOptions & { log?: Logger } = {},
): Promise<Running> {
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

const WORKER_ENV = 'LIVEORIGIN_WORKER'

interface WorkerSpec {
  role: 'ingest' | 'delivery'
  port: number
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

function workerEntry(): string {
  const here = fileURLToPath(import.meta.url)
  return here.replace(/serve\.(ts|js)$/, (_m, ext) => `worker-main.${ext}`)
}

async function supervise(config: Config, log: Logger): Promise<Running> {
  // Workers accept their own connections (the supervisor is not in the data path).
  cluster.schedulingPolicy = cluster.SCHED_NONE
  cluster.setupPrimary({ exec: workerEntry(), execArgv: process.execArgv })

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
  const onMessage = (worker: Worker, message: unknown) => {
    relayBusMessage(message, worker, workers(), (e) => local.publish(e))
  }
  cluster.on('message', onMessage)

  const context = await createContext(config, { bus, log, defaultMetrics: false })
  const aggregator = new AggregatorRegistry()
  const listeners = await startListeners(context, ['control'], {
    control: {
      metricsText: async () => ({
        contentType: aggregator.contentType,
        body: await aggregator.clusterMetrics(),
      }),
    },
  })

  let stopping = false
  const specs = new Map<number, WorkerSpec>()
  const fork = (spec: WorkerSpec): Promise<Worker> => {
    const worker = cluster.fork({ [WORKER_ENV]: JSON.stringify({ spec, config }) })
    specs.set(worker.id, spec)
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
        reject(new Error(`${spec.role} worker exited with ${code} before listening`))
      worker.once('exit', onExit)
      worker.once('listening', () => {
        worker.off('exit', onExit)
        resolve(worker)
      })
    })
  }
  const onExit = (worker: Worker, code: number, signal: string) => {
    const spec = specs.get(worker.id)
    specs.delete(worker.id)
    if (stopping || !spec) return
    log.warn({ role: spec.role, pid: worker.process.pid, code, signal }, 'worker died; starting a new one')
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
  } catch (err) {
    stopping = true
    for (const w of workers()) w.process.kill('SIGKILL')
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
      await listeners.close()
      await context.close()
    },
  }
}

/** Worker side: the spec and configuration the supervisor passed, if this is a worker. */
export function workerAssignment(): { spec: WorkerSpec; config: Config } | undefined {
  const raw = process.env[WORKER_ENV]
  return raw ? (JSON.parse(raw) as { spec: WorkerSpec; config: Config }) : undefined
}
