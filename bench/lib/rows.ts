// The rows of the bench, pluggable: a row is how to start its server and how to make its requests.
// Rows that name the same server run one after another in one process of it (calserve serves
// v1 and v2, JSON and binary, from one start). To add a row — gRPC, images — add a ServerSpec if it
// needs a new process, and a RowSpec (see bench/README.md, "Adding a row").
import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { credentials, loadPackageDefinition, type Client, type ServiceError } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { freePort } from '../../test/support/ports.js'
import { startCalserve, startServer, type ServerChild } from './child.js'
import { pinned } from './cpu.js'
import type { GrpcLoadInput, GrpcLoadResult } from './grpc-load.js'
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
  /** Run the checkout's dist/main.js, built by the bench (a variant's `compiled`). */
  compiled: boolean
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
  /** The bodies cycled by the load generator (one sample each unless samplesPerRequest says more). */
  requests(m: BenchModel): HttpRequest[]
  /** Samples (or images) each request carries: 1 by default. Ratios compare samples per second. */
  samplesPerRequest?: number
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
  /** With drive: the one request before the load (null when it answered as it should, else why not); absent: requests()[0] through fetch. */
  probe?(server: ServerChild, m: BenchModel): Promise<string | null>
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

/** Requests of `per` samples each: request k carries samples k, k+1, …, k+per−1 (cyclically), so every sample travels equally often. */
function groups<T>(items: T[], per: number): T[][] {
  return items.map((_, k) => Array.from({ length: per }, (_, j) => items[(k + j) % items.length]!))
}

function v1Binary16(m: BenchModel): HttpRequest[] {
  return groups(m.samples, 16).map((xs) => ({
    method: 'POST',
    path: predictPath(m),
    headers: { 'content-type': 'application/octet-stream' },
    body: Buffer.concat(xs.map(f32)),
  }))
}

const imagesOf = (m: BenchModel): Buffer[] => {
  if (!m.images) throw new Error(`model ${m.key} has no images`)
  return m.images
}

/** One PNG as the whole body, options (none here) in the query string. */
function imagePng(m: BenchModel): HttpRequest[] {
  return imagesOf(m).map((png) => ({ method: 'POST', path: predictPath(m), headers: { 'content-type': 'image/png' }, body: png }))
}

const BOUNDARY = 'calserve-bench-4f1c2a'

/** multipart/form-data with 16 PNG file parts, as a browser form or curl -F sends them. */
function imageMultipart16(m: BenchModel): HttpRequest[] {
  return groups(imagesOf(m), 16).map((pngs) => ({
    method: 'POST',
    path: predictPath(m),
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    body: Buffer.concat([
      ...pngs.flatMap((png, j) => [
        Buffer.from(`--${BOUNDARY}\r\ncontent-disposition: form-data; name="image"; filename="${j}.png"\r\ncontent-type: image/png\r\n\r\n`),
        png,
        Buffer.from('\r\n'),
      ]),
      Buffer.from(`--${BOUNDARY}--\r\n`),
    ]),
  }))
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

function predictions(n: number) {
  return (body: Buffer): string | null => {
    const parsed = JSON.parse(body.toString('utf8')) as { predictions?: unknown[] }
    return parsed.predictions?.length === n ? null : `answered 200 without exactly ${n} prediction(s): ${body.toString('utf8', 0, 300)}`
  }
}
const onePrediction = predictions(1)

function oneV2Label(body: Buffer, headers: Headers): string | null {
  // A binary v2 answer starts with its JSON header; the rest is the binary outputs.
  const n = Number(headers.get('inference-header-content-length') ?? body.byteLength)
  const parsed = JSON.parse(body.toString('utf8', 0, n)) as { outputs?: Array<{ name: string; shape: number[] }> }
  return parsed.outputs?.find((o) => o.name === 'label')?.shape[0] === 1 ? null : `answered 200 without one label: ${body.toString('utf8', 0, 300)}`
}

// ---------------------------------------------------------------------------------------------
// gRPC: ModelInfer with raw_input_contents, driven by bench/lib/grpc-load.ts on the client core.

const PROTO = 'proto/grpc_predict_v2.proto'
const GRPC_OUTPUTS = V2_OUTPUTS.map((o) => o.name)

/** The samples of `m` as one little-endian float32 file for the load process (written once per model). */
async function samplesFile(m: BenchModel): Promise<string> {
  const dir = join('bench/tmp', 'grpc')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `${m.key}.f32`)
  await writeFile(file, Buffer.concat(m.samples.map(f32)))
  return file
}

const grpcAddress = (server: ServerChild) => {
  if (server.grpcPort === undefined) throw new Error(`${server.name} has no gRPC port`)
  return `127.0.0.1:${server.grpcPort}`
}

