// The rows of the bench, pluggable: a row is how to start its server and how to make its requests.
// Rows that name the same server run one after another in one process of it (calserve serves
// v1 and v2, JSON and binary, from one start). To add a row — gRPC, images — add a ServerSpec if it
// needs a new process, and a RowSpec (see bench/README.md, "Adding a row").
import os from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../test/support/ports.js'
import { startServer, type ServerChild } from './child.js'
import type { BenchModel } from './models.js'
import type { HttpRequest, WrkCell } from './wrk.js'

/** What a server's start gets from the run. */
export interface ServerContext {
  model: BenchModel
  /** A model repository holding only this model, with this configuration's model.json. */
  repository: () => Promise<string>
  /** Where this start's SQLite store file goes (fresh per start). */
  storeFile: string
  logDir: string
  cpus: string | null
  /** Environment for calserve: --log-level, then the variant's env. */
  env: Record<string, string>
  nodeArgs: string[]
  /** A label that makes log file names unique. */
  tag: string
  /** The checkout whose src/main.ts runs (a variant's `root`: another commit, for before/after rows). */
  root: string
  /** γ that setup() sets on calserve. */
  gamma: number
}

export interface ServerSpec {
  id: string
  start(ctx: ServerContext): Promise<ServerChild>
  /** Runs once after the start, before any row: e.g. set γ. Returns a note for the results, or null. */
  setup?(server: ServerChild, ctx: ServerContext): Promise<string | null>
  /** Whether a --variant (manifest and env override) can apply to it. */
  variants?: boolean
}

export interface RowSpec {
  /** Stable id in the results, e.g. calserve_v1_json. */
  id: string
  /** Its name in --rows, e.g. v1json. */
  flag: string
  label: string
  server: string
  /** 'baseline' rows are what calserve is compared with; 'product' rows are calserve's. */
  role: 'baseline' | 'product'
  /** The bodies cycled by the load generator (one sample each). */
  requests(m: BenchModel): HttpRequest[]
  /** Checks the probe's answer (a 200): null when it holds exactly one prediction, else why not. */
  check?(body: Buffer, headers: Headers): string | null
  /** Rows (by id, 'raw' for raw onnxruntime) whose throughput this row's is divided by. */
  compare?: string[]
  /** The models it applies to (all by default). */
  models?: Array<BenchModel['key']>
  /**
   * A load generator of its own, for a protocol wrk can't speak (gRPC): one measured window at
   * `connections`, on the client CPUs. Absent: wrk with requests().
   */
  drive?(server: ServerChild, m: BenchModel, cell: { connections: number; durationS: number; cpus: string | null }): Promise<WrkCell>
}

// ---------------------------------------------------------------------------------------------
// Bodies.

/** Raw little-endian float32 (this bench runs on little-endian machines only). */
export function f32(x: Float32Array): Buffer {
  if (os.endianness() !== 'LE') throw new Error('the binary bodies assume a little-endian machine')
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength)
}

/** The sample's values as JSON numbers: float32 values printed shortest (0.123, not 0.12300000339746475). */
function jsonValues(x: Float32Array): number[] {
  return Array.from(x, (v) => Number(v.toPrecision(7)))
}

const predictPath = (m: BenchModel) => `/v1/models/${encodeURIComponent(m.name)}/predict`
const inferPath = (m: BenchModel) => `/v2/models/${encodeURIComponent(m.name)}/infer`
const JSON_TYPE = { 'content-type': 'application/json' }

export function v1Json(m: BenchModel): HttpRequest[] {
  return m.samples.map((x) => ({ method: 'POST', path: predictPath(m), headers: JSON_TYPE, body: Buffer.from(JSON.stringify({ inputs: [jsonValues(x)] })) }))
}

function v1Binary(m: BenchModel): HttpRequest[] {
  return m.samples.map((x) => ({ method: 'POST', path: predictPath(m), headers: { 'content-type': 'application/octet-stream' }, body: f32(x) }))
}

