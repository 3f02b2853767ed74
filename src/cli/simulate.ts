/**
 * `liveorigin simulate`: a packager stand-in that publishes a live DASH channel to an
 * origin from several pipelines in real time, with faults on demand (docs/protocol.md#command-line-and-configuration). Shows a
 * progress line on stderr, prints a summary on stdout and sets the exit code: 0 when every
 * PUT got a 2xx answer, 1 otherwise; bad options throw `ConfigError` (exit code 2).
 */
import { loadRenditions } from '../simulate/media.js'
import { parseSimulateArgs, SIMULATE_HELP } from '../simulate/options.js'
import { progressLine, summaryText } from '../simulate/progress.js'
import { Simulation, SimulationError } from '../simulate/publisher.js'
import { buildReport, writeReport } from '../simulate/report.js'

/** How often a progress line is printed when stderr is not a terminal. */
const LOG_EVERY_MS = 5000

/** Runs `liveorigin simulate` with `argv` (the arguments after `simulate`). */
export async function runSimulate(argv: string[]): Promise<void> {
  const options = parseSimulateArgs(argv)
  if (options.help) {
    process.stdout.write(SIMULATE_HELP)
    return
  }
  const renditions = loadRenditions()
  const sim = new Simulation(options, renditions)
  const tty = process.stderr.isTTY === true
  let drawn = false
  const draw = () => {
    const line = progressLine(sim.snapshot())
    drawn = true
    // A terminal that reports no width (0) gets whole lines cut at 160 columns.
    const width = process.stderr.columns || 161
    if (tty) process.stderr.write(`\r\x1b[2K${line.slice(0, Math.max(20, width - 1))}`)
    else process.stderr.write(`${line}\n`)
  }
  /** Ends the redrawn line before anything else is printed. */
  const endLine = () => {
    if (tty && drawn) process.stderr.write('\n')
    drawn = false
  }
  const ticker = setInterval(draw, tty ? 250 : LOG_EVERY_MS)
  let interrupts = 0
  const onSignal = () => {
    interrupts++
    if (interrupts > 1) process.exit(130)
    sim.stop()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const result = await sim.run()
    draw()
    endLine()
    if (options.report) {
      writeReport(
        options.report,
        buildReport(
          options,
          renditions.map((r) => r.id),
          result,
        ),
      )
    }
    process.stdout.write(summaryText(result, options.channel))
    if (result.errors > 0) process.exitCode = 1
  } catch (err) {
    endLine()
    if (!(err instanceof SimulationError)) throw err
    process.stderr.write(`liveorigin simulate: ${err.message}\n`)
    process.exitCode = 1
  } finally {
    clearInterval(ticker)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
