/**
 * Command-line parsing for `liveorigin serve`: flags map onto settings (`settings.ts`),
 * so that flags, environment and file share one vocabulary.
 */
import { parseArgs } from 'node:util'
import { ConfigError, parseSettingValue } from '../config/load.js'
import { settings } from '../config/settings.js'

export interface ServeArgs {
  configFile: string | undefined
  /** Setting values by path, from flags. */
  flags: Record<string, unknown>
}

const flagged = settings.filter((s) => s.flag)

export function parseServeArgs(argv: string[]): ServeArgs {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    config: { type: 'string' },
  }
  for (const s of flagged) {
    const name = s.flag!.slice(2)
    options[name] = s.type === 'bool' ? { type: 'boolean' } : { type: 'string', multiple: s.type === 'roles' }
  }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: false, strict: true })
  } catch (err) {
    throw new ConfigError((err as Error).message.split('\n')[0]!)
  }
  const flags: Record<string, unknown> = {}
  for (const s of flagged) {
    const v = parsed.values[s.flag!.slice(2)]
    if (v === undefined) continue
    if (s.type === 'bool') flags[s.path] = v
    else if (s.type === 'roles') flags[s.path] = (v as string[]).flatMap((r) => r.split(','))
    else flags[s.path] = parseSettingValue(s, v as string, s.flag!)
  }
  return { configFile: parsed.values.config as string | undefined, flags }
}
