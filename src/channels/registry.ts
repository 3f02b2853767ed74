/**
 * Channels and their control-plane data (configuration, masks), stored in the storage
 * driver's record namespaces and held in memory in every process, so that every timing
 * decision is made from memory. Explicit configuration (API, config file) wins over what is
 * learned from an MPD, which wins over what is learned from HLS playlists (docs/timing.md,
 * "HLS timing").
 */
import { errors, isLiveOriginError } from '../errors.js'
import { checkChannelName } from '../http/names.js'
import { type Mask, parseMask } from '../selection/masks.js'
import type { StorageDriver } from '../storage/types.js'
import { type ChannelConfig, mergeChannelConfig, parseChannelConfig } from '../timing/channel-config.js'
import {
  generaliseHlsRecord,
  type HlsRecord,
  nextHlsRecord,
  type PlaylistLesson,
  renditionOfPlaylist,
} from '../timing/hls-learn.js'
import { type LearnedChannel, learnChannelFromMpd } from '../timing/mpd.js'
import { liveEdge } from '../timing/schedule.js'
import { compilePathMatcher, type PathMatcher } from '../timing/template.js'

const CHANNELS = 'channels'
const MASKS = 'masks'

/** What is stored per channel. */
interface ChannelRecord {
  /** Configuration given through the API (unvalidated input, validated on load). */
  explicit?: Record<string, unknown>
  /** Fields learned from an MPD, or from HLS playlists (`from: 'hls'`). */
  learned?: Omit<LearnedChannel, 'warnings'> | HlsRecord
  /** Variant playlist paths of the channel's multivariant HLS playlist (they name the renditions). */
  hlsVariants?: string[]
  createdAt: number
  /** When the channel was ended (DELETE); its objects expire with the DVR window. */
  endedAt?: number
}

export interface Channel {
  readonly name: string
  /** Effective timing configuration; undefined for a channel without a template. */
  readonly config: ChannelConfig | undefined
  readonly matcher: PathMatcher | undefined
  readonly source: 'api' | 'config' | 'mpd' | 'hls' | 'implicit'
  readonly masks: readonly Mask[]
  readonly createdAt: number
  readonly endedAt: number | undefined
  /**
   * Why the stored record could not be used (it failed validation at load): the channel is
   * kept without a template, so that it shows in the status and can be repaired by a new
   * configuration or MPD, instead of stopping the process.
   */
  readonly broken?: string
}

/** Limits and notices of a {@link ChannelRegistry}. */
export interface RegistryOptions {
  /** Called after this process changed a channel (the bus tells the other processes). */
  onChange?: (channel: string) => void
  /** Called for each stored record that fails validation when loaded. */
  onBroken?: (channel: string, why: string) => void
  /** Channels the origin holds at most (`control.maxChannels`). */
  maxChannels?: number
  /** Masks per channel at most (`control.maxMasksPerChannel`). */
  maxMasksPerChannel?: number
}

export class ChannelRegistry {
  readonly #driver: StorageDriver
  readonly #fromFile: Map<string, Record<string, unknown>>
  readonly #channels = new Map<string, Channel>()
  readonly #onChange: (channel: string) => void
  readonly #onBroken: (channel: string, why: string) => void
  readonly #maxChannels: number
  readonly #maxMasks: number
  /** Names of broken channels already reported, so that periodic reloads report each once. */
  readonly #reported = new Map<string, string>()
  /** Counts changes made by this process; `#changed` holds the count at each channel's last one. */
  #changes = 0
  readonly #changed = new Map<string, number>()
  /** The stored record of each channel, as last loaded or written (HLS learning compares with it). */
  readonly #records = new Map<string, ChannelRecord>()

  constructor(driver: StorageDriver, fileChannels: Record<string, unknown>, options: RegistryOptions = {}) {
    this.#driver = driver
    this.#onChange = options.onChange ?? (() => {})
    this.#onBroken = options.onBroken ?? (() => {})
    this.#maxChannels = options.maxChannels ?? Number.POSITIVE_INFINITY
    this.#maxMasks = options.maxMasksPerChannel ?? Number.POSITIVE_INFINITY
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
      if (!seen.has(name) && !this.#fromFile.has(name) && !stale(name)) {
        this.#channels.delete(name)
        this.#records.delete(name)
      }
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
    else {
      this.#channels.delete(name)
      this.#records.delete(name)
    }
  }

  get(name: string): Channel | undefined {
    return this.#channels.get(name)
  }

