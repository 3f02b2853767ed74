/**
 * Bodies delivery makes instead of serving a stored copy as it is (docs/selection.md
 * "Repair", docs/timing.md "Gap policy"): the repaired form of a cut-off fMP4 copy, and the
 * filler for a missing segment (an earlier segment of the rendition re-timed to N). Both
 * are built only when selection leads to them (never for a valid copy), from storage reads
 * that go through the reader's caches, and kept in a small per-process memory cache keyed
 * by the upload token of their source, which never changes meaning: every node builds the
 * same bytes from the same source.
 */
import type { Channel } from '../channels/registry.js'
import { isFragmentedMp4 } from '../http/content-type.js'
import { parseInit, summarizeFragment } from '../media/fmp4.js'
import { inspectSegment } from '../media/inspect.js'
import { repairSegment } from '../media/repair.js'
import { moveSegment, retimeSegment } from '../media/retime.js'
import type { ObjectReader } from '../objects/reader.js'
import { segmentSelectionContext } from '../selection/context.js'
import { mergeDefects, parseDefects, serializeDefects } from '../selection/defects.js'
import type { HealthBook } from '../selection/health-book.js'
import { isUndecodable, selectCandidate } from '../selection/select.js'
import type { Defect, InitInfo } from '../selection/types.js'
import type { ObjectMeta } from '../storage/types.js'
import type { ChannelConfig } from '../timing/channel-config.js'
import { FILLER_SEARCH_SEGMENTS } from '../timing/schedule.js'
import { renderInitPath, renderMediaPath } from '../timing/template.js'

/**
 * What making copies reads: bodies and candidate lists through the reader's caches, the
 * preferred copy of an init segment, the clock. The made copies are cached per object
 * passed here (one per process).
 */
export interface SubstituteDeps {
  readonly reader: Pick<ObjectReader, 'candidates' | 'body'>
  readonly health: Pick<HealthBook, 'preferred'>
  readonly now: () => number
}

/** An answer body built in memory, with the validators it is served with. */
export interface MadeBody {
  readonly bytes: Buffer
  /** Strong entity tag, quoted. */
  readonly etag: string
  /** `Last-Modified` (epoch ms). */
  readonly modifiedAt: number
  readonly contentType: string
}

/** A body made by the origin, with what its answer says about it. */
export interface Substitute extends MadeBody {
  /** `Segment-Pipeline`: the pipeline of the source copy. */
  readonly pipeline: string
  /** `Segment-Defects` of the answer. */
  readonly defects: string
  /** The segment number of the source copy. */
  readonly sourceNumber: number
}

/** Entries of the per-process cache (repaired copies, fillers, parsed init segments). */
const MAX_ENTRIES = 256
/** Filler source lookups remembered (commit records, small): more than a DVR storm spans in D. */
const MAX_SOURCES = 4096
/** How long a candidate list is reused while looking for a filler's source. */
const LIST_REUSE_MS = 1000

class Lru<V> {
  readonly #map = new Map<string, V>()
  readonly #max: number
  constructor(max = MAX_ENTRIES) {
    this.#max = max
  }
  get(key: string): V | undefined {
    const v = this.#map.get(key)
    if (v !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, v)
    }
    return v
  }
  set(key: string, value: V): void {
    this.#map.delete(key)
    this.#map.set(key, value)
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value!)
  }
}

interface Caches {
  readonly repaired: Lru<Substitute | null>
  readonly fillers: Lru<Substitute | null>
  readonly moved: Lru<Substitute | null>
  readonly inits: Lru<InitInfo | null>
  /** Filler sources by segment path: commit records only, never bytes. */
  readonly sources: Lru<{
    until: number
    value: Promise<{ meta: ObjectMeta; repaired: boolean } | undefined>
  }>
}

const perProcess = new WeakMap<SubstituteDeps, Caches>()

function caches(ctx: SubstituteDeps): Caches {
  let c = perProcess.get(ctx)
  if (c === undefined) {
    c = {
      repaired: new Lru(),
      fillers: new Lru(),
      moved: new Lru(),
      inits: new Lru(),
      sources: new Lru(MAX_SOURCES),
    }
    perProcess.set(ctx, c)
  }
  return c
}

/** Makes the copy served in place of `meta`, stored copy of segment n of `rendition`. */
export type CopyMaker = (
  ctx: SubstituteDeps,
  channel: Channel,
  rendition: string,
  n: number,
  meta: ObjectMeta,
) => Promise<Substitute | undefined>

/** A made copy from `cache`, or made now and remembered (a copy that cannot be made, too). */
async function remembered(
  cache: Lru<Substitute | null>,
  key: string,
  make: () => Promise<Substitute | undefined>,
): Promise<Substitute | undefined> {
  const hit = cache.get(key)
  if (hit !== undefined) return hit ?? undefined
  const made = await make()
  cache.set(key, made ?? null)
  return made
}

