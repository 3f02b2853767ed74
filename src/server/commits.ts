/**
 * What a commit or a removal on this process sets off, besides storage: the write-through to
 * the cache tiers, the bus event (held requests, other processes), the defect and late
 * segment counts, and learning a channel's timing from an MPD or an HLS playlist. The ingest pipeline awaits
 * these before its 2xx (`IngestDeps.commits`).
 */
import type { ChannelRegistry } from '../channels/registry.js'
import { defectLabel } from '../ingest/defect-labels.js'
import type { CommitHooks, Committed } from '../ingest/deps.js'
import type { ObjectReader } from '../objects/reader.js'
import type { Metrics } from '../observability/metrics.js'
import type { ObjectKey } from '../storage/types.js'
import { availabilityAt } from '../timing/schedule.js'
import type { Bus } from './bus.js'

export interface CommitDeps {
  readonly reader: Pick<ObjectReader, 'written' | 'removed'>
  readonly bus: Pick<Bus, 'publish'>
  readonly metrics: Pick<Metrics, 'defects' | 'lateSegments'>
  readonly channels: Pick<ChannelRegistry, 'learn' | 'learnFromPlaylist'>
}

export function commitReactions(deps: CommitDeps): CommitHooks {
  return {
    async onCommitted(c: Committed): Promise<void> {
      const { meta, log } = c
      await deps.reader.written(meta, c.bytes).catch((err) => log.warn({ err }, 'cache write-through failed'))
      deps.bus.publish({
        type: 'commit',
        channel: meta.channel,
        path: meta.path,
        pipeline: meta.pipeline,
        token: meta.token,
        defects: meta.defects,
      })
      for (const d of c.packagerDefects)
        deps.metrics.defects.inc({ kind: defectLabel(d.kind), source: 'packager' })
      for (const d of c.originDefects)
        deps.metrics.defects.inc({ kind: defectLabel(d.kind), source: 'origin' })
      if (
        c.template &&
        c.match.kind === 'media' &&
        meta.committedAt > availabilityAt(c.template, c.match.number)
      ) {
        deps.metrics.lateSegments.inc({ pipeline: meta.pipeline })
      }
      if (c.mpd && 'skipped' in c.mpd) {
        log.warn({ err: c.mpd.skipped, channel: meta.channel }, 'could not learn timing from MPD')
      } else if (c.mpd) {
        await deps.channels
          .learn(meta.channel, c.mpd.learned)
          .catch((err) =>
            log.warn(
              { err: (err as Error).message, channel: meta.channel },
              'could not learn timing from MPD',
            ),
          )
      }
      const lesson = c.playlist
      if (lesson?.kind === 'media' && 'skipped' in lesson.learned) {
        log.info(
          { why: lesson.learned.skipped, channel: meta.channel },
          'no timing learned from HLS playlist',
        )
      } else if (lesson) {
        await deps.channels
          .learnFromPlaylist(meta.channel, lesson)
          .then((changed) => {
            if (changed)
              log.info({ channel: meta.channel, path: meta.path }, 'channel timing learned from HLS playlist')
          })
          .catch((err) =>
            log.warn(
              { err: (err as Error).message, channel: meta.channel },
              'could not learn timing from HLS playlist',
            ),
          )
      }
    },
    async onRemoved(key: ObjectKey): Promise<void> {
      await deps.reader.removed(key.channel, key.path)
      deps.bus.publish({ type: 'remove', ...key })
    },
  }
}
