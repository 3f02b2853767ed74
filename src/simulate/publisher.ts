/**
 * The simulator's publisher: creates the channel through the control API, then, in real
 * time, PUTs every pipeline's init segments, dynamic MPD and media segments to the ingest
 * listener, each segment N at A(N) (when a packager would finish it), applying the fault
 * plan: defective, late and missing copies, and pipeline outages. Records what it sent and
 * what the origin answered, for the progress line, the summary and the report.
 */
import { createHash } from 'node:crypto'
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { type DefectFault, FaultPlan, type ForcedFault } from './fault-plan.js'
import { cmafChunks, truncateSegment } from './fmp4.js'
import {
  MULTIVARIANT_PATH,
  mediaPlaylistName,
  renderMediaPlaylist,
  renderMultivariantPlaylist,
} from './hls.js'
import { LowLatencyPlaylists } from './ll-hls-publisher.js'
import { buildMediaSegment, copyLabel, type SimRendition } from './media.js'
import { renderMpd } from './mpd.js'
import type { SimulateOptions } from './options.js'

/** The channel's templates: what ffmpeg's DASH muxer writes, relative to the MPD. */
export const MEDIA_TEMPLATE = 'seg-$RepresentationID$-$Number%05d$.m4s'
export const INIT_TEMPLATE = 'init-$RepresentationID$.m4s'
export const MANIFEST_PATH = 'manifest.mpd'
/** Path of segment `n` of rendition `id` inside the channel (the media template filled in). */
export function segmentPath(id: string, n: number): string {
  return MEDIA_TEMPLATE.replace('$RepresentationID$', id).replace('$Number%05d$', String(n).padStart(5, '0'))
}

/** Path of rendition `id`'s init segment inside the channel. */
export function initPath(id: string): string {
  return INIT_TEMPLATE.replace('$RepresentationID$', id)
}

/** What became of one pipeline's copy of one segment. */
export interface CopyRecord {
  /** `sent`: a PUT was made; otherwise why not. */
  outcome: 'sent' | 'missing' | 'outage' | 'stopped'
  /** HTTP status of the PUT (0 when it failed without one). */
  status: number | null
  error: string | null
  /** sha256 (hex) and length of the bytes sent. */
  sha256: string | null
  bytes: number | null
  /** Whether the copy was sent defective on purpose, and how. */
  readonly defective: boolean
  readonly fault: DefectFault | null
  /** `Segment-Defects` the packager sent. */
  readonly reported: string | null
  /**
   * `--gap` or `--cut` on this segment (every pipeline's copy is then withheld or cut off), or
   * `--abort` on this copy (stopped halfway: its PUT gets no answer).
   */
  readonly forced: ForcedFault | null
  /** How long after A(N) the PUT was planned. */
  readonly lateMs: number
  /** When the PUT started and was answered (epoch ms). */
  sentAt: number | null
  answeredAt: number | null
  /** `Segment-Defects` the origin echoed ('' for a clean copy). */
  echo: string | null
}

export interface SegmentRecord {
  readonly rendition: string
  readonly number: number
  /** Path inside the channel. */
  readonly path: string
  /** A(N), epoch ms. */
  readonly availableAt: number
  readonly copies: Record<string, CopyRecord>
}

/** Counters of one pipeline. */
export interface PipelineStats {
  readonly pipeline: string
  /** Media segment PUTs answered 2xx / not. */
  segmentsOk: number
  segmentsFailed: number
  /** Init segment and manifest (MPD, HLS playlists) PUTs answered 2xx / not. */
  othersOk: number
  othersFailed: number
  /** Highest segment number acknowledged. */
  lastNumber: number | null
  /**
   * Copies per fault; `gap`: copies withheld for a `--gap` or `--cut`; `cut`: copies sent cut
   * off for a `--cut`; `abort`: uploads stopped halfway for an `--abort`.
   */
  readonly faults: Record<DefectFault | 'late' | 'missing' | 'outage' | ForcedFault, number>
  /** Copies sent clean that the origin flagged, and copies sent broken (cut off, wrong tfdt) it did not. */
  flaggedClean: number
  unflaggedDefects: number
  /** Whether the pipeline is in an outage now. */
  down: boolean
  /** PUT latencies of media segments (ms). */
  readonly latencies: number[]
}

