/**
 * Learns channel timing from MPDs on a worker thread (docs/security.md: manifest parse time stays off
 * the ingest path's event loop). Parsing a manifest of `ingest.maxManifestBytes` takes seconds
 * of CPU; on the event loop it would hold up every other pipeline's uploads meanwhile. One
 * thread, started on first use, parses one MPD at a time; a parse that runs past its deadline
 * ends the thread (a new one starts for the next MPD) and fails with a 400 error.
 */
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { errors, LiveOriginError } from '../errors.js'
import type { LearnedChannel } from '../timing/mpd.js'

/** Longest one MPD may take to parse. */
const PARSE_DEADLINE_MS = 30_000
/** An idle thread ends after this long (MPDs of a live channel come every few seconds). */
const IDLE_MS = 60_000

interface Job {
  readonly id: number
  readonly xml: string
  readonly path: string
  readonly resolve: (learned: LearnedChannel) => void
  readonly reject: (err: Error) => void
}

type Answer =
  | { id: number; learned: LearnedChannel }
  | { id: number; error: string; code?: string; status?: number }

export class MpdLearner {
  readonly #deadlineMs: number
  readonly #queue: Job[] = []
  #worker: Worker | undefined
  #current: { job: Job; timer: NodeJS.Timeout } | undefined
  #nextId = 0
  #closed = false
  #idle: NodeJS.Timeout | undefined

  constructor(options: { deadlineMs?: number } = {}) {
    this.#deadlineMs = options.deadlineMs ?? PARSE_DEADLINE_MS
  }

  /**
   * What `xml` (an MPD stored at `path` inside its channel) teaches about the channel.
   * @throws LiveOriginError `BAD_REQUEST` naming what the MPD lacks, or that it took too long;
   * `BAD_MPD` naming a field whose value the origin cannot run a channel with.
   */
  learn(xml: string, path: string): Promise<LearnedChannel> {
    if (this.#closed) return Promise.reject(errors.shuttingDown())
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, xml, path, resolve, reject })
      this.#pump()
    })
  }

  /** Ends the thread; MPDs still queued fail. */
  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#idle)
    for (const job of this.#queue.splice(0)) job.reject(errors.shuttingDown())
    if (this.#current) {
      clearTimeout(this.#current.timer)
      this.#current.job.reject(errors.shuttingDown())
      this.#current = undefined
    }
    const worker = this.#worker
    this.#worker = undefined
    await worker?.terminate()
  }

  #pump(): void {
    if (this.#current) return
    if (this.#queue.length === 0) {
      // Idle, the thread does not keep the process alive.
      this.#worker?.unref()
      this.#idleLater()
      return
    }
    clearTimeout(this.#idle)
    const job = this.#queue.shift()!
    const worker = this.#thread()
    const timer = setTimeout(() => {
      if (this.#current?.job !== job) return
      this.#current = undefined
      this.#worker = undefined
      void worker.terminate()
      job.reject(errors.badRequest(`MPD took longer than ${this.#deadlineMs} ms to parse`))
      this.#pump()
    }, this.#deadlineMs)
    timer.unref()
    this.#current = { job, timer }
    // While it parses, the thread keeps the process alive (its answer is awaited).
    worker.ref()
    worker.postMessage({ id: job.id, xml: job.xml, path: job.path })
  }

  #idleLater(): void {
    clearTimeout(this.#idle)
    if (!this.#worker) return
    this.#idle = setTimeout(() => {
      const worker = this.#worker
      if (this.#current || !worker) return
      this.#worker = undefined
      void worker.terminate()
    }, IDLE_MS)
    this.#idle.unref()
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker
    // The worker file sits beside this one, compiled (.js) or run from source (.ts).
    const here = fileURLToPath(import.meta.url)
    const file = new URL(`./mpd-learner-worker${extname(here)}`, import.meta.url)
    // Run from source (tests), the thread registers the TypeScript loader before loading it.
    const worker =
      extname(here) === '.ts'
        ? new Worker(
            `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(file.href)}) })`,
            { eval: true },
          )
        : new Worker(file)
    worker.on('message', (answer: Answer) => {
      const current = this.#current
      if (!current || current.job.id !== answer.id) return
      clearTimeout(current.timer)
      this.#current = undefined
      if ('error' in answer)
        current.job.reject(
          answer.code !== undefined && answer.status !== undefined
            ? new LiveOriginError(answer.code, answer.status, answer.error)
            : errors.badRequest(answer.error),
        )
      else current.job.resolve(answer.learned)
      this.#pump()
    })
    const fail = (err: Error) => {
      if (this.#worker !== worker) return
      this.#worker = undefined
      const current = this.#current
      if (current) {
        clearTimeout(current.timer)
        this.#current = undefined
        current.job.reject(errors.badRequest(`MPD could not be parsed: ${err.message}`))
      }
      this.#pump()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`parser thread exited with code ${code}`)))
    this.#worker = worker
    return worker
  }
}