  list(): Channel[] {
    return [...this.#channels.values()]
  }

  /** Channels in name order, at most `limit` of them, starting after the name `after`. */
  page(limit: number, after?: string): { channels: Channel[]; next: string | null } {
    const names = [...this.#channels.keys()].filter((n) => after === undefined || n > after).sort()
    const shown = names.slice(0, limit)
    return {
      channels: shown.map((n) => this.#channels.get(n)!),
      next: names.length > limit ? shown[shown.length - 1]! : null,
    }
  }

  get size(): number {
    return this.#channels.size
  }

  /** Refuses a new channel beyond `control.maxChannels`. */
  #checkRoom(name: string): void {
    if (!this.#channels.has(name) && this.#channels.size >= this.#maxChannels) {
      throw errors.limitReached(
        `cannot create channel ${name}: the origin already holds ${this.#channels.size} channels`,
        this.#maxChannels,
        'control.maxChannels',
      )
    }
  }

  /** Creates or replaces a channel's explicit configuration. Throws 400 naming a bad field. */
  async put(name: string, input: unknown): Promise<{ channel: Channel; created: boolean }> {
    checkChannelName(name)
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw errors.badRequest('channel configuration must be a JSON object')
    }
    parseChannelConfig(input)
    const previous = await this.#driver.getRecord<ChannelRecord>(CHANNELS, name)
    if (!previous) this.#checkRoom(name)
    // What was learned stays beneath the new configuration only if the two make a valid
    // channel (a stored learned record may predate today's rules): explicit wins.
    let learned = previous?.learned
    if (learned) {
      try {
        mergeChannelConfig(learned, input as Record<string, unknown>)
      } catch {
        learned = undefined
      }
    }
    const record: ChannelRecord = {
      ...(learned ? { learned } : {}),
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
    this.#checkRoom(name)
    await this.#store(name, { createdAt: Date.now() })
    return this.#channels.get(name)!
  }

  /**
   * What an MPD a pipeline PUT would teach channel `name`, checked before anything is
   * stored: `{ learned }`, or `{ skipped: why }` when the MPD holds no timing to learn
   * (a static MPD, no SegmentTemplate, …: stored as an object, nothing learned).
   * `learning` is the parse of the MPD (`learnChannelFromMpd`, e.g. run on a worker thread).
   * @throws LiveOriginError `BAD_MPD` (400) naming the MPD field whose value the origin
   * cannot run the channel with; the PUT is then refused and nothing changes.
   */
  async checkMpd(
    name: string,
    learning: Promise<LearnedChannel>,
  ): Promise<{ learned: LearnedChannel } | { skipped: string }> {
    let learned: LearnedChannel
    try {
      learned = await learning
    } catch (err) {
      if (isLiveOriginError(err) && err.code === errors.badRequest.code) return { skipped: err.message }
      throw err
    }
    const explicit = this.#fromFile.get(name)
    if (explicit) {
      try {
        mergeChannelConfig(learned, explicit)
      } catch (err) {
        if (!isLiveOriginError(err)) throw err
        throw errors.badMpd('timing', `conflicts with the channel's configuration: ${err.message}`)
      }
    }
    this.#checkRoom(name)
    return { learned }
  }

  /** Stores what an MPD taught (see {@link checkMpd}). Returns false when it taught nothing new. */
  async learn(name: string, checked: LearnedChannel): Promise<boolean> {
    const { warnings: _warnings, ...learned } = checked
    const previous = (await this.#driver.getRecord<ChannelRecord>(CHANNELS, name)) ?? {
      createdAt: Date.now(),
    }
    if (JSON.stringify(previous.learned) === JSON.stringify(learned)) return false
    await this.#store(name, { ...previous, learned })
    return true
  }

  /**
   * Learns from an HLS playlist a pipeline PUT (see `readPlaylist`), unless the channel has an
   * explicit configuration or timing learned from an MPD: those win. Compares with the record
   * in memory and writes only when the templates change, D or S change, or A(N) at the
   * newest segment moves by more than the re-learning tolerance, so that the playlists of a
   * live channel (one per rendition every D) do not re-write the channel each time.
   * Returns whether the channel changed; a lesson without timing changes nothing.
   */
  async learnFromPlaylist(name: string, lesson: PlaylistLesson): Promise<boolean> {
    if (this.#fromFile.has(name)) return false
    const previous = this.#records.get(name) ??
      (await this.#driver.getRecord<ChannelRecord>(CHANNELS, name)) ?? { createdAt: Date.now() }
    if (previous.explicit) return false
    if (previous.learned && !isHls(previous.learned)) return false
    const before = previous.learned as HlsRecord | undefined
    if (lesson.kind === 'multivariant') {
      const sameVariants = JSON.stringify(previous.hlsVariants ?? []) === JSON.stringify(lesson.variants)
      const learned = generaliseHlsRecord(before, lesson.variants)
      if (sameVariants && !learned) return false
      this.#checkRoom(name)
      await this.#store(name, {
        ...previous,
        hlsVariants: [...lesson.variants],
        ...(learned ? { learned } : {}),
      })
      return true
    }
    if ('skipped' in lesson.learned) return false
    const rendition = renditionOfPlaylist(lesson.path, previous.hlsVariants ?? [])
    const learned = nextHlsRecord(before, lesson.learned, rendition)
    if (!learned) return false
    this.#checkRoom(name)
    await this.#store(name, { ...previous, learned })
    return true
  }

  /** Checks and learns timing from an MPD in one step; see {@link checkMpd}. */
  async learnFromMpd(name: string, xml: string, mpdPath: string): Promise<boolean> {
    const r = await this.checkMpd(
      name,
      Promise.resolve().then(() => learnChannelFromMpd(xml, { path: mpdPath })),
    )
    if ('skipped' in r) throw errors.badRequest(r.skipped)
    return this.learn(name, r.learned)
  }

  /** Ends a channel: it stays readable until its objects expire with the DVR window. */
  async end(name: string): Promise<boolean> {
    const previous = await this.#driver.getRecord<ChannelRecord>(CHANNELS, name)
    if (!previous && !this.#fromFile.has(name)) return false
    await this.#driver.deleteRecord(CHANNELS, name)
    await this.#driver.deleteRecord(MASKS, name)
    this.#channels.delete(name)
    this.#records.delete(name)
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
    if (channel.masks.length >= this.#maxMasks) {
      throw errors.limitReached(
        `cannot add a mask to channel ${name}: it already has ${channel.masks.length}`,
        this.#maxMasks,
        'control.maxMasksPerChannel',
      )
    }
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
    this.#records.set(name, record)
    const masks = this.#channels.get(name)?.masks ?? []
    this.#set(name, record, masks)
    this.#changed.set(name, ++this.#changes)
    this.#onChange(name)
  }

  /**
   * Makes a stored record the channel's state. A record that fails validation (stored by an
   * older version, or edited by hand) does not stop the process: the channel is kept without
   * a template and marked broken, and the problem is reported once.
   */
  #set(name: string, stored: ChannelRecord, storedMasks: readonly Mask[]): void {
    const record: Partial<ChannelRecord> = typeof stored === 'object' && stored !== null ? stored : {}
    if (record === stored) this.#records.set(name, stored)
    else this.#records.delete(name)
    const problems: string[] = []
    let masks: readonly Mask[] = []
    try {
      masks = checkStoredMasks(storedMasks)
    } catch (err) {
      problems.push(describe(err))
    }
    try {
      if (record !== stored) throw errors.badConfig('record', 'is not an object')
      this.#apply(name, stored, masks)
    } catch (err) {
      problems.unshift(describe(err))
      this.#channels.set(name, {
        name,
        config: undefined,
        matcher: undefined,
        source: record.explicit
          ? 'api'
          : record.learned
            ? isHls(record.learned)
              ? 'hls'
              : 'mpd'
            : this.#fromFile.has(name)
              ? 'config'
              : 'implicit',
        masks: [],
        createdAt: typeof record.createdAt === 'number' ? record.createdAt : 0,
        endedAt: undefined,
      })
    }
    const why = problems.join('; ')
    if (why === '') {
      this.#reported.delete(name)
      return
    }
    this.#channels.set(name, { ...this.#channels.get(name)!, broken: why })
    if (this.#reported.get(name) !== why) {
      this.#reported.set(name, why)
      this.#onBroken(name, why)
    }
  }

  #apply(name: string, record: ChannelRecord, masks: readonly Mask[]): void {
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
      source = isHls(record.learned) ? 'hls' : 'mpd'
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

function isHls(learned: object): learned is HlsRecord {
  return (learned as { from?: unknown }).from === 'hls'
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Stored masks, checked as the API checks new ones; throws `BAD_CONFIG` naming the bad one. */
function checkStoredMasks(masks: unknown): Mask[] {
  if (!Array.isArray(masks)) throw errors.badConfig('masks', 'stored masks are not a list')
  return masks.map((m, i) => {
    try {
      return parseMask(m)
    } catch (err) {
      if (!isLiveOriginError(err)) throw err
      throw errors.badConfig(`masks[${i}]`, err.message)
    }
  })
}
