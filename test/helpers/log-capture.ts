/** A logger for an origin under test that keeps every line it writes, parsed. */
import { Writable } from 'node:stream'
import { createLogger, type Logger } from '../../src/observability/log.js'

export function capturedLog(level: string): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const log = createLogger(
    level,
    {},
    new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>)
        done()
      },
    }),
  )
  return { log, lines }
}