/** What `Simulation.snapshot()` reports while running, and `run()` at the end. */
export interface SimulationState {
  readonly startedAt: number
  readonly elapsedMs: number
  readonly availabilityStartTime: number
  readonly startNumber: number
  /** Highest number published so far (its A(N) has passed). */
  readonly liveNumber: number | null
  readonly pipelines: readonly PipelineStats[]
  /** PUTs that did not get a 2xx answer. */
  readonly errors: number
  /** Last error message, if any. */
  readonly lastError: string | null
}

export interface SimulationResult extends SimulationState {
  readonly seed: string
  readonly endedAt: number
  readonly stopped: boolean
  readonly segments: readonly SegmentRecord[]
}

/** The channel could not be created: nothing was published. */
export class SimulationError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SimulationError'
  }
}

interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: string
  error: string | null
  ms: number
}

interface PipelineState {
  init: Promise<void> | undefined
  reinit: boolean
  readonly agent: HttpAgent
}

/** Publishes one run; see the module comment. */
export class Simulation {
  readonly options: SimulateOptions
  readonly renditions: readonly SimRendition[]
  readonly seed: string
  readonly plan: FaultPlan
  readonly #now: () => number
  readonly #stats = new Map<string, PipelineStats>()
  readonly #states = new Map<string, PipelineState>()
  readonly #segments = new Map<string, SegmentRecord>()
  readonly #pending = new Set<Promise<void>>()
  /** Cancels of late PUTs not made yet. */
  readonly #cancels = new Set<() => void>()
  #startedAt = 0
  #ast = 0
  #startNumber = 0
  #liveNumber: number | null = null
  #errors = 0
  #lastError: string | null = null
  #stopped = false
  #wake: (() => void) | undefined
  /** With `lowLatency`: the LL-HLS media playlists, one per chunk (`ll-hls-publisher.ts`). */
  #lowLatencyPlaylists: LowLatencyPlaylists | undefined

