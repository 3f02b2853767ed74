/**
 * Cleanup registry: servers and temp directories the harness creates register how to undo
 * themselves, and everything is undone once, in reverse order, at the end of the run, on
 * Ctrl-C (SIGINT), SIGTERM or an unexpected error.
 */

type Undo = () => Promise<void> | void

const undos: Array<{ name: string; undo: Undo }> = []
let running: Promise<void> | undefined

/** Registers `undo`; returns a function that runs it now and unregisters it. */
export function onCleanup(name: string, undo: Undo): () => Promise<void> {
  const entry = { name, undo }
  undos.push(entry)
  return async () => {
    const i = undos.indexOf(entry)
    if (i === -1) return
    undos.splice(i, 1)
    await entry.undo()
  }
}

/** Runs every registered undo (latest first); errors are reported, not thrown. */
export function cleanupAll(): Promise<void> {
  running ??= (async () => {
    while (undos.length > 0) {
      const entry = undos.pop()!
      try {
        await entry.undo()
      } catch (err) {
        process.stderr.write(`cleanup of ${entry.name} failed: ${(err as Error).message}\n`)
      }
    }
    running = undefined
  })()
  return running
}

/** Makes SIGINT/SIGTERM clean up and exit (130/143) instead of leaving servers behind. */
export function cleanupOnSignals(): void {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping servers…\n`)
      void cleanupAll().finally(() => process.exit(code))
    })
  }
}
