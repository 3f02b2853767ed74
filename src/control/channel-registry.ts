/**
 * Channels and their control-plane data (configuration, masks), stored in the storage
 * driver's record namespaces and held in memory in every process, so that every timing
 * decision is made from memory. Explicit configuration (API, config file) wins over what is
 * learned from an MPD.
 */
import { errors } from '../errors.js'
import { checkChannelName } from '../http/names.js'
import { type Mask, parseMask } from '../selection/masks.js'
import type { StorageDriver } from '../storage/types.js'
import { type ChannelConfig, mergeChannelConfig, parseChannelConfig } from '../timing/channel-config.js'
import { type LearnedChannel, learnChannelFromMpd } from '../timing/mpd.js'
import { liveEdge } from '../timing/schedule.js'
import { compilePathMatcher, type PathMatcher } from '../timing/template.js'

const CHANNELS = 'channels'
const MASKS = 'masks'

/** What is stored per channel. */
interface ChannelRecord {
  /** Configuration given through the API (unvalidated input, validated on load). */
  explicit?: Record<string, unknown>
  /** Fields learned from an MPD. */
  learned?: Omit<LearnedChannel, 'warnings'>
  createdAt: number
  /** When the channel was ended (DELETE); its objects expire with the DVR window. */
  endedAt?: number
}

export interface Channel {
  readonly name: string
  /** Effective timing configuration; undefined for a channel without a template. */
  readonly config: ChannelConfig | undefined
  readonly matcher: PathMatcher | undefined
  readonly source: 'api' | 'config' | 'mpd' | 'implicit'
  readonly masks: readonly Mask[]
  readonly createdAt: number
  readonly endedAt: number | undefined
}

export class ChannelRegistry {
  readonly #driver: StorageDriver
  readonly #fromFile: Map<string, Record<string, unknown>>
  readonly #channels = new Map<string, Channel>()
  readonly #onChange: (channel: string) => void
  /** Counts changes made by this process; `#changed` holds the count at each channel's last one. */
  #changes = 0
  readonly #changed = new Map<string, number>()

  constructor(
    driver: StorageDriver,
    fileChannels: Record<string, unknown>,
    onChange: (channel: string) => void = () => {},
  ) {
    this.#driver = driver
    this.#onChange = onChange
    this.#fromFile = new Map()
    for (const [name, cfg] of Object.entries(fileChannels)) {
      checkChannelName(name)
      if (typeof cfg !== 'object' || cfg === null)
        throw errors.badConfig(`channels.${name}`, 'expected a mapping')
      parseChannelConfig(cfg) // fail at start-up on a bad file entry
      this.#fromFile.set(name, cfg as Record<string, unknown>)
    }
  }

