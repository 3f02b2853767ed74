/**
 * Loads the configuration: defaults, then the YAML file, then `LIVEORIGIN_*` environment
 * variables, then flags (flags win). A bad setting throws a `ConfigError` whose message is
 * one line naming the setting.
 */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { parse as parseYaml } from 'yaml'
import { type Config, configSchema } from './schema.js'
import { envName, type Setting, settings } from './settings.js'

export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

export interface ConfigSources {
  /** Path of a YAML file. */
  file?: string | undefined
  /** Environment (defaults to none: pass `process.env` explicitly). */
  env?: NodeJS.ProcessEnv
  /** Flag values by setting path, already parsed from the command line. */
  flags?: Record<string, unknown>
  /** Values set programmatically (tests), applied after flags. */
  overrides?: Record<string, unknown>
}

type Tree = Record<string, unknown>

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function setPath(tree: Tree, path: string, value: unknown): void {
  const parts = path.split('.')
  let node = tree
  for (const p of parts.slice(0, -1)) {
    const next = node[p]
    if (!isTree(next)) node[p] = {}
    node = node[p] as Tree
  }
  node[parts[parts.length - 1]!] = value
}

function merge(base: Tree, over: Tree, prefix = ''): Tree {
  const out: Tree = { ...base }
  for (const [k, v] of Object.entries(over)) {
    const b = out[k]
    const path = prefix ? `${prefix}.${k}` : k
    // Maps the user owns (tokens, channels, driver options) are replaced, not merged key by key.
    out[k] = isTree(b) && isTree(v) && !opaque.has(path) ? merge(b, v, path) : v
  }
  return out
}

/** Settings whose value is one JSON document (a map the user owns), not a section. */
const opaque = new Set(settings.filter((s) => s.type === 'json').map((s) => s.path))

/** Parses one textual value (environment variable or flag) as the setting's type. */
export function parseSettingValue(setting: Setting, raw: string, source: string): unknown {
  const where = `${source} (${setting.path})`
  switch (setting.type) {
    case 'string':
      return raw
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${where}: expected an integer, got "${raw}"`)
      return Number(raw)
    }
    case 'bool': {
      const v = raw.trim().toLowerCase()
      if (['1', 'true', 'yes', 'on'].includes(v)) return true
      if (['0', 'false', 'no', 'off', ''].includes(v)) return false
      throw new ConfigError(`${where}: expected true or false, got "${raw}"`)
    }
    case 'roles':
      return raw
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean)
    case 'json':
      try {
        return JSON.parse(raw)
      } catch {
        throw new ConfigError(`${where}: expected JSON, got "${raw}"`)
      }
  }
}

function defaults(): Tree {
  const tree: Tree = {}
  for (const s of settings) if (s.default !== undefined) setPath(tree, s.path, structuredClone(s.default))
  return tree
}

function fromFile(file: string): Tree {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (err) {
    throw new ConfigError(`config file ${file}: ${String((err as Error).message).split('\n')[0]}`)
  }
  if (doc == null) return {}
  if (!isTree(doc)) throw new ConfigError(`config file ${file}: expected a mapping at the top level`)
  checkKnownKeys(doc, '', file)
  return doc
}

const sections = new Set(settings.map((s) => s.path.split('.')[0]))
function checkKnownKeys(doc: Tree, prefix: string, file: string): void {
  for (const [k, v] of Object.entries(doc)) {
    const path = prefix ? `${prefix}.${k}` : k
    const exact = settings.find((s) => s.path === path)
    if (exact) continue
    if (!prefix && sections.has(k) && isTree(v)) {
      checkKnownKeys(v, path, file)
      continue
    }
    throw new ConfigError(`config file ${file}: unknown setting ${path}`)
  }
}

function fromEnv(env: NodeJS.ProcessEnv): Tree {
  const tree: Tree = {}
  for (const s of settings) {
    const raw = env[envName(s.path)]
    if (raw !== undefined) setPath(tree, s.path, parseSettingValue(s, raw, envName(s.path)))
  }
  return tree
}

function fromPaths(values: Record<string, unknown>): Tree {
  const tree: Tree = {}
  for (const [path, v] of Object.entries(values)) if (v !== undefined) setPath(tree, path, v)
  return tree
}

/** Merges every source and validates the result. Throws `ConfigError` naming the first bad setting. */
export function loadConfig(sources: ConfigSources = {}): Config {
  let tree = defaults()
  if (sources.file) tree = merge(tree, fromFile(sources.file))
  if (sources.env) tree = merge(tree, fromEnv(sources.env))
  if (sources.flags) tree = merge(tree, fromPaths(sources.flags))
  if (sources.overrides) tree = merge(tree, fromPaths(sources.overrides))
  const parsed = configSchema.safeParse(tree)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    // An unknown key inside a setting (a driver option) is named with the rest of its path.
    const unknown = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined
    const path = [...issue.path, ...(unknown === undefined ? [] : [unknown])].join('.')
    throw new ConfigError(
      `invalid setting ${path || '(root)'}: ${unknown === undefined ? issue.message : 'unknown option'}`,
    )
  }
  return parsed.data
}

/** Whether `host` (an address or name, without port; IPv6 with or without brackets) is loopback. */
export function isLoopbackHost(host: string): boolean {
  const h = (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host).toLowerCase()
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1') return true
  return isIP(h) === 4 && h.startsWith('127.')
}

/**
 * Refuses configurations that expose a listener to anyone who can reach it: open ingest (no
 * `ingest.tokens`) or an open control API (no `control.token`) on a non-loopback host,
 * unless the matching insecure setting says the operator means it. One line naming the
 * setting, as a `ConfigError`.
 */
export function checkExposure(config: Config, roles: readonly string[]): void {
  if (isLoopbackHost(config.host)) return
  const open = Object.keys(config.ingest.tokens).length === 0
  if (roles.includes('ingest') && open && !config.ingest.insecureOpenIngest) {
    throw new ConfigError(
      `refusing open ingest (no ingest.tokens) on non-loopback host ${config.host}; configure ingest.tokens or pass --insecure-open-ingest`,
    )
  }
  if (
    roles.includes('control') &&
    config.control.token === undefined &&
    !config.control.insecureOpenControl
  ) {
    throw new ConfigError(
      `refusing an open control API (no control.token) on non-loopback host ${config.host}; set control.token or pass --insecure-open-control (control.insecureOpenControl)`,
    )
  }
}
