/**
 * Keeps init segments and manifests alive while their channel is live. Both are stored with
 * an expiry (`initExpiresAt`: one DVR window and a bit after they were written), like every
 * other object, so that nothing in storage waits for a process to delete it. A packager may
 * PUT them once per event, though (an init segment nearly always; a DASH MPD with a
 * template often), so when a media segment commits whose copy would outlive its pipeline's
 * init segment or manifests, their expiry is extended in storage (`ObjectStore.extend`,
 * which never undoes a newer PUT or DELETE made elsewhere). Known expiries are remembered
 * per process, so a media segment costs map lookups; the storage work happens about once per
 * `INIT_EXTEND_EVERY_MS` per object, after the 2xx.
 *
 * A manifest's path cannot be derived from the template, so each manifest path is also
 * written once as a record (`MANIFESTS`), which a process reads when it first extends a
 * channel's objects: a restarted node keeps extending manifests PUT before it started.
 */
import type { ObjectStore } from '../storage/object-store.js'
import type { ObjectMeta, StorageDriver } from '../storage/types.js'
import type { ChannelConfig } from '../timing/channel-config.js'
import { extendedInitExpiry } from '../timing/schedule.js'
import { renderInitPath } from '../timing/template.js'

const MAX_ENTRIES = 4096
/** Record namespace of the manifest paths of every channel (id `<channel>/<path>`). */
export const MANIFESTS = 'manifests'

interface ManifestPath {
  channel: string
  path: string
}

export class InitLifetimes {
  readonly #store: Pick<ObjectStore, 'list' | 'extend'>
  readonly #records: Pick<StorageDriver, 'putRecord' | 'listRecords'>
  /** channel/path/pipeline → the init segment's or manifest's record as last seen. */
  readonly #known = new Map<string, ObjectMeta>()
  readonly #running = new Map<string, Promise<void>>()
  /** channel → its manifest paths; filled from the records once, then by commits. */
  #manifests: Promise<Map<string, Set<string>>> | undefined

  constructor(
    store: Pick<ObjectStore, 'list' | 'extend'>,
    records: Pick<StorageDriver, 'putRecord' | 'listRecords'>,
  ) {
    this.#store = store
    this.#records = records
  }

  /** An init segment this process just stored. */
  remember(meta: ObjectMeta): void {
    this.#set(`${meta.channel}/${meta.path}/${meta.pipeline}`, meta)
  }

  /**
   * A manifest this process just stored: remembered like an init segment, and its path
   * recorded in storage the first time this process sees it. Resolves when recorded.
   */
  async manifestCommitted(meta: ObjectMeta): Promise<void> {
    this.remember(meta)
    const paths = pathsOf(await this.#manifestPaths(), meta.channel)
    if (paths.has(meta.path)) return
    paths.add(meta.path)
    const value: ManifestPath = { channel: meta.channel, path: meta.path }
    await this.#records.putRecord(MANIFESTS, `${meta.channel}/${meta.path}`, value).catch((err) => {
      paths.delete(meta.path)
      throw err
    })
  }

  /**
   * A media segment of `channel` from `pipeline`, expiring at `segmentExpires`, committed at
   * `now`: extends the pipeline's manifests of the channel that would expire first.
   */
  async manifestsOutlive(
    channel: string,
    cfg: Pick<ChannelConfig, 'dvrWindowMs'>,
    pipeline: string,
    segmentExpires: number,
    now: number,
  ): Promise<void> {
    const paths = (await this.#manifestPaths()).get(channel)
    if (!paths) return
    await Promise.all(
      [...paths].map((path) => this.#extend(channel, path, cfg, pipeline, segmentExpires, now)),
    )
  }

  #manifestPaths(): Promise<Map<string, Set<string>>> {
    this.#manifests ??= this.#records.listRecords<ManifestPath>(MANIFESTS).then(
      (records) => {
        const out = new Map<string, Set<string>>()
        for (const { value } of records) pathsOf(out, value.channel).add(value.path)
        return out
      },
      (err: unknown) => {
        this.#manifests = undefined
        throw err
      },
    )
    return this.#manifests
  }

  /**
   * A media segment of `rendition` from `pipeline`, expiring at `segmentExpires`, committed
   * at `now`: extends the pipeline's init segment when it would expire first. Resolves when
   * done (callers need not wait); a failure is retried with the next segment.
   */
  segmentCommitted(
    channel: string,
    cfg: Pick<ChannelConfig, 'initialization' | 'dvrWindowMs'>,
    rendition: string,
    pipeline: string,
    segmentExpires: number,
    now: number,
  ): Promise<void> {
    return this.#extend(channel, renderInitPath(cfg, rendition), cfg, pipeline, segmentExpires, now)
  }

  /** Extends (channel, path)'s copy of `pipeline` when it would expire before `segmentExpires`. */
  #extend(
    channel: string,
    path: string,
    cfg: Pick<ChannelConfig, 'dvrWindowMs'>,
    pipeline: string,
    segmentExpires: number,
    now: number,
  ): Promise<void> {
    const key = `${channel}/${path}/${pipeline}`
    const known = this.#known.get(key)
    if (known && extendedInitExpiry(cfg, known.expiresAt, segmentExpires, now) === undefined)
      return Promise.resolve()
    const running = this.#running.get(key)
    if (running) return running
    const work = (async () => {
      let meta = known
      if (!meta) {
        meta = (await this.#store.list(channel, path)).find((m) => m.pipeline === pipeline)
        if (!meta) return
      }
      const expiresAt = extendedInitExpiry(cfg, meta.expiresAt, segmentExpires, now)
      if (expiresAt === undefined) {
        this.#set(key, meta)
        return
      }
      const extended = await this.#store.extend(meta, expiresAt)
      // Replaced or removed meanwhile: look it up again with the next segment.
      if (extended) this.#set(key, extended)
      else this.#known.delete(key)
    })().finally(() => this.#running.delete(key))
    this.#running.set(key, work)
    return work
  }

  #set(key: string, meta: ObjectMeta): void {
    this.#known.delete(key)
    this.#known.set(key, meta)
    if (this.#known.size > MAX_ENTRIES) this.#known.delete(this.#known.keys().next().value!)
  }
}

/** The set of `channel`'s manifest paths in `manifests`, added when missing. */
function pathsOf(manifests: Map<string, Set<string>>, channel: string): Set<string> {
  let paths = manifests.get(channel)
  if (!paths) {
    paths = new Set()
    manifests.set(channel, paths)
  }
  return paths
}
