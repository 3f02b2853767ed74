import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError } from '../../src/config/load.js'
import { parseOutage, parseSimulateArgs, parseTime } from '../../src/simulate/options.js'

describe('simulate options', () => {
  it('defaults', () => {
    const o = parseSimulateArgs([])
    assert.equal(o.ingest, 'http://127.0.0.1:8081')
    assert.equal(o.control, 'http://127.0.0.1:8082')
    assert.equal(o.channel, 'sim')
    assert.deepEqual(o.pipelines, ['east', 'west'])
    assert.equal(o.segmentDurationMs, 2000)
    assert.equal(o.durationMs, 120_000)
    assert.equal(o.startNumber, undefined)
    assert.deepEqual(o.tokens, {})
    assert.deepEqual([o.defectRate, o.lateRate, o.missingRate], [0, 0, 0])
    assert.deepEqual(o.outages, [])
    assert.equal(o.seed, undefined)
    assert.equal(o.help, false)
    assert.deepEqual([o.gapsMs, o.cutsMs], [[], []])
    assert.equal(o.delivery, 'http://127.0.0.1:8080')
    assert.equal(o.timeSource, 'http://127.0.0.1:8080/.well-known/time')
  })

  it('--gap and --cut (repeatable), --delivery and --time-source', () => {
    const o = parseSimulateArgs([
      '--gap',
      '30s',
      '--gap',
      '43s',
      '--cut',
      '40s',
      '--delivery',
      'http://127.0.0.3:9000/',
    ])
    assert.deepEqual(o.gapsMs, [30_000, 43_000])
    assert.deepEqual(o.cutsMs, [40_000])
    assert.deepEqual(o.abortsMs, [])
    assert.deepEqual(
      parseSimulateArgs(['--low-latency', '--abort', '20s', '--abort', '9s']).abortsMs,
      [20_000, 9_000],
    )
    assert.equal(o.timeSource, 'http://127.0.0.3:9000/.well-known/time')
    assert.equal(parseSimulateArgs(['--time-source', 'none']).timeSource, undefined)
    assert.equal(
      parseSimulateArgs(['--time-source', 'https://time.example/now?iso']).timeSource,
      'https://time.example/now?iso',
    )
  })

  it('parses every option', () => {
    const o = parseSimulateArgs([
      '--ingest=http://127.0.0.2:9001/',
      '--control',
      'http://127.0.0.2:9002',
      '--channel',
      'ev.1',
      '--pipelines',
      'a, b,c',
      '--segment-ms',
      '500',
      '--duration',
      '1.5m',
      '--start-number',
      '7',
      '--token',
      'a=s1',
      '--token',
      'b=s=2',
      '--token',
      'c=s3',
      '--defect-rate',
      '0.1',
      '--late-rate',
      '0.25',
      '--missing-rate',
      '1',
      '--outage',
      'a:20s-40s',
      '--outage',
      'c:500ms-2m',
      '--seed',
      'x',
      '--report',
      'r.json',
    ])
    assert.equal(o.ingest, 'http://127.0.0.2:9001')
    assert.deepEqual(o.pipelines, ['a', 'b', 'c'])
    assert.equal(o.segmentDurationMs, 500)
    assert.equal(o.durationMs, 90_000)
    assert.equal(o.startNumber, 7)
    assert.deepEqual(o.tokens, { a: 's1', b: 's=2', c: 's3' })
    assert.deepEqual([o.defectRate, o.lateRate, o.missingRate], [0.1, 0.25, 1])
    assert.deepEqual(o.outages, [
      { pipeline: 'a', fromMs: 20_000, toMs: 40_000 },
      { pipeline: 'c', fromMs: 500, toMs: 120_000 },
    ])
    assert.equal(o.seed, 'x')
    assert.equal(o.report, 'r.json')
  })

  it('times: units ms, s, m, h; a bare number is seconds', () => {
    assert.equal(parseTime('20s', 'x'), 20_000)
    assert.equal(parseTime('250ms', 'x'), 250)
    assert.equal(parseTime('2m', 'x'), 120_000)
    assert.equal(parseTime('1h', 'x'), 3_600_000)
    assert.equal(parseTime('3', 'x'), 3000)
    assert.equal(parseTime('0', 'x'), 0)
    assert.throws(() => parseTime('-1s', '--duration'), /--duration: expected a time/)
    assert.throws(() => parseTime('1d', '--duration'), ConfigError)
    assert.throws(() => parseOutage('east:40s-20s'), /end must be after the start/)
    assert.throws(() => parseOutage('east-20s'), /expected <pipeline>:<from>-<to>/)
  })

  it('refuses bad options with one line naming the option', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--defect-rate', '1.5'], /^--defect-rate: expected a probability/],
      [['--late-rate', 'x'], /^--late-rate: /],
      [['--missing-rate', ''], /^--missing-rate: /],
      [['--segment-ms', '0'], /^--segment-ms: expected an integer from 100/],
      [['--segment-ms', '1.5'], /^--segment-ms: /],
      [['--duration', 'soon'], /^--duration: /],
      [['--pipelines', 'east,east'], /^--pipelines: a pipeline is listed twice/],
      [['--pipelines', 'east,we st'], /^--pipelines: invalid pipeline id "we st"/],
      [['--channel=-x'], /^--channel: invalid channel name/],
      [['--outage', 'north:1s-2s'], /^--outage: "north" is not one of --pipelines/],
      [['--token', 'east=a'], /^--token: no token for pipeline west/],
      [['--token', 'east'], /^--token: expected <pipeline>=<secret>/],
      [['--token', 'north=a'], /^--token: "north" is not one of --pipelines/],
      [['--ingest', 'ftp://x'], /^--ingest: expected an http/],
      [['--control', 'nope'], /^--control: not a URL/],
      [['--start-number=-1'], /^--start-number: /],
      [['--gap', 'soon'], /^--gap: expected a time/],
      [['--cut', '2m'], /^--cut 2m: not before the end of the run \(--duration 120s\)/],
      [['--gap', '30s', '--cut', '31s'], /^--cut 31s: the same segment as --gap 30s/],
      [['--low-latency', '--cut', '30s', '--abort', '31s'], /^--abort 31s: the same segment as --cut 30s/],
      [['--abort', '30s'], /^--abort: only with --low-latency/],
      [['--delivery', 'x'], /^--delivery: not a URL/],
      [['--time-source', 'ftp://t'], /^--time-source: expected an http/],
      [['--bogus'], /^simulate: Unknown option '--bogus'/],
      [['extra'], /^simulate: Unexpected argument 'extra'/],
    ]
    for (const [argv, message] of cases) {
      assert.throws(
        () => parseSimulateArgs(argv),
        (err: Error) =>
          err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'),
        argv.join(' '),
      )
    }
  })
})
