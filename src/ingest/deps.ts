/**
 * What the ingest listener uses of the process it runs in: the names below, nothing more.
 * Only `src/server/` builds one (from its composition, `src/server/context.ts`); what
 * happens after a commit (the bus, the cache tiers, metrics, learning from an MPD or an HLS
 * playlist) is the
 * `commits` hook `src/server/commits.ts` makes.
 */
import type { ChannelRegistry } from '../channels/registry.js'
import type { Config } from '../config/schema.js'
import type { Defect } from '../media/types.js'
import type { ObjectReader } from '../objects/reader.js'
import type { Logger } from '../observability/log.js'
import type { Metrics } from '../observability/metrics.js'
import type { ObjectStore } from '../storage/object-store.js'
import type { ObjectKey, ObjectMeta } from '../storage/types.js'
import type { ChannelConfig } from '../timing/channel-config.js'
import type { PlaylistLesson } from '../timing/hls-learn.js'
import type { PathMatch } from '../timing/template.js'
import type { ProgressSink } from './in-progress.js'

/** What an MPD upload taught of its channel's timing, checked before it committed. */
export type MpdCheck = Awaited<ReturnType<ChannelRegistry['checkMpd']>>

/** One object committed by this process (the 2xx waits until `onCommitted` resolves). */
export interface Committed {
  readonly meta: ObjectMeta
  /** The body, when this upload kept it (see `ObjectReader.writesThroughBodies`). */
  readonly bytes: Buffer | undefined
  /** What the channel's template says the path is. */
  readonly match: PathMatch
  /** The channel's template (undefined for a channel without one). */
  readonly template: ChannelConfig | undefined
  /** Defects the packager reported (`Segment-Defects`). */
  readonly packagerDefects: readonly Defect[]
  /** Defects inspection found. */
  readonly originDefects: readonly Defect[]
  readonly mpd: MpdCheck | undefined
  /** What an HLS playlist upload teaches its channel (undefined for other objects, and for channels with explicit configuration). */
  readonly playlist?: PlaylistLesson | undefined
  /** The request's logger. */
  readonly log: Logger
}

/** Reactions to the commits and removals of this process. */
export interface CommitHooks {
  onCommitted(commit: Committed): Promise<void>
  onRemoved(key: ObjectKey): Promise<void>
}

export interface IngestDeps {
  readonly config: { readonly ingest: Config['ingest'] }
  readonly store: Pick<
    ObjectStore,
    'write' | 'remove' | 'list' | 'extend' | 'chunkConcurrency' | 'chunkSize' | 'driver'
  >
  readonly channels: Pick<ChannelRegistry, 'get' | 'ensure' | 'checkMpd'>
  /** Init segments for inspection, and the write-through policy. */
  readonly reader: Pick<
    ObjectReader,
    'candidates' | 'body' | 'writesThroughBodies' | 'delivers' | 'committing' | 'replacing'
  >
  readonly metrics: Pick<
    Metrics,
    | 'requests'
    | 'requestDuration'
    | 'uploadsRefused'
    | 'uploadBytesReserved'
    | 'uploadsInProgress'
    | 'uploadPhase'
  >
  readonly log: Logger
  /** Clock of every timing decision (epoch ms). */
  readonly now: () => number
  readonly commits: CommitHooks
  /** Where segments of low-latency channels are announced chunk by chunk while they upload. */
  readonly progress: ProgressSink
}
