#!/usr/bin/env node
// Stryker's build step (runs inside its sandbox, after the sources are instrumented): bundles
// each test file of the modules under mutation testing into `<file>.mjs` next to it, sources
// included and npm packages left external. Every mutant reruns these bundles with plain
// `node`, which starts several times faster than `node --import tsx` (one process per test
// file per mutant). Kept next to the original so that `import.meta.url` paths (fixtures) hold.
import { build } from 'esbuild'
import { selectedModules } from './mutation-modules.mjs'

const tests = [...new Set(selectedModules().flatMap((m) => m.tests))]
await Promise.all(
  tests.map((file) =>
    build({
      entryPoints: [file],
      outfile: `${file}.mjs`,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      sourcemap: false,
      logLevel: 'warning',
    }),
  ),
)
console.log(`bundled ${tests.length} test file(s)`)
