import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { MachineInfo } from '../lib/machine.js'
import {
  type BenchReport,
  DOC_MARKERS,
  formatValue,
  type Row,
  renderMarkdown,
  row,
  updateDoc,
  writeReport,
} from '../lib/report.js'

const machine: MachineInfo = {
  cpuModel: 'Test CPU',
  cores: 2,
  memoryBytes: 8 * 1024 ** 3,
  kernel: '6.1.0',
  os: 'Debian GNU/Linux 12 (bookworm)',
  node: 'v20.0.0',
  nginx: '1.22.1',
  loadAverage: [0.5, 0.4, 0.3],
  date: '2026-01-01T00:00:00.000Z',
}

function report(): BenchReport {
  return {
    tool: 'test',
    machine,
    settings: { durationSec: 10 },
    servers: { nginx: 'pid 1' },
    scenarios: [
      {
        id: 'get-cached',
        title: 't',
        spec: 's',
        rows: [
          row({
            metric: 'throughput',
            unit: 'B/s',
            origin: 2e9,
            nginx: 1e9,
            target: { on: 'ratio', op: '>=', value: 1 },
          }),
        ],
        details: {},
        notes: ['a note'],
        elapsedSec: 1,
      },
      {
        id: 'put',
        title: 't',
        spec: 's',
        rows: [],
        details: {},
        notes: [],
        skipped: 'needs liveorigin',
        elapsedSec: 0,
      },
    ],
  }
}

test('row computes the ratio and checks the target', () => {
  assert.deepEqual(
    row({
      metric: 'm',
      unit: 'req/s',
      origin: 50,
      nginx: 100,
      target: { on: 'ratio', op: '>=', value: 0.6 },
    }),
    {
      metric: 'm',
      unit: 'req/s',
      origin: 50,
      nginx: 100,
      ratio: 0.5,
      ratioOf: 'liveorigin/nginx',
      target: { on: 'ratio', op: '>=', value: 0.6 },
      pass: false,
    },
  )
  assert.equal(
    row({ metric: 'p99', unit: 'ms', origin: 9, target: { on: 'origin', op: '<=', value: 10 } }).pass,
    true,
  )
  assert.equal(
    row({ metric: 'p99', unit: 'ms', nginx: 9, target: { on: 'ratio', op: '<=', value: 2 } }).pass,
    undefined,
  )
})

const future404: Row = {
  metric: 'answers 404',
  unit: 'req/s',
  origin: 30_000,
  nginx: 100_000,
  bare: 40_000,
  target: { on: 'ratioBare', op: '>=', value: 0.8 },
}

test('a row with the bare node reference has its own ratio, which a target can name', () => {
  const r = row(future404)
  assert.equal(r.ratio, 0.3)
  assert.equal(r.ratioOf, 'liveorigin/nginx')
  assert.equal(r.ratioBare, 0.75)
  assert.equal(r.pass, false)
  const { ratioBare: _, ...rest } = r
  assert.equal(row({ ...rest, bare: 37_500 }).pass, true)
  // Without a bare value there is nothing to check.
  const noBare = row({ metric: 'm', unit: 'req/s', origin: 1, nginx: 2, target: r.target! })
  assert.equal(noBare.ratioBare, undefined)
  assert.equal(noBare.pass, undefined)
  // A ratio of the row's own (storm/rest) leaves the bare ratio alone.
  const storm = row({ metric: 'p99', unit: 'ms', origin: 3, ratio: 2, ratioOf: 'storm/rest' })
  assert.equal(storm.ratioBare, undefined)
})

test('markdown has a bare node column and its ratio beside the nginx ratio', () => {
  const r = report()
  r.scenarios[0]!.rows.push(
    row(future404),
    row({ metric: 'PUT p99 during storm', unit: 'ms', origin: 44, ratio: 2.3, ratioOf: 'storm/rest' }),
  )
  const md = renderMarkdown(r)
  assert.match(
    md,
    /\| Scenario \| Metric \| liveorigin \| nginx \| bare node \| Ratio \| Ratio to bare node \| Target \| Met \|/,
  )
  assert.match(
    md,
    /\| get-cached \| answers 404 \| 30,000 req\/s \| 100,000 req\/s \| 40,000 req\/s \| 0\.30 \(liveorigin\/nginx\) \| 0\.75 \(liveorigin\/bare node\) \| ratio to bare node ≥ 0\.8 \| \*\*no\*\* \|/,
  )
  assert.match(
    md,
    /\| get-cached \| PUT p99 during storm \| 44\.0 ms \| — \| — \| 2\.30 \(storm\/rest\) \| — \| {2}\| {2}\|/,
  )
  // Every table line has the same number of cells as the header.
  const table = md.split('\n').filter((l) => l.startsWith('| '))
  for (const l of table) assert.equal(l.replace(/\\\|/g, '').split('|').length, 11, l)
  const json = JSON.parse(JSON.stringify(r.scenarios[0]!.rows[1]))
  assert.deepEqual(
    { bare: json.bare, ratioBare: json.ratioBare, pass: json.pass },
    { bare: 40_000, ratioBare: 0.75, pass: false },
  )
})

