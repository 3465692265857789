// Configuration comes only from CALSERVE_* environment variables, parsed once at boot. The
// defaults serve the bundled demo models on loopback with the embedded SQLite store.
import { z } from 'zod'

const providers = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((p) => p.trim().toLowerCase())
      .filter(Boolean),
  )
  .pipe(z.array(z.enum(['cuda', 'cpu'])).min(1))

/** "name:token,name2:token2" → [{name, token}]; a name says who made a change in the history. */
const tokenList = z
  .string()
  .default('')
  .transform((s, ctx) => {
    const out: Array<{ name: string; token: string }> = []
    for (const item of s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)) {
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
  CALSERVE_GRPC_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(8081)
    .describe("the Open Inference Protocol over gRPC (8081 is KServe's gRPC port); 0 turns it off"),
  CALSERVE_GRPC_MAX_MESSAGE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .optional()
    .describe('largest gRPC message received; unset = CALSERVE_PREDICT_BODY_LIMIT_BYTES'),
  CALSERVE_MODEL_REPOSITORY: z.string().min(1).default('./models'),
  CALSERVE_MODEL_NAME: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only')
    .optional()
    .describe("the model's name when the repository folder is itself one model (holds model.json), as KServe mounts it; default: that folder's name"),
  CALSERVE_STORE_URL: z
    .string()
    .regex(/^(sqlite:|postgres(ql)?:\/\/)/, 'must start with sqlite: or postgres://')
    .default('sqlite:./data/calserve.db'),
  CALSERVE_EXECUTION_PROVIDERS: providers.default(['cpu']),
  CALSERVE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CALSERVE_ACCESS_LOG: z
    .enum(['off', 'errors', 'all'])
    .default('errors')
    .describe('one log line per request: for every request, for answers of 400 and above, or none'),
  CALSERVE_RECONCILE_MS: z.coerce.number().int().min(100).default(5000),
  CALSERVE_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024 * 1024),
  CALSERVE_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  CALSERVE_SHUTDOWN_DELAY_MS: z.coerce
    .number()
    .int()
    .min(0)
    // 5 s: how long nginx (its health checks), kube-proxy and ingress controllers take to stop
    // sending to an endpoint that turned not-ready or is terminating; the Kubernetes manifests use
    // a preStop sleep for it instead and set 0.
    .default(5000)
    .describe('after SIGTERM, how long /health/ready answers 503 before the listener closes'),
  CALSERVE_FIT_SYNC_MAX_SAMPLES: z.coerce.number().int().min(0).default(20_000).describe('fits of more samples than this (or with async: true) run as jobs'),
  CALSERVE_FIT_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024 * 1024),
  CALSERVE_FIT_JSON_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(256 * 1024 * 1024)
    // 4 MiB: JSON.parse and the decoder hold the event loop in proportion to the body, 34–146 ms
    // at this size on a shared 2-core machine, 1.5–2 s at 64 MiB (bench/json-worst-case.ts, SECURITY.md);
    // larger sets are streamed (ndjson, float32, tar).
    .default(4 * 1024 * 1024)
    .describe('JSON fit bodies are parsed whole on the event loop; larger sets go as ndjson, float32 or images, read as they arrive'),
  CALSERVE_FIT_MAX_LINE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(256 * 1024 * 1024)
    .default(16 * 1024 * 1024)
    .describe('the longest ndjson line of a fit set'),
  CALSERVE_MAX_QUEUED_JOBS: z.coerce.number().int().min(1).default(8).describe('fit jobs queued or running on one replica; one more is refused with 503'),
  CALSERVE_JOB_LEASE_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(30_000)
    .describe('a queued or running job not written for this long lost its replica and is failed'),
  CALSERVE_JOB_RETENTION_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(7 * 24 * 3600 * 1000)
    .describe('finished jobs are deleted this long after they ended'),
  CALSERVE_PREDICT_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(16 * 1024 * 1024)
    .describe('binary predict and infer bodies: float32, v2 binary tensor data, images, each multipart part'),
  CALSERVE_PREDICT_JSON_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    // 4 MiB: the largest JSON predict it lets through holds the event loop for tens of
    // milliseconds (34–135 ms on a shared 2-core machine), not the quarter to three quarters of a
    // second of 16 MiB (bench/json-worst-case.ts, SECURITY.md).
    .default(4 * 1024 * 1024)
    .describe(
      'JSON bodies of v1 predict and v2 infer (the JSON part of a v2 binary request), parsed on the event loop; larger batches go as float32 or v2 binary tensors',
    ),
  CALSERVE_MAX_JSON_NUMBERS: z.coerce
    .number()
    .int()
    .min(1)
    // 4,096 × 64: the digits demo's largest batch still fits in JSON
    .default(262_144)
    .describe('numbers in the samples of one JSON predict or v2 infer request, counted before JSON.parse'),
  CALSERVE_MAX_PREDICT_SAMPLES: z.coerce.number().int().min(1).default(4096),
  CALSERVE_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(0).default(300_000),
  CALSERVE_ADMIN_TOKENS: tokenList.describe('tokens that may change calibrations; none = writes only from loopback'),
  CALSERVE_API_TOKENS: tokenList.describe('tokens for reads and predict; none = reads are open'),
  CALSERVE_ALLOW_INSECURE: z
    .enum(['0', '1', 'true', 'false', ''])
    .default('0')
    .transform((v) => v === '1' || v === 'true'),
  CALSERVE_RATE_LIMIT_PER_MINUTE: z.coerce
    .number()
    .int()
    .min(0)
    .default(0)
    .describe('requests per minute per token (or per address without one); 0 = no limit'),
  CALSERVE_MAX_EVENT_LOOP_DELAY_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(1000)
    .describe('load shedding: answer 503 while the event loop lags more than this (0 = off)'),
  CALSERVE_MAX_HEAP_USED_BYTES: z.coerce.number().int().min(0).default(0),
  CALSERVE_MAX_IMAGE_PIXELS: z.coerce.number().int().min(1).default(40_000_000),
})

/** CALSERVE_FIT_BODY_LIMIT_BYTES → fitBodyLimitBytes: the one naming rule from variable to field. */
type Camel<S extends string> = S extends `CALSERVE_${infer Rest}` ? CamelParts<Lowercase<Rest>> : never
type CamelParts<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<CamelParts<Tail>>}` : S
const camel = (name: string) =>
  name
    .slice('CALSERVE_'.length)
    .toLowerCase()
    .replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())

type Env = z.output<typeof ConfigSchema>
type Fields = { [K in keyof Env as Camel<K & string>]: Env[K] }
/** The parsed configuration: one field per CALSERVE_* variable, named by `Camel` (see the schema for each one's meaning); a default that depends on another variable is filled in. */
export type Config = Omit<Fields, 'grpcMaxMessageBytes'> & { grpcMaxMessageBytes: number }

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host)
}

export class ConfigError extends Error {}

/** Every environment variable the configuration reads (the deploy manifests are checked against it). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(ConfigSchema.shape)

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
  const fields = Object.fromEntries(Object.entries(e).map(([k, v]) => [camel(k), v])) as Fields
  return { ...fields, grpcMaxMessageBytes: fields.grpcMaxMessageBytes ?? fields.predictBodyLimitBytes }
}