  /**
   * Loads every channel from storage (start-up, and periodically where other nodes change
   * channels). A channel this process changed while the load was reading keeps its newer state.
   */
  async load(): Promise<void> {
    const started = this.#changes
    const [records, masks] = await Promise.all([
      this.#driver.listRecords<ChannelRecord>(CHANNELS),
      this.#driver.listRecords<Mask[]>(MASKS),
    ])
    const stale = (name: string) => (this.#changed.get(name) ?? 0) > started
    const maskBy = new Map(masks.map((m) => [m.id, m.value]))
    const seen = new Set<string>()
    for (const { id, value } of records) {
      seen.add(id)
      if (!stale(id)) this.#set(id, value, maskBy.get(id) ?? [])
    }
    for (const name of this.#fromFile.keys()) {
      if (!seen.has(name) && !stale(name)) this.#set(name, { createdAt: Date.now() }, maskBy.get(name) ?? [])
    }
    for (const name of [...this.#channels.keys()]) {
      if (!seen.has(name) && !this.#fromFile.has(name) && !stale(name)) this.#channels.delete(name)
    }
  }

  /** Re-reads one channel from storage (after another process changed it). */
  async refresh(name: string): Promise<void> {
    const [record, masks] = await Promise.all([
      this.#driver.getRecord<ChannelRecord>(CHANNELS, name),
      this.#driver.getRecord<Mask[]>(MASKS, name),
    ])
    if (record) this.#set(name, record, masks ?? [])
    else if (this.#fromFile.has(name)) this.#set(name, { createdAt: Date.now() }, masks ?? [])
    else this.#channels.delete(name)
  }

  get(name: string): Channel | undefined {
    return this.#channels.get(name)
  }

  list(): Channel[] {
    return [...this.#channels.values()]
  }

  /** Creates or replaces a channel's explicit configuration. Throws 400 naming a bad field. */
  async put(name: string, input: unknown): Promise<{ channel: Channel; created: boolean }> {
    checkChannelName(name)
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw errors.badRequest('channel configuration must be a JSON object')
    }
    parseChannelConfig(input)
    const previous = await this.#driver.getRecord<ChannelRecord>(CHANNELS, name)
    const record: ChannelRecord = {
      ...(previous?.learned ? { learned: previous.learned } : {}),
      explicit: input as Record<string, unknown>,
      createdAt: previous?.createdAt ?? Date.now(),
    }
    await this.#store(name, record)
    return { channel: this.#channels.get(name)!, created: !previous || previous.endedAt !== undefined }
  }

  /** Creates a channel without a template (first PUT to an unknown channel, non-strict mode). */
  async ensure(name: string): Promise<Channel> {
    const existing = this.#channels.get(name)
    if (existing) return existing
    // Another node may have created it since this process loaded its channels: never
    // overwrite that record (and its template) with an empty one.
    await this.refresh(name)
    const stored = this.#channels.get(name)
    if (stored) return stored
    await this.#store(name, { createdAt: Date.now() })
    return this.#channels.get(name)!
  }

  /** Learns timing from an MPD a pipeline PUT. Returns false when the MPD taught nothing new. */
  async learnFromMpd(name: string, xml: string, mpdPath: string, parsed?: LearnedChannel): Promise<boolean> {
    // `parsed`: what the caller already learned from `xml` (e.g. on a worker thread).
    const { warnings: _warnings, ...learned } = parsed ?? learnChannelFromMpd(xml, { path: mpdPath })
    const previous = (await this.#driver.getRecord<ChannelRecord>(CHANNELS, name)) ?? {
      createdAt: Date.now(),
    }
    if (JSON.stringify(previous.learned) === JSON.stringify(learned)) return false
    await this.#store(name, { ...previous, learned })
    return true
  }

  /** Ends a channel: it stays readable until its objects expire with the DVR window. */
  async end(name: string): Promise<boolean> {
    const previous = await this.#driver.getRecord<ChannelRecord>(CHANNELS, name)
    if (!previous && !this.#fromFile.has(name)) return false
    await this.#driver.deleteRecord(CHANNELS, name)
    await this.#driver.deleteRecord(MASKS, name)
    this.#channels.delete(name)
    this.#changed.set(name, ++this.#changes)
    this.#onChange(name)
    return true
  }

  async addMask(name: string, input: unknown): Promise<Mask> {
    const channel = this.#channels.get(name)
    if (!channel) throw errors.unknownChannel(name)
    const cfg = channel.config
    const toNumber = cfg ? (t: number) => Math.max(cfg.startNumber, liveEdge(cfg, t)) : undefined
    const mask = parseMask(input, toNumber)
    const masks = [...channel.masks, mask]
    await this.#driver.putRecord(MASKS, name, masks)
    this.#channels.set(name, { ...channel, masks })
    this.#changed.set(name, ++this.#changes)
    this.#onChange(name)
    return mask
  }

  /** Lifts masks of `pipeline` (all of them, or those overlapping [from, to]). */
  async removeMasks(
    name: string,
    pipeline: string | undefined,
    range?: { from: number; to: number },
  ): Promise<number> {
    const channel = this.#channels.get(name)
    if (!channel) throw errors.unknownChannel(name)
    const keep = channel.masks.filter(
      (m) =>
        (pipeline !== undefined && m.pipeline !== pipeline) ||
        (range !== undefined && (m.to < range.from || m.from > range.to)),
    )
    const removed = channel.masks.length - keep.length
    await this.#driver.putRecord(MASKS, name, keep)
    this.#channels.set(name, { ...channel, masks: keep })
    this.#changed.set(name, ++this.#changes)
    this.#onChange(name)
    return removed
  }

  async #store(name: string, record: ChannelRecord): Promise<void> {
    await this.#driver.putRecord(CHANNELS, name, record)
    const masks = this.#channels.get(name)?.masks ?? []
    this.#set(name, record, masks)
    this.#changed.set(name, ++this.#changes)
    this.#onChange(name)
  }

  #set(name: string, record: ChannelRecord, masks: readonly Mask[]): void {
    const explicit = record.explicit ?? this.#fromFile.get(name)
    let config: ChannelConfig | undefined
    let source: Channel['source'] = 'implicit'
    if (explicit && record.learned) {
      config = mergeChannelConfig(record.learned, explicit)
      source = record.explicit ? 'api' : 'config'
    } else if (explicit) {
      config = parseChannelConfig(explicit)
      source = record.explicit ? 'api' : 'config'
    } else if (record.learned) {
      config = mergeChannelConfig(record.learned, undefined)
      source = 'mpd'
    }
    this.#channels.set(name, {
      name,
      config,
      matcher: config ? compilePathMatcher(config) : undefined,
      source,
      masks,
      createdAt: record.createdAt,
      endedAt: record.endedAt,
    })
  }
}
