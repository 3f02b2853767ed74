// The modules under mutation testing, each with the unit test files that cover it and the
// mutation score it must keep (see docs/testing.md, "Mutation testing"). To add a module,
// add one entry: its source file, the fast unit tests that pin its rules, and a threshold.
// Only pure modules belong here (no sockets, no child processes, no timers): every mutant
// reruns the listed test files, so they must be fast and deterministic.

// `slow: true`: the module's tests take seconds of CPU per run (fmp4.test.ts feeds every
// fixture split at every few bytes), so its ~700 mutants take far longer than CI allows. Such
// modules run with `npm run test:mutation -- --all` (or by name), not in the default run.
/** @type {{ file: string, tests: string[], threshold?: number, slow?: boolean }[]} */
export const modules = [
  { file: 'src/http/names.ts', tests: ['test/http/names.test.ts'] },
  { file: 'src/timing/template.ts', tests: ['test/timing/template.test.ts'] },
  { file: 'src/timing/schedule.ts', tests: ['test/timing/schedule.test.ts'] },
  { file: 'src/selection/select.ts', tests: ['test/selection/select.test.ts'] },
  { file: 'src/selection/defects.ts', tests: ['test/selection/defects.test.ts'] },
  { file: 'src/selection/ended.ts', tests: ['test/selection/ended.test.ts'] },
  { file: 'src/overload/admission.ts', tests: ['test/overload/admission.test.ts'] },
  {
    file: 'src/media/boxes.ts',
    tests: ['test/media/fmp4.test.ts', 'test/media/inspect.test.ts'],
    slow: true,
  },
  {
    file: 'src/media/fmp4.ts',
    tests: ['test/media/fmp4.test.ts', 'test/media/inspect.test.ts'],
    slow: true,
  },
]

/** The score every module must reach unless its entry says otherwise (percent). */
export const DEFAULT_THRESHOLD = 85

/**
 * The modules a run covers: those named in MUTATION_MODULES (comma-separated), else every
 * module when MUTATION_ALL=1, else the modules not marked slow.
 */
export function selectedModules(env = process.env) {
  const only = env.MUTATION_MODULES?.split(',').filter(Boolean)
  if (only && only.length > 0) return modules.filter((m) => only.includes(m.file))
  return env.MUTATION_ALL === '1' ? modules : modules.filter((m) => !m.slow)
}
