/**
 * Channels and their control-plane data (configuration, masks), stored in the storage
 * driver's record namespaces and held in memory in every process, so that every timing
 * decision is made from memory. Explicit configuration (API, config file) wins over what is
 * learned from an MPD, which wins over what is learned from HLS playlists (docs/timing.md,
 * "HLS timing").
 *
 * Other nodes' changes arrive by `poll()` (docs/running-at-scale.md#control-plane): every
 * change also rewrites one version record, which every node reads every few seconds (one
 * single-partition read); the channel and mask namespaces are scanned only when it changed,
 * and every `RESCAN_EVERY_MS` whatever it says. Nothing is deleted from the scanned
 * namespaces: an ended channel's record is overwritten by an end marker that expires by itself
 * (`ENDED_KEPT_MS`), so scans never read tombstones of ended channels.
 */
import { randomUUID } from 'node:crypto'
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
import { EXPIRY_MARGIN_MS, liveEdge } from '../timing/schedule.js'
import { compilePathMatcher, type PathMatcher } from '../timing/template.js'

const CHANNELS = 'channels'
const MASKS = 'masks'
/** Namespace and id of the version record, rewritten with every channel or mask change. */
const CONTROL = 'control'
const VERSION = 'version'
/** How often `poll` scans every channel even when the version record did not change. */
export const RESCAN_EVERY_MS = 5 * 60_000
/**
 * How long an ended channel's end marker lives, at least (its channel's DVR window and the
 * expiry margin when longer). Not shorter than the Cassandra records table's gc_grace (10
 * days): an expired cell whose TTL is at least gc_grace is dropped by the first compaction
 * after it expires, instead of lingering as a tombstone (docs/storage.md).
 */
export const ENDED_KEPT_MS = 10 * 24 * 3_600_000

/** Record namespace of the manifest paths of `channel` (id: the path; see ingest/init-lifetimes.ts). */
export function manifestsNamespace(channel: string): string {
  return `manifests:${channel}`
}

interface VersionRecord {
  /** Random per change: any value other than the one last read means "scan again". */
  token: string
  at: number
}

/** What is stored per channel. */
interface ChannelRecord {
  /** Configuration given through the API (unvalidated input, validated on load). */
  explicit?: Record<string, unknown>
  /** Fields learned from an MPD, or from HLS playlists (`from: 'hls'`). */
  learned?: Omit<LearnedChannel, 'warnings'> | HlsRecord
  /** Variant playlist paths of the channel's multivariant HLS playlist (they name the renditions). */
  hlsVariants?: string[]
  createdAt: number
  /**
   * When the channel was ended (DELETE): the record is then an end marker, read as "no
   * channel", which expires by itself; its objects expire with the DVR window.
   */
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
  /** Clock (epoch ms) for end markers and the safety rescan. */
  now?: () => number
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
  readonly #now: () => number
  /** The version token read before the last full scan, and when that scan ran. */
  #version: string | undefined
  #scannedAt = Number.NEGATIVE_INFINITY

  constructor(driver: StorageDriver, fileChannels: Record<string, unknown>, options: RegistryOptions = {}) {
    this.#driver = driver
    this.#onChange = options.onChange ?? (() => {})
    this.#onBroken = options.onBroken ?? (() => {})
    this.#maxChannels = options.maxChannels ?? Number.POSITIVE_INFINITY
    this.#maxMasks = options.maxMasksPerChannel ?? Number.POSITIVE_INFINITY
    this.#now = options.now ?? Date.now
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
    const scannedAt = this.#now()
    const [records, masks] = await Promise.all([
      this.#driver.listRecords<ChannelRecord>(CHANNELS),
      this.#driver.listRecords<Mask[]>(MASKS),
    ])
    this.#scannedAt = scannedAt
    const stale = (name: string) => (this.#changed.get(name) ?? 0) > started
    const maskBy = new Map(masks.map((m) => [m.id, m.value]))
    const seen = new Set<string>()
    for (const { id, value } of records) {
      if (isEnded(value)) continue
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

  /**
   * Brings this process up to date with changes made on other nodes: reads the version
   * record (one single-partition read) and scans every channel only when it changed since
   * the last scan, or when the last scan is `RESCAN_EVERY_MS` old (a change whose version
   * write failed, a record edited by hand). Returns whether it scanned.
   */
  async poll(): Promise<boolean> {
    const version = await this.#driver.getRecord<VersionRecord>(CONTROL, VERSION)
    const token = version?.token
    if (token === this.#version && this.#now() - this.#scannedAt < RESCAN_EVERY_MS) return false
    // Read before the scan: a change made after this read bumps the version again.
    await this.load()
    this.#version = token
    return true
  }

  /** Re-reads one channel from storage (after another process changed it). */
  async refresh(name: string): Promise<void> {
    const [record, masks] = await Promise.all([
      this.#stored(name),
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
    const previous = await this.#stored(name)
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
    return { channel: this.#channels.get(name)!, created: !previous }
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
    const previous = (await this.#stored(name)) ?? {
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
    const previous = this.#records.get(name) ?? (await this.#stored(name)) ?? { createdAt: Date.now() }
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

  /**
   * Ends a channel: its objects expire with the DVR window. Its record is overwritten by an
   * end marker that expires by itself (`ENDED_KEPT_MS`), its masks by an empty list that
   * does too, so that nothing is deleted from the namespaces every node scans; its manifest
   * path records (a namespace of its own, which nothing reads once it ended) are deleted.
   */
  async end(name: string): Promise<boolean> {
    const previous = await this.#stored(name)
    if (!previous && !this.#fromFile.has(name)) return false
    const now = this.#now()
    const dvr = this.#channels.get(name)?.config?.dvrWindowMs ?? 0
    const until = now + Math.max(ENDED_KEPT_MS, dvr + EXPIRY_MARGIN_MS)
    await this.#driver.putRecord(CHANNELS, name, { ...(previous ?? { createdAt: now }), endedAt: now }, until)
    if ((await this.#driver.getRecord<Mask[]>(MASKS, name)) !== undefined)
      await this.#driver.putRecord(MASKS, name, [], until)
    const namespace = manifestsNamespace(name)
    for (const { id } of await this.#driver.listRecords(namespace))
      await this.#driver.deleteRecord(namespace, id)
    this.#channels.delete(name)
    this.#records.delete(name)
    await this.#changedHere(name)
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
    await this.#changedHere(name)
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
    await this.#changedHere(name)
    return removed
  }

  async #store(name: string, record: ChannelRecord): Promise<void> {
    await this.#driver.putRecord(CHANNELS, name, record)
    this.#records.set(name, record)
    const masks = this.#channels.get(name)?.masks ?? []
    this.#set(name, record, masks)
    await this.#changedHere(name)
  }

  /** The channel's stored record; undefined when there is none or it is an end marker. */
  async #stored(name: string): Promise<ChannelRecord | undefined> {
    const record = await this.#driver.getRecord<ChannelRecord>(CHANNELS, name)
    return record === undefined || isEnded(record) ? undefined : record
  }

  /**
   * After this process changed `name` in storage: tells the other processes of this node
   * (`onChange`) and, through the version record, every other node's next `poll`.
   */
  async #changedHere(name: string): Promise<void> {
    this.#changed.set(name, ++this.#changes)
    this.#onChange(name)
    const version: VersionRecord = { token: randomUUID(), at: this.#now() }
    await this.#driver.putRecord(CONTROL, VERSION, version)
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

/** Whether a stored channel record is an end marker (the channel was ended). */
function isEnded(record: unknown): boolean {
  return typeof record === 'object' && record !== null && (record as ChannelRecord).endedAt !== undefined
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
