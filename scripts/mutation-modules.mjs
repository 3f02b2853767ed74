// The modules under mutation testing, each with the unit test files that cover it and the
// mutation score it must keep (see docs/testing.md, "Mutation testing"). To add a module,
// add one entry: its source file, the fast unit tests that pin its rules, and a threshold.
// Only pure modules belong here (no sockets, no child processes, no timers): every mutant
// reruns the listed test files, so they must be fast and deterministic.

/** @type {{ file: string, tests: string[], threshold?: number }[]} */
export const modules = [
  { file: 'src/http/names.ts', tests: ['test/http/names.test.ts'] },
  { file: 'src/timing/template.ts', tests: ['test/timing/template.test.ts'] },
  { file: 'src/timing/schedule.ts', tests: ['test/timing/schedule.test.ts'] },
  { file: 'src/selection/select.ts', tests: ['test/selection/select.test.ts'] },
  { file: 'src/selection/defects.ts', tests: ['test/selection/defects.test.ts'] },
  { file: 'src/overload/admission.ts', tests: ['test/overload/admission.test.ts'] },
  {
    file: 'src/selection/boxes.ts',
    tests: ['test/selection/fmp4.test.ts', 'test/selection/inspect.test.ts'],
  },
  { file: 'src/selection/fmp4.ts', tests: ['test/selection/fmp4.test.ts', 'test/selection/inspect.test.ts'] },
]

/** The score every module must reach unless its entry says otherwise (percent). */
export const DEFAULT_THRESHOLD = 85
