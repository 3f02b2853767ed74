/**
 * The global in-flight byte budget of uploads (docs/security.md, `ingest.maxInFlightBytes`): each
 * upload reserves the memory it may hold before its body is read, and releases it when it
 * ends. An upload that does not fit is refused unread, unless nothing else is in flight (so
 * that a budget smaller than one upload never stops ingest altogether).
 */
export class UploadBudget {
  readonly limit: number
  #used = 0

  constructor(limit: number) {
    this.limit = limit
  }

  /** Bytes reserved by uploads in progress. */
  get used(): number {
    return this.#used
  }

  /** Reserves `bytes`; false (nothing reserved) when they do not fit. */
  reserve(bytes: number): boolean {
    if (this.#used > 0 && this.#used + bytes > this.limit) return false
    this.#used += bytes
    return true
  }

  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes)
  }
}
