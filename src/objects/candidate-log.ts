/**
 * The candidate log: how the shared cache tier holds the candidates of one object
 * (docs/storage.md#candidate-logs). Writers never rewrite it: each appends one record, and
 * memcached's `append` is atomic, so no writer can drop another's copy, however many
 * pipelines commit at once. Records are merged without regard to their order, so a record
 * appended late (a refill from storage, a retried write-through) never undoes a newer one.
 *
 * A log lists every copy only once it is **sealed**: it holds an opening `{"g": id}` and then
 * `{"s": id}`, appended by whoever created it (or found it unsealed) after listing storage.
 * The opening was in the log before that listing began, so a copy committed after the listing
 * confirms itself into this same log; one committed before it is in the listing. A log that
 * was lost (evicted, expired, dropped after a failed append) and created again by a writer's
 * append is unsealed until someone lists storage into it.
 *
 * Records, one JSON object per line:
 * - `{"g": id}`, `{"s": id}`: the opening and the seal (see above).
 * - `{"p": {pipeline, token, at}}`: a commit is about to be made (written before it). A log
 *   that announces a token and never confirms it makes readers look in storage: the writer
 *   may have died between its commit and its confirmation, or its commit timed out but landed.
 * - `{"c": meta}`: a committed copy (written after the commit is durable, or by a reader that
 *   found it in storage).
 * - `{"r": [token, …]}`: copies that were committed and are gone (removed or replaced).
 *
 * Pure: bytes in, candidates out.
 */

import type { ObjectMeta } from '../storage/types.js'

export interface PendingCommit {
  readonly pipeline: string
  readonly token: string
  /** When it was announced (epoch ms, the writer's clock). */
  readonly at: number
}

export type LogRecord =
  | { readonly g: string }
  | { readonly s: string }
  | { readonly c: ObjectMeta }
  | { readonly p: PendingCommit }
  | { readonly r: readonly string[] }

export interface CandidateLog {
  /** Whether the log lists every copy committed (an opening and its seal). */
  readonly sealed: boolean
  /** Per pipeline, its newest committed copy not gone (`committedAt`, then token), unless expired. */
  readonly copies: ObjectMeta[]
  /** Tokens the log confirms committed, listed or not. */
  readonly committed: ReadonlySet<string>
  /** Tokens the log reports gone. */
  readonly gone: ReadonlySet<string>
  /** Commits announced and not confirmed. */
  readonly pending: readonly PendingCommit[]
}

/** One record as appended: its JSON and a newline. */
export function encodeRecord(record: LogRecord): Buffer {
  return Buffer.from(`${JSON.stringify(record)}\n`)
}

/** Several records in one append. */
export function encodeRecords(records: readonly LogRecord[]): Buffer {
  return Buffer.concat(records.map(encodeRecord))
}

const isString = (v: unknown): v is string => typeof v === 'string'
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

function isMeta(v: unknown): v is ObjectMeta {
  if (typeof v !== 'object' || v === null) return false
  const m = v as Record<string, unknown>
  return (
    isString(m.channel) &&
    isString(m.path) &&
    isString(m.pipeline) &&
    isString(m.token) &&
    isNumber(m.size) &&
    isNumber(m.chunkSize) &&
    isNumber(m.chunks) &&
    isString(m.etag) &&
    isString(m.contentType) &&
    isNumber(m.committedAt) &&
    isNumber(m.expiresAt) &&
    isString(m.defects)
  )
}

function isPending(v: unknown): v is PendingCommit {
  if (typeof v !== 'object' || v === null) return false
  const p = v as Record<string, unknown>
  return isString(p.pipeline) && isString(p.token) && isNumber(p.at)
}

/**
 * Reads a log. Undefined when any record is not one this module writes (a damaged item):
 * the caller then treats the log as absent and reads storage.
 */
export function parseLog(bytes: Buffer, now: number): CandidateLog | undefined {
  const metas: ObjectMeta[] = []
  const committed = new Set<string>()
  const gone = new Set<string>()
  const announced: PendingCommit[] = []
  const openings = new Set<string>()
  const seals: string[] = []
  for (const line of bytes.toString('utf8').split('\n')) {
    if (line === '') continue
    let record: unknown
    try {
      record = JSON.parse(line)
    } catch {
      return undefined
    }
    if (typeof record !== 'object' || record === null) return undefined
    const r = record as Record<string, unknown>
    if (isMeta(r.c)) {
      committed.add(r.c.token)
      metas.push(r.c)
    } else if (isString(r.g)) {
      openings.add(r.g)
    } else if (isString(r.s)) {
      seals.push(r.s)
    } else if (isPending(r.p)) {
      announced.push(r.p)
    } else if (Array.isArray(r.r) && r.r.every(isString)) {
      for (const token of r.r) gone.add(token)
    } else {
      return undefined
    }
  }
  // A copy gone (removed, or replaced and so reported) leaves the pipeline's newest other one.
  const newest = new Map<string, ObjectMeta>()
  for (const meta of metas) {
    if (gone.has(meta.token)) continue
    const seen = newest.get(meta.pipeline)
    if (!seen || newer(meta, seen)) newest.set(meta.pipeline, meta)
  }
  const copies = [...newest.values()].filter((m) => m.expiresAt === 0 || m.expiresAt > now)
  const pending = announced.filter((p) => !committed.has(p.token))
  return { sealed: seals.some((id) => openings.has(id)), copies, committed, gone, pending }
}

function newer(a: ObjectMeta, b: ObjectMeta): boolean {
  return a.committedAt !== b.committedAt ? a.committedAt > b.committedAt : a.token > b.token
}

/**
 * What to append after reading `listed` from storage, to make the log agree with it: the
 * copies it lacks, and the copies it confirms that storage no longer has. The second is
 * sound only when the log was read before the listing began: a copy is confirmed after its
 * commit is durable, so storage listed it unless it was removed or replaced since.
 */
export function reconcile(log: CandidateLog | undefined, listed: readonly ObjectMeta[]): LogRecord[] {
  const records: LogRecord[] = []
  const inStorage = new Set(listed.map((m) => m.token))
  const shown = new Set((log?.copies ?? []).map((m) => m.token))
  for (const meta of listed) if (!shown.has(meta.token)) records.push({ c: meta })
  const goneTokens = log ? [...log.committed].filter((t) => !inStorage.has(t) && !log.gone.has(t)) : []
  if (goneTokens.length > 0) records.push({ r: goneTokens })
  return records
}