/** The outputs v1 predict answers with. */
const V2_OUTPUTS = [{ name: 'label' }, { name: 'score' }, { name: 'class_index' }]

function v2Json(m: BenchModel): HttpRequest[] {
  return m.samples.map((x) => ({
    method: 'POST',
    path: inferPath(m),
    headers: JSON_TYPE,
    body: Buffer.from(
      JSON.stringify({ inputs: [{ name: m.input, shape: [1, ...m.sampleShape], datatype: 'FP32', data: jsonValues(x) }], outputs: V2_OUTPUTS }),
    ),
  }))
}

/** The JSON header, then the float32 bytes; outputs as binary data too. */
function v2Binary(m: BenchModel): HttpRequest[] {
  return m.samples.map((x) => {
    const bytes = f32(x)
    const header = Buffer.from(
      JSON.stringify({
        inputs: [{ name: m.input, shape: [1, ...m.sampleShape], datatype: 'FP32', parameters: { binary_data_size: bytes.byteLength } }],
        outputs: V2_OUTPUTS,
        parameters: { binary_data_output: true },
      }),
    )
    return {
      method: 'POST',
      path: inferPath(m),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.byteLength) },
      body: Buffer.concat([header, bytes]),
    }
  })
}

// ---------------------------------------------------------------------------------------------
// Checks.

function onePrediction(body: Buffer): string | null {
  const parsed = JSON.parse(body.toString('utf8')) as { predictions?: unknown[] }
  return parsed.predictions?.length === 1 ? null : `answered 200 without exactly one prediction: ${body.toString('utf8', 0, 300)}`
}

function oneV2Label(body: Buffer, headers: Headers): string | null {
  // A binary v2 answer starts with its JSON header; the rest is the binary outputs.
  const n = Number(headers.get('inference-header-content-length') ?? body.byteLength)
  const parsed = JSON.parse(body.toString('utf8', 0, n)) as { outputs?: Array<{ name: string; shape: number[] }> }
  return parsed.outputs?.find((o) => o.name === 'label')?.shape[0] === 1 ? null : `answered 200 without one label: ${body.toString('utf8', 0, 300)}`
}

// ---------------------------------------------------------------------------------------------
// Servers.

async function startScript(ctx: ServerContext, id: string, script: string, args: (port: number) => string[]): Promise<ServerChild> {
  const port = await freePort()
  return startServer({
    name: `${id}-${ctx.model.key}-${ctx.tag}`,
    script,
    args: args(port),
    readyPath: '/health',
    port,
    logDir: ctx.logDir,
    cpus: ctx.cpus,
    nodeArgs: ctx.nodeArgs,
  })
}

export const SERVERS: ServerSpec[] = [
  { id: 'bare', start: (ctx) => startScript(ctx, 'bare', 'bench/servers/bare.ts', (port) => ['--port', String(port)]) },
  {
    id: 'naive',
    start: (ctx) => startScript(ctx, 'naive', 'bench/servers/naive.ts', (port) => ['--port', String(port), '--model-dir', ctx.model.sourceDir]),
  },
  {
    id: 'calserve',
    variants: true,
    async start(ctx) {
      const port = await freePort()
      return startServer({
        name: `calserve-${ctx.model.key}-${ctx.tag}`,
        script: join(ctx.root, 'src/main.ts'),
        env: {
          CALSERVE_HOST: '127.0.0.1',
          CALSERVE_PORT: String(port),
          CALSERVE_MODEL_REPOSITORY: await ctx.repository(),
          CALSERVE_STORE_URL: `sqlite:${ctx.storeFile}`,
          ...ctx.env,
        },
        readyPath: '/health/ready',
        port,
        logDir: ctx.logDir,
        cpus: ctx.cpus,
        nodeArgs: ctx.nodeArgs,
      })
    },
    // γ ≠ 0 so that predict really adds a bias (version 0 is γ = 0). A failure is noted, not fatal.
    async setup(server, ctx) {
      const gamma = ctx.gamma
      try {
        const res = await fetch(`${server.baseUrl}/v1/models/${encodeURIComponent(ctx.model.name)}/calibration`, {
          method: 'PUT',
          headers: JSON_TYPE,
          body: JSON.stringify({ gamma, note: 'bench' }),
        })
        if (!res.ok) return `setting γ = ${gamma} answered HTTP ${res.status}: ${(await res.text()).slice(0, 200)}; calserve ran with γ = 0`
        return null
      } catch (err) {
        return `setting γ failed: ${(err as Error).message}`
      }
    },
  },
]