test('values are formatted in their units', () => {
  assert.equal(formatValue(1536 * 1024 * 1024, 'B/s'), '1.5 GiB/s')
  assert.equal(formatValue(12345.6, 'req/s'), '12,346 req/s')
  assert.equal(formatValue(1.234, 'ms'), '1.23 ms')
  assert.equal(formatValue(undefined, 'ms'), '—')
})

test('markdown has the machine note, the table and the notes', () => {
  const md = renderMarkdown(report())
  assert.match(md, /CPU: Test CPU, 2 logical cores/)
  assert.match(md, /Node\.js v20\.0\.0, nginx 1\.22\.1/)
  assert.match(
    md,
    /\| get-cached \| throughput \| 1\.9 GiB\/s \| 953\.7 MiB\/s \| — \| 2\.00 \(liveorigin\/nginx\) \| — \| ratio ≥ 1 \| yes \|/,
  )
  assert.match(md, /\| put \| skipped: needs liveorigin \|/)
  assert.match(md, /- get-cached: a note/)
  assert.doesNotMatch(md, /Memory touched/, 'no warm-up, no line')
})

test('the machine note says how dear the memory warm-ups before the scenarios were', () => {
  const warmed = {
    ...report(),
    machine: { ...machine, warmMib: 4096, memoryTouchMsPerMib: [7.84, 2.1, 2.52, 2.3] },
  }
  assert.match(
    renderMarkdown(warmed),
    /- Memory touched before each scenario: 4096 MiB, 7\.84 ms per MiB before the first, 2\.1–2\.52 ms per MiB before the 3 others/,
  )
  const once = { ...report(), machine: { ...machine, warmMib: 64, memoryTouchMsPerMib: [3] } }
  assert.match(
    renderMarkdown(once),
    /- Memory touched before each scenario: 64 MiB, 3 ms per MiB before the first\n/,
  )
})

test('writeReport writes both files and updateDoc replaces only the marked block', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-report-test-'))
  try {
    const files = writeReport(report(), dir)
    assert.equal(JSON.parse(readFileSync(files.json, 'utf8')).scenarios[0].rows[0].ratio, 2)
    assert.match(readFileSync(files.md, 'utf8'), /^# liveorigin benchmark/)
    const doc = join(dir, 'doc.md')
    writeFileSync(doc, `intro\n${DOC_MARKERS[0]}\nold table\n${DOC_MARKERS[1]}\noutro\n`)
    assert.equal(updateDoc(doc, report()), true)
    const text = readFileSync(doc, 'utf8')
    assert.ok(text.startsWith('intro\n'))
    assert.ok(text.endsWith(`${DOC_MARKERS[1]}\noutro\n`))
    assert.doesNotMatch(text, /old table/)
    assert.match(text, /\| get-cached \| throughput/)
    writeFileSync(doc, 'no markers\n')
    assert.equal(updateDoc(doc, report()), false)
    assert.equal(readFileSync(doc, 'utf8'), 'no markers\n')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a value that measured nothing (NaN) is shown as a dash and never meets its target', () => {
  const r = row({
    metric: 'resident memory per held request, with its connection',
    unit: 'bytes',
    origin: Number.NaN,
    target: { on: 'origin', op: '<=', value: 10 * 1024 },
  })
  assert.equal(r.pass, undefined)
  assert.equal(formatValue(r.origin, 'bytes'), '—')
  const met = row({
    metric: 'm',
    unit: 'bytes',
    origin: 2048,
    target: { on: 'origin', op: '<=', value: 10 * 1024 },
  })
  assert.equal(met.pass, true)
})

test('a row in doubt keeps its values and ratios, and its target is not judged', () => {
  const doubted = row({ ...future404, doubt: 'the rounds of bare node disagree' })
  assert.equal(doubted.ratioBare, 0.75)
  assert.equal(doubted.pass, undefined)
  const r = report()
  r.scenarios[0]!.rows.push(doubted)
  assert.match(
    renderMarkdown(r),
    /\| answers 404 \| 30,000 req\/s \| 100,000 req\/s \| 40,000 req\/s \| 0\.30 \(liveorigin\/nginx\) \| 0\.75 \(liveorigin\/bare node\) \| ratio to bare node ≥ 0\.8 \| not judged \|/,
  )
})
