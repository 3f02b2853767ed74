/**
 * What the control listener uses of the process it runs in: the names below, nothing more.
 * Only `src/server/` builds one (from its composition, `src/server/context.ts`).
 */
import type { ChannelRegistry } from '../channels/registry.js'
import type { Config } from '../config/schema.js'
import type { ObjectReader } from '../objects/reader.js'
import type { Logger } from '../observability/log.js'
import type { Metrics } from '../observability/metrics.js'
import type { PeerNode } from '../peers/node.js'
import type { HealthBook } from '../selection/health-book.js'
import type { StorageDriver } from '../storage/types.js'
import type { SubstituteDeps } from '../substitutes/copies.js'

export interface ControlDeps extends SubstituteDeps {
  readonly config: Pick<Config, 'host' | 'control' | 'delivery' | 'peers'>
  readonly channels: Pick<
    ChannelRegistry,
    'get' | 'page' | 'put' | 'end' | 'addMask' | 'removeMasks' | 'size'
  >
  /** Storage, for `/readyz` and the driver's name. */
  readonly driver: Pick<StorageDriver, 'name' | 'ping'>
  readonly reader: Pick<ObjectReader, 'candidates' | 'body'>
  readonly health: Pick<HealthBook, 'preferred' | 'healthyPipelines' | 'snapshot' | 'renditions'>
  readonly metrics: Pick<Metrics, 'registry'>
  readonly log: Logger
  /** Peer notices: received on `POST /api/v1/peers/notices`; undefined when off on this node. */
  readonly peers: Pick<PeerNode, 'receive' | 'status'> | undefined
  /** `draining` once shutdown has begun. */
  readonly state: { readonly draining: boolean }
  /** Clock of every timing decision (epoch ms). */
  readonly now: () => number
}