const VS = ['raw', 'json_parse', 'bare', 'naive']

export const ROWS: RowSpec[] = [
  {
    id: 'bare',
    flag: 'bare',
    label: 'bare Fastify (GET constant)',
    server: 'bare',
    role: 'baseline',
    requests: () => [{ method: 'GET', path: '/bare', headers: {} }],
  },
  {
    id: 'json_parse',
    flag: 'parse',
    label: 'Fastify JSON parse + constant',
    server: 'bare',
    role: 'baseline',
    requests: v1Json,
  },
  { id: 'naive', flag: 'naive', label: 'naive Fastify + session.run', server: 'naive', role: 'baseline', requests: v1Json, check: onePrediction },
  {
    id: 'calserve_v1_json',
    flag: 'v1json',
    label: 'calserve v1 JSON',
    server: 'calserve',
    role: 'product',
    requests: v1Json,
    check: onePrediction,
    compare: VS,
  },
  {
    id: 'calserve_v1_binary',
    flag: 'v1binary',
    label: 'calserve v1 binary',
    server: 'calserve',
    role: 'product',
    requests: v1Binary,
    check: onePrediction,
    compare: VS,
  },
  {
    id: 'calserve_v2_json',
    flag: 'v2json',
    label: 'calserve v2 JSON',
    server: 'calserve',
    role: 'product',
    requests: v2Json,
    check: oneV2Label,
    compare: [...VS, 'calserve_v1_json'],
  },
  {
    id: 'calserve_v2_binary',
    flag: 'v2binary',
    label: 'calserve v2 binary',
    server: 'calserve',
    role: 'product',
    requests: v2Binary,
    check: oneV2Label,
    compare: [...VS, 'calserve_v1_binary'],
  },
]

/** Older flag names still accepted by --rows. */
export const ROW_ALIASES: Record<string, string> = { json: 'v1json', binary: 'v1binary' }

/** A server configuration: the manifest and environment overrides of a --variant (none for the base). */
export interface Variant {
  name: string
  manifest?: Record<string, unknown>
  env?: Record<string, string>
  /** Another checkout of calserve to run (e.g. a worktree of the previous main), for before/after rows in one run. */
  root?: string
}

/** `name={"manifest": {...}, "env": {...}}` → a Variant. */
export function parseVariant(text: string): Variant {
  const eq = text.indexOf('=')
  if (eq <= 0) throw new Error(`--variant takes NAME=JSON, got ${text}`)
  const name = text.slice(0, eq)
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`--variant name must be letters, digits, _ or -: ${name}`)
  const v = JSON.parse(text.slice(eq + 1)) as { manifest?: Record<string, unknown>; env?: Record<string, string>; root?: string }
  for (const k of Object.keys(v))
    if (k !== 'manifest' && k !== 'env' && k !== 'root') throw new Error(`--variant ${name}: unknown key ${k} (manifest, env, root)`)
  return { name, manifest: v.manifest, env: v.env, root: v.root }
}

/** The row of `spec` under `variant`: id and label carry the variant's name; it also compares to the base row. */
export function variantRow(spec: RowSpec, variant: Variant | null): RowSpec {
  if (!variant) return spec
  return {
    ...spec,
    id: `${spec.id}@${variant.name}`,
    label: `${spec.label} [${variant.name}]`,
    server: `${spec.server}@${variant.name}`,
    compare: [...(spec.compare ?? []), spec.id],
  }
}
