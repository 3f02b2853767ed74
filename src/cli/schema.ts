/**
 * `liveorigin schema print|apply [--config file.yaml]`: the Cassandra schema of the storage
 * the configuration names (docs/running-at-scale.md#schema). `print` writes the CQL on
 * stdout; `apply` creates the keyspace and tables that are missing and ALTERs table options
 * that differ from the declared ones, one progress line per step on stderr. Run once per
 * cluster (and after an upgrade that changes the declared options), before the nodes.
 */
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from '../config/load.js'

export const SCHEMA_HELP = `Usage:
  liveorigin schema print [--config file.yaml]   write the CQL of the keyspace and tables
  liveorigin schema apply [--config file.yaml]   create what is missing, put back table options that differ

The storage settings come from the file (or LIVEORIGIN_CONFIG) and the environment, as for
serve; storage.driver must be cassandra. apply is idempotent: a second run changes nothing.
`

/** Runs `liveorigin schema` with `argv` (the arguments after `schema`). */
export async function runSchema(argv: string[]): Promise<void> {
  let parsed: { values: { config?: string | undefined; help?: boolean | undefined }; positionals: string[] }
  try {
    parsed = parseArgs({
      args: argv,
      options: { config: { type: 'string' }, help: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    })
  } catch (err) {
    throw new ConfigError((err as Error).message.split('\n')[0]!)
  }
  const [action, ...extra] = parsed.positionals
  if (parsed.values.help || action === undefined) {
    process.stdout.write(SCHEMA_HELP)
    return
  }
  if ((action !== 'print' && action !== 'apply') || extra.length > 0) {
    throw new ConfigError(`schema: expected print or apply, got "${[action, ...extra].join(' ')}"`)
  }
  const config = loadConfig({ file: parsed.values.config ?? process.env.LIVEORIGIN_CONFIG, env: process.env })
  const cassandraOptions = config.storage.cassandra
  if (config.storage.driver !== 'cassandra' || cassandraOptions === undefined) {
    throw new ConfigError(
      `schema: storage.driver is ${config.storage.driver}; the schema command is for storage.driver: cassandra with storage.cassandra set`,
    )
  }
  const { applySchema, schemaStatements } = await import('../storage/cassandra.js')
  if (action === 'print') {
    process.stdout.write(`${schemaStatements(cassandraOptions).join(';\n\n')};\n`)
    return
  }
  const steps = await applySchema(cassandraOptions, (step) => {
    process.stderr.write(
      `schema: ${step.action} ${step.object === 'keyspace' ? 'keyspace ' : ''}${step.detail}\n`,
    )
  })
  const changed = steps.filter((s) => s.action === 'created' || s.action === 'altered').length
  process.stderr.write(`schema: ${changed === 0 ? 'nothing to change' : `${changed} statement(s) run`}\n`)
}
