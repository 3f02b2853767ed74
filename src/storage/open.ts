/**
 * The storage drivers and the shared cache tier the configuration can name, in one table.
 * Each driver declares the settings it reads (zod schemas, added to the `storage` section of
 * the configuration schema, so a bad option is refused at load with its name) and how it
 * opens from them. Adding a driver: its module, and one line in `storageDrivers`.
 */
import { z } from 'zod'
import { type MemcachedErrorEvent, memcachedSettings } from '../cache/memcached-options.js'
import type { CacheStore } from '../cache/types.js'
import { cassandraSettings } from './cassandra-options.js'
import { createEmbeddedDriver } from './embedded.js'
import type { StorageDriver } from './types.js'

export interface StorageDriverEntry<S extends z.ZodRawShape> {
  /** What the driver stores on, for the description of `storage.driver`. */
  readonly summary: string
  /** Settings the driver reads, keys of the `storage` section (each with a `doc` meta). */
  readonly settings: S
  /** Of those, the ones that must be given when this driver is chosen. */
  readonly required?: readonly (keyof S & string)[]
  open(settings: z.output<z.ZodObject<S>>): Promise<StorageDriver>
}

function storageDriver<S extends z.ZodRawShape>(entry: StorageDriverEntry<S>): StorageDriverEntry<S> {
  return entry
}

export const storageDrivers = {
  embedded: storageDriver({
    summary: 'local disk',
    settings: {
      dataDir: z
        .string()
        .min(1)
        .default('./data')
        .meta({ flag: '--data-dir', doc: 'Embedded store directory.' }),
    },
    open: async (s) => createEmbeddedDriver({ dataDir: s.dataDir }),
  }),
  cassandra: storageDriver({
    summary: 'Apache Cassandra',
    settings: {
      cassandra: cassandraSettings.optional().meta({
        doc: 'Cassandra driver options: contact points, datacenter, keyspace, timeouts and hedging per kind of statement (profiles), connections per host, chunk read consistency (see docs/running-at-scale.md).',
      }),
    },
    required: ['cassandra'],
    open: async (s) => {
      if (s.cassandra === undefined)
        throw new TypeError('storage.cassandra: required by the cassandra driver')
      const { createCassandraDriver } = await import('./cassandra.js')
      return createCassandraDriver(s.cassandra)
    },
  }),
}

type Drivers = typeof storageDrivers
export type StorageDriverName = keyof Drivers
type Shapes = Drivers[StorageDriverName]['settings']
type Intersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never

export const storageDriverNames = Object.keys(storageDrivers) as [StorageDriverName, ...StorageDriverName[]]

/** The settings of every driver, in one shape for the `storage` section. */
export const storageDriverSettings: Intersection<Shapes> = Object.assign(
  {},
  ...Object.values(storageDrivers).map((d) => d.settings),
)

/** The settings the chosen driver requires and that are not given. */
export function missingDriverSettings(storage: { driver: StorageDriverName }): string[] {
  const required: readonly string[] = storageDrivers[storage.driver].required ?? []
  return required.filter((key) => (storage as Record<string, unknown>)[key] === undefined)
}

/** The storage section of the configuration, as far as opening a driver goes. */
export type StorageSettings = { driver: StorageDriverName } & z.output<z.ZodObject<Intersection<Shapes>>>

/** Opens the driver `storage.driver` names, from its settings. */
export function openStorage(storage: StorageSettings): Promise<StorageDriver> {
  return storageDrivers[storage.driver].open(storage)
}

/** The shared cache tier (`cache.memcached`): its settings, for the `cache` section. */
export const cacheTierSettings = {
  memcached: memcachedSettings
    .optional()
    .meta({ doc: 'memcached cache tier (see docs/running-at-scale.md).' }),
}

/** Opens the shared cache tier, when one is configured. */
export async function openSharedCache(
  cache: {
    memcached?: z.output<typeof memcachedSettings> | undefined
  },
  onError?: (event: MemcachedErrorEvent) => void,
): Promise<CacheStore | undefined> {
  if (cache.memcached === undefined) return undefined
  const { createMemcachedCache } = await import('../cache/memcached.js')
  return createMemcachedCache(onError ? { ...cache.memcached, onError } : cache.memcached)
}