  constructor(options: SimulateOptions, renditions: readonly SimRendition[], clock: () => number = Date.now) {
    this.options = options
    this.renditions = renditions
    this.seed = options.seed ?? Math.random().toString(36).slice(2, 10)
    this.plan = new FaultPlan({
      seed: this.seed,
      segmentDurationMs: options.segmentDurationMs,
      defectRate: options.defectRate,
      lateRate: options.lateRate,
      missingRate: options.missingRate,
      outages: options.outages,
      gapsMs: options.gapsMs,
      cutsMs: options.cutsMs,
      abortsMs: options.abortsMs,
    })
    this.#now = clock
    const AgentClass = options.ingest.startsWith('https:') ? HttpsAgent : HttpAgent
    for (const p of options.pipelines) {
      this.#stats.set(p, {
        pipeline: p,
        segmentsOk: 0,
        segmentsFailed: 0,
        othersOk: 0,
        othersFailed: 0,
        lastNumber: null,
        faults: {
          corrupt: 0,
          tfdt: 0,
          reported: 0,
          late: 0,
          missing: 0,
          outage: 0,
          gap: 0,
          cut: 0,
          abort: 0,
        },
        flaggedClean: 0,
        unflaggedDefects: 0,
        down: false,
        latencies: [],
      })
      // One connection pool per pipeline: each stands for a separate packager.
      this.#states.set(p, {
        init: undefined,
        reinit: false,
        agent: new AgentClass({ keepAlive: true, maxSockets: 8 }),
      })
    }
  }

  /** Stops publishing: no new PUTs; those in flight finish. `run()` then resolves. */
  stop(): void {
    this.#stopped = true
    for (const cancel of this.#cancels) cancel()
    this.#cancels.clear()
    this.#wake?.()
  }

  /** The state so far (for the progress line). */
  snapshot(): SimulationState {
    return {
      startedAt: this.#startedAt,
      elapsedMs: this.#startedAt === 0 ? 0 : this.#now() - this.#startedAt,
      availabilityStartTime: this.#ast,
      startNumber: this.#startNumber,
      liveNumber: this.#liveNumber,
      pipelines: [...this.#stats.values()],
      errors: this.#errors,
      lastError: this.#lastError,
    }
  }

  /** Runs to the end of `durationMs` (or `stop()`), then waits for late PUTs. */
  async run(): Promise<SimulationResult> {
    const o = this.options
    const d = o.segmentDurationMs
    this.#startedAt = this.#now()
    this.#ast = this.#startedAt
    this.#startNumber = o.startNumber ?? Math.floor(this.#startedAt / d)
    if (o.lowLatency) this.#lowLatencyPlaylists = this.#newLowLatencyPlaylists()
    try {
      await this.#createChannel()
      for (const p of o.pipelines) {
        if (this.plan.inOutage(p, 0)) continue
        this.#track(this.#ensureInit(p).then(() => this.#publishManifests(p, null)))
      }
      const last =
        o.durationMs > 0 ? this.#startNumber + Math.floor(o.durationMs / d) - 1 : Number.POSITIVE_INFINITY
      for (let n = this.#startNumber; n <= last && !this.#stopped; n++) {
        // A low-latency packager starts sending N with its first chunk: at A(N) − ATO.
        await this.#sleepUntil(this.#availableAt(n) - this.#offsetMs())
        if (this.#stopped) break
        this.#liveNumber = n
        this.#publishNumber(n)
      }
      while (this.#pending.size > 0) await Promise.allSettled([...this.#pending])
    } finally {
      for (const s of this.#states.values()) s.agent.destroy()
    }
    const state = this.snapshot()
    return {
      ...state,
      seed: this.seed,
      endedAt: this.#now(),
      stopped: this.#stopped,
      segments: [...this.#segments.values()].sort(
        (a, b) => a.number - b.number || (a.rendition < b.rendition ? -1 : 1),
      ),
    }
  }

  #availableAt(n: number): number {
    return this.#ast + (n - this.#startNumber + 1) * this.options.segmentDurationMs
  }

  /** ATO: how long before A(N) a low-latency segment's first chunk is sent (D − chunk); else 0. */
  #offsetMs(): number {
    const o = this.options
    return o.lowLatency ? o.segmentDurationMs - o.chunkMs : 0
  }

  #track(work: Promise<void>): void {
    const p = work.catch((err) => this.#fail(`internal: ${(err as Error).message}`))
    this.#pending.add(p)
    p.finally(() => this.#pending.delete(p))
  }

  #fail(message: string): void {
    this.#errors++
    this.#lastError = message
  }

  async #sleepUntil(at: number): Promise<void> {
    const wait = at - this.#now()
    if (wait <= 0) return
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, wait)
      this.#wake = () => {
        clearTimeout(t)
        resolve()
      }
    })
    this.#wake = undefined
  }

  async #createChannel(): Promise<void> {
    const o = this.options
    const body = JSON.stringify({
      segmentDurationMs: o.segmentDurationMs,
      availabilityStartTime: this.#ast,
      startNumber: this.#startNumber,
      media: MEDIA_TEMPLATE,
      initialization: INIT_TEMPLATE,
      pipelines: o.pipelines,
      dvrWindowMs: o.dvrWindowMs,
      ...(o.lowLatency ? { lowLatency: true, availabilityTimeOffsetMs: this.#offsetMs() } : {}),
    })
    const headers: Record<string, string> = { 'Content-Type': 'application/json' }
    if (o.controlToken) headers.Authorization = `Bearer ${o.controlToken}`
    const url = `${o.control}/api/v1/channels/${encodeURIComponent(o.channel)}`
    const a = await send(url, Buffer.from(body), headers, undefined, 10_000)
    if (a.status === 0)
      throw new SimulationError(`cannot reach the control listener at ${o.control}: ${a.error}`)
    if (a.status !== 200 && a.status !== 201) {
      throw new SimulationError(`creating channel ${o.channel} failed: ${a.status} ${errorText(a.body)}`)
    }
  }

  #publishNumber(n: number): void {
    const o = this.options
    const forced = this.plan.forced(n - this.#startNumber)
    const faulty =
      forced === 'cut' || forced === 'abort'
        ? this.plan.faultyPipeline(n - this.#startNumber, o.pipelines)
        : undefined
    for (const p of o.pipelines) {
      // An abort is forced on one pipeline's copies only; the others draw as usual.
      const ownForced = forced === 'abort' && p !== faulty ? undefined : forced
      for (const r of this.renditions) {
        // A forced fault replaces the random draw: no copy, the one cut-off copy, or an upload
        // stopped halfway.
        const fault =
          ownForced === undefined
            ? this.plan.segment(p, r.id, n, r.contentType)
            : ownForced === 'abort'
              ? { missing: false, lateMs: 0, defect: undefined, reported: undefined }
              : p === faulty
                ? { missing: false, lateMs: 0, defect: 'corrupt' as const, reported: undefined }
                : { missing: true, lateMs: 0, defect: undefined, reported: undefined }
        const path = segmentPath(r.id, n)
        const key = `${r.id}/${n}`
        let seg = this.#segments.get(key)
        if (!seg) {
          seg = { rendition: r.id, number: n, path, availableAt: this.#availableAt(n), copies: {} }
          this.#segments.set(key, seg)
        }
        const stats = this.#stats.get(p)!
        const copy: CopyRecord = {
          outcome: fault.missing ? 'missing' : 'sent',
          status: null,
          error: null,
          sha256: null,
          bytes: null,
          defective: fault.defect !== undefined,
          fault: fault.defect ?? null,
          reported: fault.reported ?? null,
          forced: ownForced ?? null,
          lateMs: fault.lateMs,
          sentAt: null,
          answeredAt: null,
          echo: null,
        }
        seg.copies[p] = copy
        if (fault.missing) {
          stats.faults[ownForced === undefined ? 'missing' : 'gap']++
          continue
        }
        if (fault.lateMs === 0) {
          this.#track(this.#publishSegment(p, r, n, path, copy))
          continue
        }
        this.#track(
          new Promise<void>((resolve) => {
            const cancel = () => {
              clearTimeout(timer)
              copy.outcome = 'stopped'
              resolve()
            }
            const timer = setTimeout(
              () => {
                this.#cancels.delete(cancel)
                resolve(this.#publishSegment(p, r, n, path, copy))
              },
              this.#availableAt(n) + fault.lateMs - this.#now(),
            )
            this.#cancels.add(cancel)
          }),
        )
      }
      if (!this.#down(p)) this.#track(this.#ensureInit(p).then(() => this.#publishManifests(p, n)))
    }
  }

  /** Whether `pipeline` is down now; a pipeline coming back first sends its init segments again. */
  #down(pipeline: string): boolean {
    const stats = this.#stats.get(pipeline)!
    const down = this.plan.inOutage(pipeline, this.#now() - this.#startedAt)
    if (down && !stats.down) this.#states.get(pipeline)!.reinit = true
    stats.down = down
    return down
  }

  async #publishSegment(
    p: string,
    r: SimRendition,
    n: number,
    path: string,
    copy: CopyRecord,
  ): Promise<void> {
    const stats = this.#stats.get(p)!
    if (this.#down(p)) {
      copy.outcome = 'outage'
      stats.faults.outage++
      return
    }
    await this.#ensureInit(p)
    const timing = {
      number: n,
      startNumber: this.#startNumber,
      segmentDurationMs: this.options.segmentDurationMs,
    }
    const o = this.options
    const chunks = o.lowLatency ? o.segmentDurationMs / o.chunkMs : 1
    let body = buildMediaSegment(r, timing, {
      label: copyLabel(p, r.id, n),
      chunks,
      ...(copy.fault === 'tfdt' ? { tfdtNumber: n + 1 } : {}),
    })
    if (copy.fault === 'corrupt') body = truncateSegment(body, 0.5)
    if (copy.forced === 'cut' || copy.forced === 'abort') stats.faults[copy.forced]++
    else if (copy.fault) stats.faults[copy.fault]++
    if (copy.lateMs > 0) stats.faults.late++
    const headers: Record<string, string> = {}
    if (copy.reported) headers['Segment-Defects'] = copy.reported
    copy.sha256 = createHash('sha256').update(body).digest('hex')
    copy.bytes = body.length
    copy.sentAt = this.#now()
    // On time, a low-latency copy goes out chunk by chunk as it is made: chunk k (0-based) is
    // complete (k + 1) chunk durations after the segment's start, the last one at A(N). A late
    // copy is sent at once, as a packager catching up does.
    const start = this.#availableAt(n) - o.segmentDurationMs
    let pieces: Piece[] | undefined = o.lowLatency
      ? cmafChunks(body).map((bytes, k) => ({
          bytes,
          at: copy.lateMs > 0 ? 0 : start + Math.min(k + 1, chunks) * o.chunkMs,
        }))
      : undefined
    if (pieces && copy.forced === 'abort') {
      // Half of the chunks, then the connection closes when the next one would have been sent.
      const sent = Math.ceil(pieces.length / 2)
      pieces = [
        ...pieces.slice(0, sent),
        { bytes: new Uint8Array(0), at: pieces[sent]?.at ?? 0, abort: true },
      ]
    }
    const a = await this.#put(p, path, body, headers, pieces)
    copy.answeredAt = this.#now()
    copy.status = a.status
    copy.error = a.error
    if (copy.forced === 'abort') {
      // Stopped on purpose: no answer is expected, and the origin stores nothing of it.
      if (a.status !== 0) this.#fail(`${p} PUT ${path}: an upload stopped halfway was answered ${a.status}`)
      return
    }
    if (a.status >= 200 && a.status < 300) {
      stats.segmentsOk++
      stats.latencies.push(a.ms)
      if (stats.lastNumber === null || n > stats.lastNumber) stats.lastNumber = n
      const echo = headerText(a.headers['segment-defects'])
      copy.echo = echo
      if (!copy.defective && echo !== '') stats.flaggedClean++
      const expected =
        copy.fault === 'corrupt' ? 'corrupt' : copy.fault === 'tfdt' ? 'timing-discontinuity' : undefined
      if (expected && !echo.includes(expected)) stats.unflaggedDefects++
    } else {
      stats.segmentsFailed++
      this.#fail(`${p} PUT ${path}: ${a.status || a.error} ${errorText(a.body)}`.trim())
    }
  }

  #ensureInit(p: string): Promise<void> {
    const state = this.#states.get(p)!
    if (state.init && !state.reinit) return state.init
    state.reinit = false
    state.init = Promise.all(
      this.renditions.map(async (r) => {
        const path = initPath(r.id)
        await this.#putOther(p, path, r.initBytes)
      }),
    ).then(() => undefined)
    return state.init
  }

  /**
   * PUTs the MPD and, once segment `lastNumber` is published, the HLS media playlists
   * (windows ending at it) and the multivariant playlist. Before the first segment there is
   * no HLS playlist: a live media playlist lists at least one segment.
   */
  async #publishManifests(p: string, lastNumber: number | null): Promise<void> {
    const o = this.options
    const work = [this.#publishMpd(p)]
    if (lastNumber !== null && this.#lowLatencyPlaylists) {
      work.push(this.#lowLatencyPlaylists.publish(p, lastNumber))
    } else if (lastNumber !== null) {
      for (const r of this.renditions) {
        const playlist = renderMediaPlaylist({
          availabilityStartTime: this.#ast,
          segmentDurationMs: o.segmentDurationMs,
          startNumber: this.#startNumber,
          lastNumber,
          segmentPath: (n) => segmentPath(r.id, n),
          initPath: initPath(r.id),
        })
        work.push(this.#putOther(p, mediaPlaylistName(r.id), Buffer.from(playlist)))
      }
    }
    if (lastNumber !== null) {
      work.push(
        this.#putOther(p, MULTIVARIANT_PATH, Buffer.from(renderMultivariantPlaylist(this.renditions))),
      )
    }
    await Promise.all(work)
  }

  #newLowLatencyPlaylists(): LowLatencyPlaylists {
    const o = this.options
    return new LowLatencyPlaylists({
      segmentDurationMs: o.segmentDurationMs,
      chunkMs: o.chunkMs,
      availabilityStartTime: this.#ast,
      startNumber: this.#startNumber,
      renditions: this.renditions,
      segmentPath,
      initPath,
      now: this.#now,
      live: (p) => !this.#stopped && !this.#down(p),
      put: (p, path, body) => this.#putOther(p, path, body),
    })
  }

  async #publishMpd(p: string): Promise<void> {
    const o = this.options
    const mpd = renderMpd({
      ...(o.lowLatency ? { chunkMs: o.chunkMs } : {}),
      availabilityStartTime: this.#ast,
      publishTime: this.#now(),
      segmentDurationMs: o.segmentDurationMs,
      startNumber: this.#startNumber,
      media: MEDIA_TEMPLATE,
      initialization: INIT_TEMPLATE,
      timeShiftBufferDepthMs: o.dvrWindowMs,
      renditions: this.renditions,
      timeSource: o.timeSource,
    })
    await this.#putOther(p, MANIFEST_PATH, Buffer.from(mpd))
  }

  async #putOther(p: string, path: string, body: Uint8Array): Promise<void> {
    const stats = this.#stats.get(p)!
    const a = await this.#put(p, path, body, {})
    if (a.status >= 200 && a.status < 300) stats.othersOk++
    else {
      stats.othersFailed++
      this.#fail(`${p} PUT ${path}: ${a.status || a.error} ${errorText(a.body)}`.trim())
    }
  }

  /** One PUT; with `pieces`, a chunked-transfer PUT whose pieces are written at their times. */
  #put(
    p: string,
    path: string,
    body: Uint8Array,
    headers: Record<string, string>,
    pieces?: readonly Piece[],
  ): Promise<Answer> {
    const o = this.options
    const token = o.tokens[p]
    const auth: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : { 'Pipeline-Id': p }
    const url = `${o.ingest}/${encodeURIComponent(o.channel)}/${path}`
    return send(
      url,
      pieces ?? body,
      { ...auth, ...headers },
      this.#states.get(p)!.agent,
      Math.max(10_000, 5 * o.segmentDurationMs),
      this.#now,
    )
  }
}

