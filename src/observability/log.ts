/**
 * JSON logs with pino, one line per event. Each request gets a child logger with its id.
 */
import { type Logger, pino } from 'pino'

export type { Logger }

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime })
}

let counter = 0
const prefix = `${process.pid.toString(36)}-${Date.now().toString(36)}`

/** A request id unique across the processes of one machine. */
export function nextRequestId(): string {
  counter = (counter + 1) >>> 0
  return `${prefix}-${counter.toString(36)}`
}
