/**
 * `liveorigin capacity`'s output: the model (`model.ts`) for one event, as a table with one
 * column per polling scheme, so that their costs read side by side. Pure: text out.
 */
import { type Capacity, capacity, type EventShape, type Polling } from './model.js'

const POLLINGS: readonly Polling[] = ['fixed', 'backoff']

function count(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)} k`
  return n >= 100 ? n.toFixed(0) : n.toFixed(1)
}

function bytes(n: number): string {
  for (const [unit, size] of [
    ['PB', 1e15],
    ['TB', 1e12],
    ['GB', 1e9],
    ['MB', 1e6],
  ] as const) {
    if (n >= size) return `${(n / size).toFixed(1)} ${unit}`
  }
  return `${n.toFixed(0)} B`
}

const ROWS: ReadonlyArray<readonly [string, (c: Capacity) => string]> = [
  ['PUTs/s (event)', (c) => count(c.putsPerSecond)],
  ['PUTs/s per node', (c) => count(c.putsPerSecondPerNode)],
  ['ingest per day', (c) => bytes(c.bytesPerDay)],
  ['stored (DVR window, replicas)', (c) => bytes(c.storedBytes)],
  ['Cassandra replica writes/s (ring)', (c) => count(c.replicaWritesPerSecond)],
  ['Cassandra writes/s per node', (c) => count(c.storageWritesPerNode)],
  ['Cassandra reads/s per node', (c) => count(c.storageReadsPerNode)],
  ['  of which for held requests', (c) => count(c.storageReadsForHoldsPerNode)],
  ['memcached item writes/s per node', (c) => count(c.memcachedWritesPerNode)],
  ['memcached item reads/s per node', (c) => count(c.memcachedReadsPerNode)],
  ['  of which for held requests', (c) => count(c.memcachedReadsForHoldsPerNode)],
  ['objects held per node per segment', (c) => count(c.heldObjectsPerNode)],
  ['held requests per node (average)', (c) => count(c.heldRequestsPerNode)],
  ['per held object: local-zone reads', (c) => count(c.perHeldObject.localItems)],
  ['per held object: other-zone reads', (c) => count(c.perHeldObject.otherItems)],
  ['per held object: Cassandra lists', (c) => count(c.perHeldObject.lists)],
  ['per held object: held (ms)', (c) => count(c.perHeldObject.heldMs)],
  ['peer notices sent/s per node (= received)', (c) => count(c.noticesPerNode)],
  ['heartbeat statements/s per node', (c) => count(c.heartbeatStatementsPerNode)],
]

/** The table for `shape`: fixed 10 ms polling beside the backoff schedule. */
export function capacityTable(shape: EventShape): string {
  const results = POLLINGS.map((p) => capacity(shape, p))
  const head = ['', 'fixed 10 ms polls', 'backoff (default)']
  const body = ROWS.map(([label, f]) => [label, ...results.map(f)])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  const arrival = shape.arrival === 'hold-window' ? 'A(N) − H' : 'A(N)'
  return [
    `${shape.channels} channels × ${shape.renditions} renditions, D = ${shape.segmentDurationMs} ms, ${bytes(shape.segmentBytes)} segments, ${shape.pipelines} pipelines, DVR ${shape.dvrWindowMs / 3_600_000} h`,
    `${shape.zones} memcached zones, ${shape.nodes} origin nodes, ${shape.pops} CDN PoPs asking every segment at ${arrival}, first commit ${shape.commitAfterMs ?? 100} ms after A(N)`,
    '',
    line(head),
    ...body.map(line),
    '',
  ].join('\n')
}