/** A copy made from stored `meta`: its time, type and pipeline, with new bytes, ETag and defects. */
function madeFrom(
  meta: ObjectMeta,
  bytes: Buffer,
  etag: string,
  defects: string,
  sourceNumber: number,
): Substitute {
  return {
    bytes,
    etag,
    modifiedAt: meta.committedAt,
    contentType: meta.contentType,
    pipeline: meta.pipeline,
    defects,
    sourceNumber,
  }
}

/** The stored copy's defects; undefined when the stored value does not parse. */
function storedDefects(meta: ObjectMeta): Defect[] | undefined {
  try {
    return parseDefects(meta.defects)
  } catch {
    return undefined
  }
}

/** The rendition's init segment as the channel serves it (undefined when none parses). */
async function initFor(
  ctx: SubstituteDeps,
  channel: Channel,
  rendition: string,
): Promise<InitInfo | undefined> {
  const cfg = channel.config!
  let path: string
  try {
    path = renderInitPath(cfg, rendition)
  } catch {
    return undefined
  }
  const list = await ctx.reader.candidates(channel.name, path, LIST_REUSE_MS)
  const meta = ctx.health.preferred(channel, list, ctx.now())
  if (meta === undefined) return undefined
  const cache = caches(ctx).inits
  const hit = cache.get(meta.token)
  if (hit !== undefined) return hit ?? undefined
  let info: InitInfo | null = null
  try {
    info = parseInit(await ctx.reader.body(meta))
  } catch {
    info = null
  }
  cache.set(meta.token, info)
  return info ?? undefined
}

/**
 * The decodable form of a copy that selection found undecodable (`corrupt`), or undefined
 * when there is none: the packager itself reported `corrupt` (the origin cannot tell what
 * is wrong), the bytes cannot be repaired, or the repaired bytes still do not parse. The
 * repaired copy is `short` with the ms of media its stretched last samples stand in for
 * (plus what re-inspection finds), with the packager's other
 * defects; its ETag is the stored copy's with `-repaired`.
 */
export const repairedCopy: CopyMaker = (ctx, channel, rendition, n, meta) =>
  remembered(caches(ctx).repaired, meta.token, () => makeRepaired(ctx, channel, rendition, n, meta))

async function makeRepaired(
  ...[ctx, channel, rendition, n, meta]: Parameters<CopyMaker>
): Promise<Substitute | undefined> {
  const cfg = channel.config!
  const recorded = storedDefects(meta)
  if (recorded === undefined) return undefined
  if (recorded.some((d) => d.kind === 'corrupt' && d.source === 'packager')) return undefined
  if (!isFragmentedMp4(meta.path)) return undefined
  const init = await initFor(ctx, channel, rendition)
  const r = repairSegment(await ctx.reader.body(meta), init)
  if (!r.ok || r.droppedSamples === 0) return undefined
  const summary = summarizeFragment(r.bytes, init ? { init } : {})
  if (summary.corrupt !== undefined) return undefined
  let found = inspectSegment(summary, init, {
    number: n,
    startNumber: cfg.startNumber,
    segmentDurationMs: cfg.segmentDurationMs,
  })
  // The stretched last samples keep the timeline whole; `short` still says how much media is
  // missing (the longest over the tracks), so that a CDN replaces the copy after its short TTL.
  if (!found.some((d) => d.kind === 'short')) {
    let worst: { ms: number; track: number } | undefined
    for (const m of r.missing) {
      const timescale = init?.tracks.find((t) => t.trackId === m.trackId)?.timescale
      if (timescale === undefined || timescale <= 0) continue
      const ms = Math.round((m.ticks * 1000) / timescale)
      if (worst === undefined || ms > worst.ms) worst = { ms, track: m.trackId }
    }
    found = [...found, { kind: 'short', params: worst ?? {}, source: 'origin' }]
  }
  const packager = recorded.filter((d) => d.source === 'packager')
  return madeFrom(
    meta,
    r.bytes,
    `${meta.etag.replace(/"$/, '')}-repaired"`,
    serializeDefects(mergeDefects(packager, found)),
    n,
  )
}

/**
 * The copy moved to its place, for a copy served with an origin-found
 * `timing-discontinuity` (docs/selection.md, "Re-timed copies"): every track's `tfdt`
 * shifted so that the segment starts at (N−S)·D. Undefined when the copy has no such
 * defect, is not fMP4, the init segment is missing or the boxes cannot be rewritten (the
 * copy is then served as stored). Its defects are the stored ones with `retimed` added to
 * every origin-found `timing-discontinuity`; ETag: the stored copy's with `-retimed`.
 */
