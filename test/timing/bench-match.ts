/**
 * Micro-benchmark of PathMatcher.match(), which runs on every delivery request, against the
 * plain compiled regex of the same template. Reports the best of several rounds (the machine
 * is shared, so the minimum is the least disturbed figure).
 * Run: node --import tsx test/timing/bench-match.ts
 */
import {
  compilePathMatcher,
  compileTemplate,
  parseTemplateNumber,
  renderMediaPath,
} from '../../src/timing/template.js'

const ROUNDS = 7
const ITERATIONS = 1_000_000

function nsPerCall(paths: readonly string[], f: (path: string) => number): number {
  let best = Number.POSITIVE_INFINITY
  let sink = 0
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < ITERATIONS; i++) sink += f(paths[i % paths.length]!)
    best = Math.min(best, Number(process.hrtime.bigint() - start) / ITERATIONS)
  }
  if (sink === -1) console.log('unreachable')
  return best
}

function bench(media: string, initialization: string): void {
  const cfg = { media, initialization }
  const m = compilePathMatcher(cfg)
  const t = compileTemplate(media)
  const mediaPaths = Array.from({ length: 64 }, (_, i) =>
    renderMediaPath(cfg, `v${i % 4}`, 100_000 + i, 800_000),
  )
  const mixes: Record<string, string[]> = {
    media: mediaPaths,
    init: ['v0', 'v1', 'v2', 'audio'].map((r) =>
      initialization.replace('$RepresentationID$', r).replace('$Bandwidth$', '800000'),
    ),
    manifest: ['manifest.mpd', 'hls/v0.m3u8'],
    other: ['captions/en.vtt', 'keys/k1.bin', 'thumbs/0001.jpg'],
  }
  for (const [kind, paths] of Object.entries(mixes)) {
    const ns = nsPerCall(paths, (p) => {
      const r = m.match(p)
      return r.kind === 'media' ? r.number : 1
    })
    console.log(`${media.padEnd(42)} ${kind.padEnd(9)} ${ns.toFixed(1).padStart(6)} ns/call`)
  }
  const repFirst = t.representationFirst
  const regex = nsPerCall(mediaPaths, (p) => {
    const r = t.pattern.exec(p)
    return r ? parseTemplateNumber(r[repFirst ? 2 : 1]!, t.numberWidth) : 0
  })
  console.log(`${media.padEnd(42)} ${'(regex)'.padEnd(9)} ${regex.toFixed(1).padStart(6)} ns/call`)
}

bench('seg-$RepresentationID$-$Number%05d$.m4s', 'init-$RepresentationID$.m4s')
bench('$RepresentationID$/$Number$.m4s', '$RepresentationID$/init.mp4')
bench('$RepresentationID$_$Bandwidth$/$Number$.m4s', '$RepresentationID$_$Bandwidth$/init.mp4')
