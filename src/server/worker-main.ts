/**
 * Entry point of a worker process started by the supervisor (`serve.ts`): serves one role
 * on the port the supervisor chose, with an IPC-backed event bus, until SIGTERM. A standby
 * ingest worker gets everything ready (storage open, channels loaded and kept current over
 * the bus) and listens only when the supervisor activates it, when the active one died.
 */
import type { Registry } from 'prom-client'
import { nodeFlightOverIpc } from '../cache/node-flight.js'
import { createLogger } from '../observability/log.js'
import { createBus } from './bus.js'
import { createContext } from './context.js'
import { ListenError, startListeners } from './listeners.js'
import { ACTIVATE, LISTEN_FAILED, LISTEN_FAILED_TAG, STANDBY_READY, workerAssignment } from './serve.js'

let registry: Registry | undefined
const assignment = await workerAssignment(async () => (registry ? [await registry.getMetricsAsJSON()] : []))
if (!assignment) {
  console.error('liveorigin: worker-main is started by `liveorigin serve`, not directly')
  process.exit(2)
}
const { spec, config } = assignment
const log = createLogger(config.log.level, { role: spec.role })
const ctx = await createContext(config, {
  bus: createBus(process),
  log,
  delivers: spec.role === 'delivery',
  nodeFlight: (outcome) => nodeFlightOverIpc(process, { outcome }),
})
registry = ctx.metrics.registry

let draining = false
let listeners: Awaited<ReturnType<typeof startListeners>> | undefined
const drain = async () => {
  if (draining) return
  draining = true
  await listeners?.close()
  await ctx.close()
  process.exit(0)
}
process.on('SIGTERM', drain)
process.on('SIGINT', () => {})
// The supervisor is gone: nobody will restart or stop this worker, so stop now.
process.on('disconnect', drain)

if (spec.standby) {
  await new Promise<void>((resolve) => {
    const onMessage = (m: unknown) => {
      if ((m as { tag?: string } | null)?.tag !== ACTIVATE) return
      process.off('message', onMessage)
      resolve()
    }
    process.on('message', onMessage)
    process.send?.({ tag: STANDBY_READY })
  })
  if (draining) await new Promise(() => {})
}
try {
  listeners = await startListeners(ctx, [spec.role], { ports: { [spec.role]: spec.port } })
} catch (err) {
  if (!(err instanceof ListenError)) throw err
  // The supervisor reports it (one line naming the port) and stops.
  process.send?.({ tag: LISTEN_FAILED_TAG, message: err.message }, undefined, {}, () =>
    process.exit(LISTEN_FAILED),
  )
  await new Promise(() => {})
}
// `role` and `pid` come from the logger's bindings: a key logged twice is ambiguous JSON.
log.info({ port: spec.port, ...(spec.standby ? { standby: true } : {}) }, 'worker listening')
