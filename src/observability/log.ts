/**
 * JSON logs with pino, one line per event. Each request gets a child logger with its id.
 * An error's cause is logged as its own object (`err.cause`), not appended to the message:
 * our messages already say why in a few words, and the cause keeps its type and stack.
 */
import { type DestinationStream, type Logger, pino } from 'pino'

export type { Logger }

/** The process's logger, on stdout unless `destination` is given (tests). */
export function createLogger(
  level: string,
  bindings: Record<string, unknown> = {},
  destination?: DestinationStream,
): Logger {
  const options = {
    level,
    base: { pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: pino.stdSerializers.errWithCause },
  }
  return destination ? pino(options, destination) : pino(options)
}

let counter = 0
const prefix = `${process.pid.toString(36)}-${Date.now().toString(36)}`

/** A request id unique across the processes of one machine. */
export function nextRequestId(): string {
  counter = (counter + 1) >>> 0
  return `${prefix}-${counter.toString(36)}`
}
