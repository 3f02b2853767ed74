/**
 * The validated shape of liveorigin's configuration. Defaults come from `settings.ts`;
 * this schema checks types and ranges after file, environment and flags are merged.
 */
import { z } from 'zod'

const port = z.number().int().min(0).max(65535)
const positiveInt = z.number().int().positive()
const nonNegativeInt = z.number().int().min(0)

const tokenEntry = z.union([
  z.string().min(8, 'a token must have at least 8 characters'),
  z.object({
    token: z.string().min(8, 'a token must have at least 8 characters'),
    channels: z.array(z.string()).optional(),
  }),
])

export const configSchema = z.object({
  host: z.string().min(1),
  roles: z.array(z.enum(['all', 'ingest', 'delivery', 'control'])).min(1),
  ingest: z.object({
    port,
    tokens: z.record(
      z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'pipeline ids are [A-Za-z0-9._-]{1,64}'),
      tokenEntry,
    ),
    insecureOpenIngest: z.boolean(),
    maxObjectBytes: positiveInt,
    strictChannels: z.boolean(),
    ingestIdleMs: positiveInt.optional(),
    maxUploadsPerPipeline: positiveInt,
    maxHeaderBytes: z.number().int().min(1024),
  }),
  delivery: z.object({
    port,
    workers: nonNegativeInt.max(64),
    niceness: nonNegativeInt.max(19),
    liveEdgeSegments: positiveInt,
    holdPollMs: positiveInt,
    maxHeldRequests: positiveInt,
  }),
  control: z.object({ port, token: z.string().min(8).optional() }),
  storage: z.object({
    driver: z.enum(['embedded', 'cassandra']),
    dataDir: z.string().min(1),
    chunkSize: z
      .number()
      .int()
      .min(4096)
      .max(16 * 1024 * 1024),
    sweepIntervalMs: positiveInt,
    inject: z
      .object({ latencyMs: nonNegativeInt.default(0), maxConcurrent: positiveInt.optional() })
      .strict()
      .optional(),
    cassandra: z.record(z.string(), z.unknown()).optional(),
  }),
  cache: z.object({
    memoryBytes: nonNegativeInt,
    memcached: z.record(z.string(), z.unknown()).optional(),
  }),
  overload: z.object({
    eventLoopDelayMs: positiveInt,
    storageLatencyMs: positiveInt,
    maxInFlight: positiveInt,
    liveEdgeFactor: positiveInt,
    maxDvrInFlight: positiveInt,
  }),
  channels: z.record(z.string(), z.unknown()),
  log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) }),
})

export type Config = z.infer<typeof configSchema>
export type TokenEntry = z.infer<typeof tokenEntry>