function headerText(v: string | string[] | undefined): string {
  return Array.isArray(v) ? v.join(', ') : (v ?? '')
}

/** The message of a JSON error body, else the body's first line. */
function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string } }
    if (parsed.error?.message) return parsed.error.message
  } catch {}
  return body.split('\n')[0]!.slice(0, 200)
}

/** A piece of a chunked-transfer body and when to write it (epoch ms; past = at once). */
export interface Piece {
  readonly bytes: Uint8Array
  readonly at: number
  /** Instead of writing: close the connection, leaving the body unfinished. */
  readonly abort?: boolean
}

/**
 * Writes `pieces` to `req` one by one, each at its time (`now` is the clock `at` is on), then
 * ends the request. Each piece is one HTTP chunk: Node sends `Transfer-Encoding: chunked` for
 * a body without `Content-Length`.
 */
async function writePieces(
  req: ReturnType<typeof httpRequest>,
  pieces: readonly Piece[],
  now: () => number,
  onEnd: () => void,
): Promise<void> {
  req.flushHeaders()
  for (const piece of pieces) {
    const wait = piece.at - now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    if (req.destroyed) return
    if (piece.abort) {
      req.destroy(new Error('upload stopped halfway (--abort)'))
      return
    }
    req.write(piece.bytes)
  }
  onEnd()
  req.end()
}

