// Configuration comes only from CALSERVE_* environment variables, parsed once at boot. The
// defaults serve the bundled demo models on loopback with the embedded SQLite store.
import { z } from 'zod'

const providers = z
  .string()
  .transform((s) => s.split(',').map((p) => p.trim().toLowerCase()).filter(Boolean))
  .pipe(z.array(z.enum(['cuda', 'cpu'])).min(1))

const ConfigSchema = z.object({
  CALSERVE_HOST: z.string().min(1).default('127.0.0.1'),
  CALSERVE_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  CALSERVE_MODEL_REPOSITORY: z.string().min(1).default('./models'),
  CALSERVE_STORE_URL: z
    .string()
    .regex(/^(sqlite:|postgres(ql)?:\/\/)/, 'must start with sqlite: or postgres://')
    .default('sqlite:./data/calserve.db'),
  CALSERVE_EXECUTION_PROVIDERS: providers.default(['cpu']),
  CALSERVE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CALSERVE_RECONCILE_MS: z.coerce.number().int().min(100).default(5000),
  CALSERVE_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(64 * 1024 * 1024),
  CALSERVE_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  CALSERVE_FIT_SYNC_MAX_SAMPLES: z.coerce.number().int().min(0).default(20_000),
  CALSERVE_FIT_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024 * 1024),
})

export interface Config {
  host: string
  port: number
  modelRepository: string
  storeUrl: string
  executionProviders: Array<'cuda' | 'cpu'>
  logLevel: z.infer<typeof ConfigSchema>['CALSERVE_LOG_LEVEL']
  reconcileMs: number
  bodyLimitBytes: number
  shutdownGraceMs: number
  /** Fits of more samples than this (or with async: true) run as jobs. */
  fitSyncMaxSamples: number
  fitBodyLimitBytes: number
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ConfigSchema.safeParse(env)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`)
  }
  const e = parsed.data
  return {
    host: e.CALSERVE_HOST,
    port: e.CALSERVE_PORT,
    modelRepository: e.CALSERVE_MODEL_REPOSITORY,
    storeUrl: e.CALSERVE_STORE_URL,
    executionProviders: e.CALSERVE_EXECUTION_PROVIDERS,
    logLevel: e.CALSERVE_LOG_LEVEL,
    reconcileMs: e.CALSERVE_RECONCILE_MS,
    bodyLimitBytes: e.CALSERVE_BODY_LIMIT_BYTES,
    shutdownGraceMs: e.CALSERVE_SHUTDOWN_GRACE_MS,
    fitSyncMaxSamples: e.CALSERVE_FIT_SYNC_MAX_SAMPLES,
    fitBodyLimitBytes: e.CALSERVE_FIT_BODY_LIMIT_BYTES,
  }
}
