/**
 * What the delivery listener uses of the process it runs in: the names below, nothing more.
 * Only `src/server/` builds one (from its composition, `src/server/context.ts`).
 */
import type { ChannelRegistry } from '../channels/registry.js'
import type { Config } from '../config/schema.js'
import type { InProgressBook } from '../objects/in-progress.js'
import type { ObjectReader } from '../objects/reader.js'
import type { Logger } from '../observability/log.js'
import type { Metrics } from '../observability/metrics.js'
import type { AdmissionController } from '../overload/admission.js'
import type { HealthBook } from '../selection/health-book.js'
import type { SubstituteDeps } from '../substitutes/copies.js'
import type { HoldTable } from './holds.js'

export interface DeliveryDeps extends SubstituteDeps {
  readonly config: { readonly delivery: Config['delivery'] }
  readonly channels: Pick<ChannelRegistry, 'get'>
  readonly reader: Pick<
    ObjectReader,
    'candidates' | 'body' | 'cacheable' | 'stream' | 'mayExist' | 'mark' | 'changedSince'
  >
  readonly health: Pick<HealthBook, 'preferred' | 'preferredManifest' | 'healthyPipelines'>
  readonly holds: Pick<HoldTable, 'add' | 'earliestDeadline' | 'size' | 'polls'>
  /** Segments of low-latency channels still uploading on this node. */
  readonly inProgress: Pick<InProgressBook, 'has' | 'copies' | 'follow'>
  readonly admission: Pick<AdmissionController, 'admit' | 'begin' | 'end' | 'state' | 'dvrInFlight'>
  readonly metrics: Pick<
    Metrics,
    | 'requests'
    | 'requestDuration'
    | 'inFlight'
    | 'shed'
    | 'held'
    | 'holdDuration'
    | 'selections'
    | 'timingAnswers'
  >
  readonly log: Logger
  /** Clock of every timing decision (epoch ms). */
  readonly now: () => number
  /** `draining` once shutdown has begun: no new request is held. */
  readonly state: { readonly draining: boolean }
}
