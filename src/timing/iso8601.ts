/**
 * ISO-8601 date-times and durations as they appear in channel configs and DASH MPDs
 * (`availabilityStartTime`, `timeShiftBufferDepth`), converted to epoch ms and ms.
 * Pure: no clock, no I/O.
 */

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:?\d{2})?$/

/** Options of {@link parseIsoDateTime}. */
export interface DateTimeOptions {
  /**
   * Accept a date-time without `Z` or an offset and read it as UTC (what DASH players do with
   * an MPD's `availabilityStartTime`). Off by default: a local time is ambiguous.
   */
  readonly assumeUtc?: boolean
}

/**
 * Parses an ISO-8601 / RFC 3339 date-time (`2026-11-26T09:11:25.521Z`,
 * `2026-11-26T10:11:25+01:00`) into epoch ms, rounding sub-millisecond fractions to the
 * nearest ms. Returns undefined when the text is not such a date-time or names an impossible
 * date (Feb 30, hour 25).
 */
export function parseIsoDateTime(text: string, options: DateTimeOptions = {}): number | undefined {
  const m = DATE_TIME.exec(text.trim())
  if (!m) return undefined
  const [, y, mo, d, h, mi, s, frac, zone] = m
  if (zone === undefined && !options.assumeUtc) return undefined
  const year = Number(y)
  const month = Number(mo)
  const day = Number(d)
  const hour = Number(h)
  const minute = Number(mi)
  const second = Number(s)
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined
  if (day > daysInMonth(year, month)) return undefined
  let ms = Date.UTC(year, month - 1, day, hour, minute, second)
  // Date.UTC maps years 0-99 to 1900-1999; no live stream starts then, so refuse them.
  if (year < 1000) return undefined
  if (frac !== undefined) ms += Math.round(Number(`0.${frac}`) * 1000)
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1
    const digits = zone.slice(1).replace(':', '')
    const offH = Number(digits.slice(0, 2))
    const offM = Number(digits.slice(2))
    if (offH > 23 || offM > 59) return undefined
    ms -= sign * (offH * 60 + offM) * 60_000
  }
  return ms
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate()
}

const DURATION =
  /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/

/**
 * Parses an ISO-8601 duration of days, hours, minutes and seconds (`PT1H2M3.5S`, `P1DT2H`,
 * `PT0.5S`) into milliseconds, rounded to the nearest ms. Years and months are refused
 * (their length depends on the calendar), as are negative durations and an empty `P`/`PT`.
 * Returns undefined when the text is not such a duration.
 */
export function parseIsoDuration(text: string): number | undefined {
  const t = text.trim()
  const m = DURATION.exec(t)
  if (!m || t === 'P' || t.endsWith('T')) return undefined
  const [, d, h, mi, s] = m
  if (d === undefined && h === undefined && mi === undefined && s === undefined) return undefined
  const ms =
    Number(d ?? 0) * 86_400_000 +
    Number(h ?? 0) * 3_600_000 +
    Number(mi ?? 0) * 60_000 +
    Number(s ?? 0) * 1000
  return Number.isFinite(ms) ? Math.round(ms) : undefined
}
