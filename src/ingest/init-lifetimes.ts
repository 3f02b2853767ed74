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
 * written once as a record (namespace `manifestsNamespace(channel)`, one per channel, removed
 * with the channel), which a process reads when it first extends that channel's manifests: a
 * restarted node keeps extending manifests PUT before it started. A media segment of any
 * pipeline extends every pipeline's copy of the channel's manifests: a pipeline that PUT its
 * manifest once and then died keeps it alive while another pipeline goes on.
 */
import { manifestsNamespace } from '../channels/registry.js'
import type { ObjectStore } from '../storage/object-store.js'
import type { ObjectMeta, StorageDriver } from '../storage/types.js'
import type { ChannelConfig } from '../timing/channel-config.js'
import { extendedInitExpiry } from '../timing/schedule.js'
import { initPathOf } from '../timing/template.js'

const MAX_ENTRIES = 4096

export class InitLifetimes {
  readonly #store: Pick<ObjectStore, 'list' | 'extend'>
  readonly #records: Pick<StorageDriver, 'putRecord' | 'listRecords'>
  /** channel/path/pipeline → the init segment's or manifest's record as last seen. */
  readonly #known = new Map<string, ObjectMeta>()
  /** channel/path of a manifest → the pipelines whose copies were last seen. */
  readonly #copies = new Map<string, Set<string>>()
  readonly #running = new Map<string, Promise<void>>()
  /** channel → its manifest paths; read from the records once, then added to by commits. */
  readonly #manifests = new Map<string, Promise<Set<string>>>()

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
    this.#copies.get(`${meta.channel}/${meta.path}`)?.add(meta.pipeline)
    const paths = await this.#manifestPaths(meta.channel)
    if (paths.has(meta.path)) return
    paths.add(meta.path)
    await this.#records.putRecord(manifestsNamespace(meta.channel), meta.path, meta.path).catch((err) => {
      paths.delete(meta.path)
      throw err
    })
  }

  /**
   * A media segment of `channel`, expiring at `segmentExpires`, committed at `now`: extends
   * every pipeline's copy of the channel's manifests that would expire first.
   */
  async manifestsOutlive(
    channel: string,
    cfg: Pick<ChannelConfig, 'dvrWindowMs'>,
    segmentExpires: number,
    now: number,
  ): Promise<void> {
    const paths = await this.#manifestPaths(channel)
    await Promise.all([...paths].map((path) => this.#extendEvery(channel, path, cfg, segmentExpires, now)))
  }

  /** The channel's manifest paths, read from its records the first time. */
  #manifestPaths(channel: string): Promise<Set<string>> {
    let paths = this.#manifests.get(channel)
    if (!paths) {
      paths = this.#records.listRecords<string>(manifestsNamespace(channel)).then(
        (records) => new Set(records.map((r) => r.id)),
        (err: unknown) => {
          this.#manifests.delete(channel)
          throw err
        },
      )
      this.#manifests.set(channel, paths)
      if (this.#manifests.size > MAX_ENTRIES) this.#manifests.delete(this.#manifests.keys().next().value!)
    }
    return paths
  }

  /**
   * Extends every pipeline's copy of (channel, path) that would expire before
   * `segmentExpires`. While the copies last seen all outlive it, this costs map lookups; else
   * the copies are listed afresh (one read: a copy PUT on another node since is found too).
   */
  #extendEvery(
    channel: string,
    path: string,
    cfg: Pick<ChannelConfig, 'dvrWindowMs'>,
    segmentExpires: number,
    now: number,
  ): Promise<void> {
    const key = `${channel}/${path}`
    const pipelines = this.#copies.get(key)
    const due = (meta: ObjectMeta | undefined) =>
      !meta || extendedInitExpiry(cfg, meta.expiresAt, segmentExpires, now) !== undefined
    if (pipelines && ![...pipelines].some((p) => due(this.#known.get(`${key}/${p}`))))
      return Promise.resolve()
    const running = this.#running.get(key)
    if (running) return running
    const work = (async () => {
      const copies = await this.#store.list(channel, path)
      this.#copies.set(key, new Set(copies.map((m) => m.pipeline)))
      if (this.#copies.size > MAX_ENTRIES) this.#copies.delete(this.#copies.keys().next().value!)
      await Promise.all(
        copies.map(async (meta) => {
          const expiresAt = extendedInitExpiry(cfg, meta.expiresAt, segmentExpires, now)
          if (expiresAt === undefined) return this.#set(`${key}/${meta.pipeline}`, meta)
          const extended = await this.#store.extend(meta, expiresAt)
          // Replaced or removed meanwhile: listed again with the next segment.
          if (extended) this.#set(`${key}/${meta.pipeline}`, extended)
          else this.#known.delete(`${key}/${meta.pipeline}`)
        }),
      )
    })().finally(() => this.#running.delete(key))
    this.#running.set(key, work)
    return work
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
    const path = initPathOf(cfg, rendition)
    if (path === undefined) return Promise.resolve()
    return this.#extend(channel, path, cfg, pipeline, segmentExpires, now)
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
