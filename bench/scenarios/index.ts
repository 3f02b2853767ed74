/**
 * Every scenario, in the order a run executes them (single-flight restarts the origin, so it
 * comes last).
 */
import { getCached } from './get-cached.js'
import { getFuture } from './get-future.js'
import { heldRelease, heldReleaseMany } from './held-release.js'
import { ingestStorm } from './ingest-storm.js'
import { llFirstByte } from './ll-first-byte.js'
import { put } from './put.js'
import { ringHeldRelease, ringPut } from './ring.js'
import { singleFlight } from './single-flight.js'
import type { Scenario } from './types.js'

export const scenarios: readonly Scenario[] = [
  getCached,
  getFuture,
  put,
  heldRelease,
  heldReleaseMany,
  llFirstByte,
  ingestStorm,
  ringPut,
  ringHeldRelease,
  singleFlight,
]