export const movedCopy: CopyMaker = async (ctx, channel, rendition, n, meta) => {
  const recorded = storedDefects(meta)
  if (!recorded?.some((d) => d.kind === 'timing-discontinuity' && d.source === 'origin')) return undefined
  if (!isFragmentedMp4(meta.path)) return undefined
  return remembered(caches(ctx).moved, meta.token, async () => {
    const init = await initFor(ctx, channel, rendition)
    if (init === undefined) return undefined
    const cfg = channel.config!
    const r = moveSegment(await ctx.reader.body(meta), init, {
      number: n,
      startNumber: cfg.startNumber,
      segmentDurationMs: cfg.segmentDurationMs,
    })
    if (!r.ok) return undefined
    const defects = recorded.map((d) =>
      d.kind === 'timing-discontinuity' && d.source === 'origin'
        ? { ...d, params: { ...d.params, retimed: true } }
        : d,
    )
    return madeFrom(meta, r.bytes, `${meta.etag.replace(/"$/, '')}-retimed"`, serializeDefects(defects), n)
  })
}

/**
 * The filler for missing segment n (gap policy `filler`): the copy selection would serve for
 * the nearest earlier segment of the same rendition, N−1 first, at most
 * `FILLER_SEARCH_SEGMENTS` back and never before S, re-timed to n. Undefined when the path
 * is not fMP4 (an MPEG-TS filler would need its PES and PCR times rewritten: such a channel
 * gets the 410), no earlier segment has a decodable copy in reach, or the rendition's init
 * segment is missing. `Segment-Defects: filler`; ETag `"filler-<n>-<source ETag>"`.
 */
export async function fillerFor(
  ctx: SubstituteDeps,
  channel: Channel,
  rendition: string,
  path: string,
  n: number,
  now: number,
): Promise<Substitute | undefined> {
  const cfg = channel.config!
  if (!isFragmentedMp4(path)) return undefined
  const from = Math.max(cfg.startNumber, n - FILLER_SEARCH_SEGMENTS)
  for (let m = n - 1; m >= from; m--) {
    const source = await sourceOf(ctx, channel, cfg, rendition, m, now)
    if (source === undefined) continue
    const { meta, repaired } = source
    const key = `${channel.name}/${path}:${meta.token}${repaired ? ':repaired' : ''}`
    return remembered(caches(ctx).fillers, key, () =>
      makeFiller(ctx, channel, cfg, rendition, n, m, meta, repaired),
    )
  }
  return undefined
}

async function makeFiller(
  ctx: SubstituteDeps,
  channel: Channel,
  cfg: ChannelConfig,
  rendition: string,
  n: number,
  m: number,
  meta: ObjectMeta,
  repaired: boolean,
): Promise<Substitute | undefined> {
  const init = await initFor(ctx, channel, rendition)
  if (init === undefined) return undefined
  let bytes: Buffer
  let etag = meta.etag
  if (repaired) {
    const fixed = await repairedCopy(ctx, channel, rendition, m, meta)
    if (fixed === undefined) return undefined
    bytes = fixed.bytes
    etag = fixed.etag
  } else {
    bytes = await ctx.reader.body(meta)
  }
  const r = retimeSegment(bytes, init, { segments: n - m, segmentDurationMs: cfg.segmentDurationMs })
  if (!r.ok) return undefined
  return madeFrom(meta, r.bytes, `"filler-${n}-${etag.replace(/"/g, '')}"`, 'filler', m)
}

/**
 * The copy delivery serves (or would serve) for segment m now, if it is decodable as stored
 * or once repaired. Looked up at most once per D per process (concurrent lookups share one):
 * neighbouring gaps search the same earlier segments, and a storm of requests for missing
 * segments must not multiply storage listings. A source found up to D late is harmless: a
 * filler lives D in caches anyway.
 */
function sourceOf(
  ctx: SubstituteDeps,
  channel: Channel,
  cfg: ChannelConfig,
  rendition: string,
  m: number,
  now: number,
): Promise<{ meta: ObjectMeta; repaired: boolean } | undefined> {
  let path: string
  try {
    path = renderMediaPath(cfg, rendition, m)
  } catch {
    return Promise.resolve(undefined)
  }
  const key = `${channel.name}/${path}`
  const memo = caches(ctx).sources
  const hit = memo.get(key)
  if (hit !== undefined && now < hit.until) return hit.value
  const value = findSource(ctx, channel, cfg, rendition, m, path, now)
  memo.set(key, { until: now + cfg.segmentDurationMs, value })
  value.catch(() => memo.set(key, { until: 0, value }))
  return value
}

async function findSource(
  ctx: SubstituteDeps,
  channel: Channel,
  cfg: ChannelConfig,
  rendition: string,
  m: number,
  path: string,
  now: number,
): Promise<{ meta: ObjectMeta; repaired: boolean } | undefined> {
  let list = await ctx.reader.candidates(channel.name, path, LIST_REUSE_MS)
  while (list.length > 0) {
    const selection = selectCandidate(list, segmentSelectionContext(cfg, channel.masks, m, now, []))
    if (selection.kind !== 'serve') return undefined
    const meta = selection.candidate
    if (!isUndecodable(selection)) return { meta, repaired: false }
    if ((await repairedCopy(ctx, channel, rendition, m, meta)) !== undefined) return { meta, repaired: true }
    list = list.filter((c) => c !== meta)
  }
  return undefined
}
