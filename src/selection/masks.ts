/**
 * Operator masks (docs/protocol.md#quality-control-and-selection): `{"pipeline", "from", "to"}` excludes a pipeline's segments
 * numbered from `from` to `to` (inclusive) from selection until the mask is lifted. Bounds
 * are segment numbers or ISO-8601 date-times, which the channel's timing turns into numbers.
 */
import { errors } from '../errors.js'
import { parseIsoDateTime } from '../timing/iso8601.js'
import type { Mask } from './types.js'

export type { Mask } from './types.js'

/** Pipeline ids, as ingest accepts them in `Pipeline-Id` and token names. */
const PIPELINE_ID = /^[A-Za-z0-9._-]{1,64}$/
/** Upper bound of a mask without `to`: it lasts until lifted. */
export const OPEN_END = Number.MAX_SAFE_INTEGER

/**
 * Validates a mask from the control API or a stored record. `from` and `to` are segment
 * numbers (non-negative integers) or ISO-8601 date-times with a zone (`2026-11-26T10:00:00Z`),
 * converted by `toNumber(epochMs)` into the number of the segment they fall in. `to` may be
 * left out (or null): the mask then lasts until lifted.
 *
 * @throws LiveOriginError `BAD_CONFIG` (400) naming the field: `mask`, `pipeline`, `from` or `to`.
 */
export function parseMask(input: unknown, toNumber?: (epochMs: number) => number): Mask {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw errors.badConfig('mask', 'expected an object {"pipeline", "from", "to"}')
  }
  const { pipeline, from, to } = input as Record<string, unknown>
  if (typeof pipeline !== 'string' || !PIPELINE_ID.test(pipeline)) {
    throw errors.badConfig('pipeline', 'expected a pipeline id matching [A-Za-z0-9._-]{1,64}')
  }
  const first = bound('from', from, toNumber)
  const last = to === undefined || to === null ? OPEN_END : bound('to', to, toNumber)
  if (last < first) throw errors.badConfig('to', `must not be before from (${first})`)
  return { pipeline, from: first, to: last }
}

/** Whether `pipeline`'s segment `number` is masked. */
export function isMasked(masks: readonly Mask[], pipeline: string, number: number): boolean {
  for (const m of masks) {
    if (m.pipeline === pipeline && number >= m.from && number <= m.to) return true
  }
  return false
}

function bound(
  field: 'from' | 'to',
  value: unknown,
  toNumber: ((epochMs: number) => number) | undefined,
): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0)
      throw errors.badConfig(field, 'expected a segment number (an integer ≥ 0)')
    return value
  }
  if (typeof value === 'string') {
    const ms = parseIsoDateTime(value)
    if (ms === undefined) {
      throw errors.badConfig(
        field,
        'expected a segment number or an ISO-8601 date-time with a zone, e.g. 2026-11-26T10:00:00Z',
      )
    }
    if (toNumber === undefined) {
      throw errors.badConfig(
        field,
        'a date-time needs a channel with a segment template; give a segment number',
      )
    }
    const n = toNumber(ms)
    if (!Number.isSafeInteger(n) || n < 0)
      throw errors.badConfig(field, `${value} is before the channel's first segment`)
    return n
  }
  if (value === undefined || value === null) throw errors.badConfig(field, 'required')
  throw errors.badConfig(field, 'expected a segment number or an ISO-8601 date-time')
}
