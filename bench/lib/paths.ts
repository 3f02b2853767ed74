/**
 * Paths the harness uses.
 */
import { join } from 'node:path'

/** Repository root (bench/lib/ → ../..). */
export const REPO_ROOT = join(import.meta.dirname, '..', '..')
/** Where the tails of server logs are kept after a run (git-ignored). */
export const LOG_DIR = join(REPO_ROOT, '.bench', 'logs')
