/**
 * `liveorigin capacity`: prints what an event costs each origin node, Cassandra and memcached
 * (docs/capacity.md), from the model in `capacity/model.ts`. Bad options throw `ConfigError`
 * (exit code 2).
 */
import { parseArgs } from 'node:util'
import type { EventShape } from '../capacity/model.js'
import { capacityTable } from '../capacity/table.js'
import { ConfigError } from '../config/load.js'

/** Options, their meaning and default: the event of docs/capacity.md. */
const OPTIONS = {
  channels: ['channels', 200],
  renditions: ['renditions per channel', 8],
  'segment-ms': ['segment duration D (ms)', 2000],
  'segment-bytes': ['average segment size (bytes)', 2_000_000],
  pipelines: ['pipelines writing every segment', 2],
  'dvr-hours': ['DVR window (hours)', 4],
  zones: ['memcached zones', 3],
  nodes: ['origin nodes', 20],
  pops: ['CDN PoPs asking every segment', 50],
  'commit-ms': ['first commit of a segment, ms after A(N)', 100],
} as const

type Name = keyof typeof OPTIONS

export const CAPACITY_HELP = `liveorigin capacity [options]: what an event costs each origin node, Cassandra and memcached

Options (whole numbers):
${Object.entries(OPTIONS)
  .map(([name, [doc, def]]) => `  --${name.padEnd(14)} ${doc} (default ${def})`)
  .join('\n')}
  --arrival due|hold-window   when PoPs ask for a segment: at A(N), or at A(N) − H when
                              the 404 they cached expires (default due)
  --help
`

export function parseCapacityArgs(argv: readonly string[]): EventShape | 'help' {
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(Object.keys(OPTIONS).map((k) => [k, { type: 'string' as const }])),
        arrival: { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    })
  } catch (err) {
    throw new ConfigError(`capacity: ${(err as Error).message}`)
  }
  const v = parsed.values as Record<string, string | boolean | undefined>
  if (v.help) return 'help'
  const num = (name: Name): number => {
    const given = v[name]
    if (given === undefined) return OPTIONS[name][1]
    const n = Number(given)
    const min = name === 'dvr-hours' ? 0 : 1
    if (!/^\d+$/.test(String(given)) || !Number.isSafeInteger(n) || n < min)
      throw new ConfigError(`capacity: --${name} must be a whole number ≥ ${min}, got "${given}"`)
    return n
  }
  const arrival = v.arrival ?? 'due'
  if (arrival !== 'due' && arrival !== 'hold-window')
    throw new ConfigError(`capacity: --arrival must be due or hold-window, got "${arrival}"`)
  return {
    channels: num('channels'),
    renditions: num('renditions'),
    segmentDurationMs: num('segment-ms'),
    segmentBytes: num('segment-bytes'),
    pipelines: num('pipelines'),
    dvrWindowMs: num('dvr-hours') * 3_600_000,
    zones: num('zones'),
    nodes: num('nodes'),
    pops: num('pops'),
    commitAfterMs: num('commit-ms'),
    arrival,
  }
}

/** Runs `liveorigin capacity` with `argv` (the arguments after `capacity`). */
export function runCapacity(argv: readonly string[]): void {
  const shape = parseCapacityArgs(argv)
  process.stdout.write(shape === 'help' ? CAPACITY_HELP : capacityTable(shape))
}