/** One ModelInfer from the bench process: it must answer OK with one label. */
async function grpcProbe(server: ServerChild, m: BenchModel): Promise<string | null> {
  const pkg = loadPackageDefinition(loadSync(PROTO, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true })) as unknown as {
    inference: { GRPCInferenceService: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => Client }
  }
  const client = new pkg.inference.GRPCInferenceService(grpcAddress(server), credentials.createInsecure())
  const request = {
    model_name: m.name,
    inputs: [{ name: m.input, datatype: 'FP32', shape: [1, ...m.sampleShape] }],
    outputs: GRPC_OUTPUTS.map((name) => ({ name })),
    raw_input_contents: [f32(m.samples[0]!)],
  }
  type Infer = (r: unknown, o: { deadline: number }, cb: (err: ServiceError | null, res: { outputs: Array<{ name: string; shape: number[] }> }) => void) => void
  try {
    const res = await new Promise<{ outputs: Array<{ name: string; shape: number[] }> }>((resolve, reject) =>
      (client as unknown as { ModelInfer: Infer }).ModelInfer(request, { deadline: Date.now() + 30_000 }, (err, r) => (err ? reject(err) : resolve(r))),
    )
    return res.outputs.find((o) => o.name === 'label')?.shape[0] === 1 ? null : `ModelInfer answered without one label: ${JSON.stringify(res.outputs)}`
  } catch (err) {
    return `ModelInfer failed: ${(err as Error).message}`
  } finally {
    client.close()
  }
}

/** One measured window of the gRPC load process, as the cell wrk would have given. */
async function grpcDrive(server: ServerChild, m: BenchModel, cell: { connections: number; durationS: number; cpus: string | null }): Promise<WrkCell> {
  const input: GrpcLoadInput = {
    address: grpcAddress(server),
    model: m.name,
    input: m.input,
    sampleShape: m.sampleShape,
    samplesFile: await samplesFile(m),
    outputs: GRPC_OUTPUTS,
    connections: cell.connections,
    durationS: cell.durationS,
  }
  const [cmd, args] = pinned(cell.cpus, process.execPath, ['--import', 'tsx', 'bench/lib/grpc-load.ts', JSON.stringify(input)])
  const { stdout } = await promisify(execFile)(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 20 })
  const line = stdout.split('\n').find((l) => l.startsWith('GRPCJSON '))
  if (!line) throw new Error(`the gRPC load process printed no summary: ${stdout.slice(-300)}`)
  const r = JSON.parse(line.slice(9)) as GrpcLoadResult
  const failed = Object.values(r.failed).reduce((a, b) => a + b, 0)
  return {
    connections: cell.connections,
    duration_s: r.duration_s,
    rps: Math.round((r.ok / r.duration_s) * 10) / 10,
    ok: r.ok,
    p50_ms: r.p50_ms,
    p90_ms: r.p90_ms,
    p99_ms: r.p99_ms,
    max_ms: r.max_ms,
    mean_ms: r.mean_ms,
    // A gRPC status other than OK counts where an HTTP status ≥ 400 would.
    errors: failed,
    non2xx: failed,
    timeouts: r.failed['DEADLINE_EXCEEDED'] ?? 0,
    socket_errors: { connect: 0, read: 0, write: 0 },
    client_cpu: r.client_cpu,
  }
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
      return startCalserve({
        name: `calserve-${ctx.model.key}-${ctx.tag}`,
        root: ctx.root,
        compiled: ctx.compiled,
        grpc: true,
        env: {
          CALSERVE_MODEL_REPOSITORY: await ctx.repository(),
          CALSERVE_STORE_URL: `sqlite:${ctx.storeFile}`,
          ...ctx.env,
        },
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
  {
    id: 'calserve_grpc',
    flag: 'grpc',
    label: 'calserve gRPC raw contents',
    server: 'calserve',
    role: 'product',
    // Only the bench's gRPC load process sends these (probe and drive); wrk never sees them.
    requests: () => [],
    probe: grpcProbe,
    drive: grpcDrive,
    compare: [...VS, 'calserve_v2_binary', 'calserve_v1_binary'],
    models: ['cnn', 'large'],
  },
  {
    id: 'calserve_v1_binary16',
    flag: 'v1binary16',
    label: 'calserve v1 binary, 16 per request',
    server: 'calserve',
    role: 'product',
    requests: v1Binary16,
    samplesPerRequest: 16,
    check: predictions(16),
    compare: ['raw', 'calserve_v1_binary'],
    models: ['small', 'cnn', 'image'],
  },
  {
    id: 'calserve_image',
    flag: 'image',
    label: 'calserve v1 PNG, 1 per request',
    server: 'calserve',
    role: 'product',
    requests: imagePng,
    check: onePrediction,
    compare: ['raw', 'bare', 'calserve_v1_binary'],
    models: ['image'],
  },
  {
    id: 'calserve_image16',
    flag: 'image16',
    label: 'calserve v1 PNG, 16 per multipart',
    server: 'calserve',
    role: 'product',
    requests: imageMultipart16,
    samplesPerRequest: 16,
    check: predictions(16),
    compare: ['raw', 'calserve_v1_binary16', 'calserve_image'],
    models: ['image'],
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
  /** Run the compiled JavaScript (`npm run build`, then dist/main.js, as the container image does) instead of tsx. */
  compiled?: boolean
}

/** `name={"manifest": {...}, "env": {...}}` → a Variant. */
export function parseVariant(text: string): Variant {
  const eq = text.indexOf('=')
  if (eq <= 0) throw new Error(`--variant takes NAME=JSON, got ${text}`)
  const name = text.slice(0, eq)
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`--variant name must be letters, digits, _ or -: ${name}`)
  const v = JSON.parse(text.slice(eq + 1)) as Omit<Variant, 'name'>
  const keys = ['manifest', 'env', 'root', 'compiled']
  for (const k of Object.keys(v)) if (!keys.includes(k)) throw new Error(`--variant ${name}: unknown key ${k} (${keys.join(', ')})`)
  return { name, manifest: v.manifest, env: v.env, root: v.root, compiled: v.compiled === true }
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
