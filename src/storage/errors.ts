/**
 * The one mapping of a storage failure to an answer, for every driver: 503
 * `STORAGE_UNAVAILABLE` (with `Retry-After`) naming the driver and the operation, the
 * driver's error kept as the cause. Errors that already are answers pass through.
 */
import { errors, LiveOriginError } from '../errors.js'
import { wrapDriver } from './instrumented.js'
import type { StorageDriver } from './types.js'

/** One line saying why an operation failed. */
function oneLine(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  return `${err.name}: ${err.message}`.replace(/\s+/g, ' ').slice(0, 500)
}

/** The answer for `driver`'s failed `op`; `describe` words the cause (default: its name and message). */
export function storageFailure(
  driver: string,
  op: string,
  err: unknown,
  describe: (err: unknown) => string = oneLine,
): LiveOriginError {
  if (err instanceof LiveOriginError) return err
  const template = errors.storageUnavailable(`${driver} ${op} failed (${describe(err)})`)
  return new LiveOriginError(template.code, template.status, template.message, {
    cause: err,
    headers: { ...template.headers },
  })
}

/** A driver whose every failed operation rejects with {@link storageFailure}. */
export function withStorageErrors(driver: StorageDriver): StorageDriver {
  return wrapDriver(driver, async (op, call) => {
    try {
      return await call()
    } catch (err) {
      throw storageFailure(driver.name, op, err)
    }
  })
}
