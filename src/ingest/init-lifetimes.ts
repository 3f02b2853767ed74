/**
 * Keeps init segments alive while their rendition is live. An init segment is stored with an
 * expiry (`initExpiresAt`: one DVR window and a bit after it was written), like every other
 * object, so that nothing in storage waits for a process to delete it. A packager usually
 * PUTs it once per event, though, so when a media segment commits whose copy would outlive
 * its pipeline's init segment, the init segment's expiry is extended in storage
 * (`ObjectStore.extend`, which never undoes a newer PUT or DELETE of it made elsewhere).
 * Known expiries are remembered per process, so a media segment costs a map lookup; the
 * storage work happens about once per `INIT_EXTEND_EVERY_MS` per init segment, after the 2xx.
 */
import type { ObjectStore } from '../storage/object-store.js'
import type { ObjectMeta } from '../storage/types.js'
import type { ChannelConfig } from '../timing/channel-config.js'
import { extendedInitExpiry } from '../timing/schedule.js'
import { renderInitPath } from '../timing/template.js'

const MAX_ENTRIES = 4096

export class InitLifetimes {
  readonly #store: Pick<ObjectStore, 'list' | 'extend'>
  /** channel/path/pipeline → the init segment's record as last seen. */
  readonly #known = new Map<string, ObjectMeta>()
  readonly #running = new Map<string, Promise<void>>()

  constructor(store: Pick<ObjectStore, 'list' | 'extend'>) {
    this.#store = store
  }

  /** An init segment this process just stored. */
  remember(meta: ObjectMeta): void {
    this.#set(`${meta.channel}/${meta.path}/${meta.pipeline}`, meta)
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
    const path = renderInitPath(cfg, rendition)
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
