/**
 * Every setting liveorigin reads, as a flat table derived from the configuration schema
 * (`schema.ts`): its YAML path (camelCase), its environment variable, its flag where it has
 * one, its type, default and meaning. The loader, the `--help` text and
 * `docs/configuration.md` read this table.
 */
import { z } from 'zod'
import { configSchema, type SettingMeta, type SettingType } from './schema.js'

export type { SettingType } from './schema.js'

export interface Setting {
  /** Dotted YAML path, e.g. `ingest.maxObjectBytes`. */
  readonly path: string
  readonly type: SettingType
  /** Default value (undefined: unset unless given). */
  readonly default?: unknown
  /** Command-line flag, when the setting has one. */
  readonly flag?: string
  readonly doc: string
}

/** How a textual value of this schema is read: by the type under its default or optional. */
function typeOf(schema: z.ZodType): SettingType {
  let inner = schema
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional)
    inner = inner.def.innerType as z.ZodType
  if (inner instanceof z.ZodNumber) return 'int'
  if (inner instanceof z.ZodBoolean) return 'bool'
  if (inner instanceof z.ZodString || inner instanceof z.ZodEnum) return 'string'
  return 'json'
}

function collect(shape: Readonly<Record<string, z.ZodType>>, prefix: string, out: Setting[]): Setting[] {
  for (const [key, schema] of Object.entries(shape)) {
    const path = prefix ? `${prefix}.${key}` : key
    const meta = schema.meta() as Partial<SettingMeta> | undefined
    if (meta?.doc !== undefined) {
      out.push({
        path,
        type: meta.kind ?? typeOf(schema),
        ...(schema instanceof z.ZodDefault ? { default: schema.def.defaultValue } : {}),
        ...(meta.flag !== undefined ? { flag: meta.flag } : {}),
        doc: meta.doc,
      })
    } else if (schema instanceof z.ZodObject) {
      collect(schema.shape as Record<string, z.ZodType>, path, out)
    } else {
      throw new Error(`setting ${path} has no description in the configuration schema`)
    }
  }
  return out
}

export const settings: readonly Setting[] = collect(configSchema.shape, '', [])

/** `ingest.maxObjectBytes` → `LIVEORIGIN_INGEST_MAX_OBJECT_BYTES`. */
export function envName(path: string): string {
  return `LIVEORIGIN_${path
    .split('.')
    .map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase())
    .join('_')}`
}
