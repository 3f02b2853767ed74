// StrykerJS configuration for `npm run test:mutation` (scripts/mutation.mjs runs it and then
// checks the per-module thresholds). The modules and their tests live in
// scripts/mutation-modules.mjs. Tests run as TAP from node's test runner (`node --import tsx`),
// one process per test file; `perTest` coverage makes each mutant rerun only the test files
// that reach it. No type checker: a mutant that does not type-check still has to be killed by
// a test (TypeScript 7 has no JS API for Stryker's checker, so `tsconfigFile` points nowhere).
import { selectedModules } from './scripts/mutation-modules.mjs'

const selected = selectedModules()
// The default selection reads and writes the committed incremental file; any other selection
// would drop the modules it leaves out from that file, so it runs without one.
const defaultRun = !process.env.MUTATION_MODULES && process.env.MUTATION_ALL !== '1'

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  plugins: ['@stryker-mutator/tap-runner'],
  mutate: selected.map((m) => m.file),
  tap: {
    testFiles: [...new Set(selected.flatMap((m) => m.tests))],
    // The bundle scripts/mutation-build.mjs wrote next to each test file (plain node, no tsx).
    nodeArgs: ['-r', '{{hookFile}}', '{{testFile}}.mjs'],
    forceBail: true,
  },
  coverageAnalysis: 'perTest',
  buildCommand: 'node scripts/mutation-build.mjs',
  checkers: [],
  tsconfigFile: 'stryker-has-no-tsconfig.json',
  disableTypeChecks: false,
  concurrency: Number(process.env.MUTATION_CONCURRENCY ?? 2),
  // A mutant that loops forever (a parser's offset not advancing) costs this much; a slow
  // test on a busy machine that runs into it counts as detected, never as a failure.
  timeoutMS: 4000,
  timeoutFactor: 2,
  // Incremental mode: mutants whose source and covering tests are unchanged since the committed
  // file keep their result. MUTATION_FULL=1 reruns every mutant and rewrites the file. A run
  // of other modules (named, or --all) neither reads nor writes it.
  incremental: defaultRun,
  force: process.env.MUTATION_FULL === '1',
  incrementalFile: 'scripts/mutation-incremental.json',
  reporters: ['json', 'html', 'clear-text', 'progress-append-only'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  ignorePatterns: [
    'data',
    '.bench',
    '.run',
    'bench/results',
    'reports',
    'dist',
    'assets/sim',
    'test/e2e',
    'test/distributed',
  ],
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
}
