// Configuration comes only from CALSERVE_* environment variables, parsed once at boot. The
// defaults serve the bundled demo models on loopback with the embedded SQLite store.
import { z } from 'zod'

const providers = z
  .string()
  .transform((s) => s.split(',').map((p) => p.trim().toLowerCase()).filter(Boolean))
  .pipe(z.array(z.enum(['cuda', 'cpu'])).min(1))

/** "name:token,name2:token2" → [{name, token}]; a name says who made a change in the history. */
const tokenList = z
  .string()
  .default('')
  .transform((s, ctx) => {
    const out: Array<{ name: string; token: string }> = []
    for (const item of s.split(',').map((x) => x.trim()).filter(Boolean)) {
      const at = item.indexOf(':')
      const name = item.slice(0, at)
      const token = item.slice(at + 1)
      if (at <= 0 || token.length < 8 || !/^[A-Za-z0-9._@-]+$/.test(name)) {
        ctx.addIssue({ code: 'custom', message: `each entry must be name:token, a token of at least 8 characters (entry ${out.length + 1})` })
        return z.NEVER
      }
      out.push({ name, token })
    }
    return out
  })

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
  CALSERVE_SHUTDOWN_DELAY_MS: z.coerce.number().int().min(0).default(0),
  CALSERVE_FIT_SYNC_MAX_SAMPLES: z.coerce.number().int().min(0).default(20_000),
  CALSERVE_FIT_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024 * 1024),
  CALSERVE_PREDICT_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(16 * 1024 * 1024),
  CALSERVE_MAX_PREDICT_SAMPLES: z.coerce.number().int().min(1).default(4096),
  CALSERVE_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(0).default(300_000),
  CALSERVE_ADMIN_TOKENS: tokenList,
  CALSERVE_API_TOKENS: tokenList,
  CALSERVE_ALLOW_INSECURE: z.enum(['0', '1', 'true', 'false', '']).default('0').transform((v) => v === '1' || v === 'true'),
  CALSERVE_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(0),
  CALSERVE_MAX_EVENT_LOOP_DELAY_MS: z.coerce.number().int().min(0).default(1000),
  CALSERVE_MAX_HEAP_USED_BYTES: z.coerce.number().int().min(0).default(0),
  CALSERVE_MAX_IMAGE_PIXELS: z.coerce.number().int().min(1).default(40_000_000),
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
  /** After SIGTERM, how long /health/ready answers 503 before the listener closes. */
  shutdownDelayMs: number
  /** Fits of more samples than this (or with async: true) run as jobs. */
  fitSyncMaxSamples: number
  fitBodyLimitBytes: number
  predictBodyLimitBytes: number
  maxPredictSamples: number
  requestTimeoutMs: number
  /** Tokens that may change calibrations; none configured = writes only from loopback. */
  adminTokens: Array<{ name: string; token: string }>
  /** Tokens for reads and predict; none configured = reads are open. */
  apiTokens: Array<{ name: string; token: string }>
  allowInsecure: boolean
  /** Requests per minute per token (or per address without one); 0 = no limit. */
  rateLimitPerMinute: number
  /** Load shedding: answer 503 while the event loop lags more than this (0 = off). */
  maxEventLoopDelayMs: number
  maxHeapUsedBytes: number
  /** Largest width × height of an image decoded; larger ones are refused from their header, before decoding. */
  maxImagePixels: number
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host)
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ConfigSchema.safeParse(env)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`)
  }
  const e = parsed.data
  if (e.CALSERVE_ADMIN_TOKENS.length === 0 && !isLoopback(e.CALSERVE_HOST) && !e.CALSERVE_ALLOW_INSECURE)
    throw new ConfigError(
      `refusing to listen on ${e.CALSERVE_HOST} with no CALSERVE_ADMIN_TOKENS: anyone who can reach it could change calibrations. ` +
        'Set CALSERVE_ADMIN_TOKENS=name:token (and CALSERVE_API_TOKENS for reads), or CALSERVE_ALLOW_INSECURE=1 to accept the risk.',
    )
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
    shutdownDelayMs: e.CALSERVE_SHUTDOWN_DELAY_MS,
    fitSyncMaxSamples: e.CALSERVE_FIT_SYNC_MAX_SAMPLES,
    fitBodyLimitBytes: e.CALSERVE_FIT_BODY_LIMIT_BYTES,
    predictBodyLimitBytes: e.CALSERVE_PREDICT_BODY_LIMIT_BYTES,
    maxPredictSamples: e.CALSERVE_MAX_PREDICT_SAMPLES,
    requestTimeoutMs: e.CALSERVE_REQUEST_TIMEOUT_MS,
    adminTokens: e.CALSERVE_ADMIN_TOKENS,
    apiTokens: e.CALSERVE_API_TOKENS,
    allowInsecure: e.CALSERVE_ALLOW_INSECURE,
    rateLimitPerMinute: e.CALSERVE_RATE_LIMIT_PER_MINUTE,
    maxEventLoopDelayMs: e.CALSERVE_MAX_EVENT_LOOP_DELAY_MS,
    maxHeapUsedBytes: e.CALSERVE_MAX_HEAP_USED_BYTES,
    maxImagePixels: e.CALSERVE_MAX_IMAGE_PIXELS,
  }
}