/**
 * One PUT; never throws: a failure without an answer has status 0 and `error`. `body` as
 * pieces makes a chunked-transfer PUT written at the pieces' times; its latency (`ms`) is
 * then counted from the end of the body.
 */
export function send(
  url: string,
  body: Uint8Array | readonly Piece[],
  headers: Record<string, string>,
  agent: HttpAgent | undefined,
  timeoutMs: number,
  now: () => number = Date.now,
): Promise<Answer> {
  let started = performance.now()
  const request = url.startsWith('https:') ? httpsRequest : httpRequest
  return new Promise((resolve) => {
    let settled = false
    const done = (a: Omit<Answer, 'ms'>) => {
      if (settled) return
      settled = true
      resolve({ ...a, ms: performance.now() - started })
    }
    const req = request(
      url,
      {
        method: 'PUT',
        headers: body instanceof Uint8Array ? { ...headers, 'Content-Length': String(body.length) } : headers,
        ...(agent ? { agent } : {}),
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          done({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            error: null,
          }),
        )
        res.on('error', (err) =>
          done({ status: res.statusCode ?? 0, headers: res.headers, body: '', error: err.message }),
        )
      },
    )
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', (err) =>
      done({ status: 0, headers: {}, body: '', error: (err as NodeJS.ErrnoException).code ?? err.message }),
    )
    if (body instanceof Uint8Array) req.end(body)
    else {
      writePieces(req, body, now, () => {
        started = performance.now()
      }).catch((err) => req.destroy(err as Error))
    }
  })
}
