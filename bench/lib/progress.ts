/**
 * A one-line live progress display on stderr: which scenario is running, for how long and how
 * many requests it has made. On a terminal the line is redrawn in place; otherwise (CI logs,
 * redirected stderr) a line is printed every few seconds so that logs stay short.
 */

/** What a running measurement reports. */
export interface ProgressState {
  /** Requests completed so far. */
  requests: number
  /** Response (or request) bytes moved so far. */
  bytes?: number
  /** Free text, e.g. `PUT 120/300`. */
  detail?: string
}

export interface ProgressLine {
  /** Starts a new phase (e.g. `get-cached/nginx`); `planSec` is its expected length. */
  begin(label: string, planSec?: number): void
  /** Updates the counters of the current phase. */
  update(state: ProgressState): void
  /** Ends the current phase with a closing summary line. */
  end(summary: string): void
  /** Ends the current phase, if any, without a summary (e.g. after a failure). */
  cancel(): void
  /** Prints a message on its own line, keeping the live line intact. */
  log(message: string): void
  /** Stops the refresh timer. */
  close(): void
}

/** Formats a byte count with a binary unit, e.g. `1.5 GiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`
}

/** Creates the progress line, writing to `out` (default `process.stderr`). */
export function createProgress(
  out: NodeJS.WriteStream = process.stderr,
  now: () => number = () => performance.now(),
): ProgressLine {
  const tty = out.isTTY === true
  const runStart = now()
  let label = ''
  let planSec: number | undefined
  let phaseStart = runStart
  let state: ProgressState = { requests: 0 }
  let lastPrinted = 0
  let active = false

  const render = (): string => {
    const elapsed = (now() - phaseStart) / 1000
    const total = (now() - runStart) / 1000
    const plan = planSec === undefined ? '' : `/${planSec}s`
    const bytes = state.bytes === undefined ? '' : `  ${formatBytes(state.bytes)}`
    const detail = state.detail === undefined ? '' : `  ${state.detail}`
    return `[bench ${total.toFixed(0)}s] ${label}  ${elapsed.toFixed(1)}s${plan}  ${state.requests.toLocaleString('en-US')} req${bytes}${detail}`
  }

  const draw = (force = false): void => {
    if (!active) return
    if (tty) {
      out.write(`\r\x1b[2K${render()}`)
    } else if (force || now() - lastPrinted >= 5000) {
      out.write(`${render()}\n`)
      lastPrinted = now()
    }
  }

  const timer = setInterval(() => draw(), tty ? 250 : 1000)
  timer.unref()

  const clearLine = (): void => {
    if (tty && active) out.write('\r\x1b[2K')
  }

  return {
    begin(nextLabel, nextPlanSec) {
      clearLine()
      label = nextLabel
      planSec = nextPlanSec
      phaseStart = now()
      state = { requests: 0 }
      active = true
      lastPrinted = now()
      draw(true)
    },
    update(next) {
      state = next
    },
    end(summary) {
      clearLine()
      active = false
      const elapsed = ((now() - phaseStart) / 1000).toFixed(1)
      out.write(`  ${label}: ${summary} (${elapsed}s)\n`)
    },
    cancel() {
      clearLine()
      active = false
    },
    log(message) {
      clearLine()
      out.write(`${message}\n`)
      if (tty) draw(true)
    },
    close() {
      clearInterval(timer)
      clearLine()
      active = false
    },
  }
}
