/**
 * Shared settings of the fuzz suite (`npm run test:fuzz`): a fixed number of runs per
 * property and a seed, random unless `FUZZ_SEED` is set, printed so that a failure can be
 * replayed (`FUZZ_SEED=<seed> npm run test:fuzz`). fast-check also prints the seed and the
 * shrunk counterexample of a failing property.
 */
import assert from 'node:assert/strict'
import type { Parameters } from 'fast-check'
import { LiveOriginError } from '../../src/errors.js'
import { Fmp4Error } from '../../src/media/boxes.js'

const fromEnv = process.env.FUZZ_SEED
export const SEED =
  fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0
/** Multiplies every property's number of runs (e.g. 10 for a longer local session). */
const SCALE = Number(process.env.FUZZ_SCALE ?? '1') || 1

console.log(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`)

/** fast-check parameters: `runs` runs (times FUZZ_SCALE) from the suite's seed. */
export function params<T>(runs: number): Parameters<T> {
  return { seed: SEED, numRuns: Math.max(1, Math.round(runs * SCALE)), endOnFailure: false }
}

/** Longest any single parser call may take: far above their real cost, low enough to catch a hang. */
export const CALL_LIMIT_MS = 5000

/**
 * Runs `fn`, which may only succeed or throw one of the `allowed` error classes (by default a
 * catalogued `LiveOriginError`), within {@link CALL_LIMIT_MS}. Returns the result or the error.
 */
export function bounded<T>(
  what: string,
  fn: () => T,
  allowed: ReadonlyArray<abstract new (...args: never[]) => Error> = [LiveOriginError],
): { value?: T; error?: Error } {
  const started = performance.now()
  let out: { value?: T; error?: Error }
  try {
    out = { value: fn() }
  } catch (err) {
    if (!allowed.some((k) => err instanceof k)) {
      throw new Error(`${what} threw an uncatalogued ${(err as Error)?.name}: ${(err as Error)?.message}`, {
        cause: err,
      })
    }
    if (err instanceof LiveOriginError) {
      assert.match(err.code, /^LIVEORIGIN_ERR_[A-Z_]+$/)
      assert.ok(
        err.status >= 400 && err.status < 500,
        `${what}: ${err.code} is a ${err.status}, not a client error`,
      )
    }
    out = { error: err as Error }
  }
  const ms = performance.now() - started
  assert.ok(ms < CALL_LIMIT_MS, `${what} took ${Math.round(ms)} ms`)
  return out
}

export { Fmp4Error }
