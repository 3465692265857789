// The calserve benchmark: `npm run bench` (full run, ~6 min on 2 cores) or `npm run bench -- --quick`.
// See bench/README.md for what each row means and how to read the targets.
//
// For (a) the small demo model (HTTP-bound) and (b) a ResNet-18-shaped model made locally
// (compute-bound), side by side: raw onnxruntime in-process at its best batch size, a bare Fastify
// route, a naive Fastify + onnxruntime server, and calserve (JSON and binary predict), each server a
// child process, driven by autocannon at 1, 16 and 64 connections. Then the calibration step's share
// of a predict, and calserve's RSS over a long run. Results go to bench/results/.
import { execFileSync } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { mulberry32 } from '../test/support/random.js'
import { DEFAULT_MAKE_MODEL, makeModel, verifyModel } from './make-model.js'
import { freePort } from '../test/support/ports.js'
import { rssOf, startServer, type ServerChild } from './lib/child.js'
import { rawOnnxruntime, timeCalibration } from './lib/inproc.js'
import { measure, round } from './lib/load.js'
import { describeErrors, renderAll, renderSummary } from './lib/report.js'
import type { BenchResults, CalibrationShare, Machine, ModelKey, ModelResult, Ratio, Row, RowId, RssResult, Target } from './lib/types.js'
import type autocannon from 'autocannon'

const HELP = `usage: npm run bench -- [flags]

  --quick                 smoke run: ~1-2 s per cell, RSS phase 5 s, results to bench/tmp/results
  --models small,large    which models (default both)
  --rows bare,naive,json,binary,v2json,v2binary   which server rows (raw always runs)
  --connections 1,16,64   autocannon concurrency levels
  --duration-small S      measured seconds per cell, small model (default 5; quick 1)
  --duration-large S      measured seconds per cell, compute-bound model (default 10; quick 2)
  --warmup S              warm-up seconds before each cell (default 2; quick 0.5)
  --rss-duration S        seconds of the RSS phase at 64 connections (default 60; quick 5; 0 skips)
  --size N                ResNet input height and width (default 112; ImageNet is 224)
  --raw-budget-ms MS      time per batch size for raw onnxruntime (default 2000; quick 300)
  --gamma G               γ set on calserve before measuring, so calibration really runs (default 1.5)
  --manifest-extra JSON   keys merged into the ResNet model.json, e.g. '{"batching":{"max_batch_size":32}}'
  --out DIR               results folder (default bench/results; quick: bench/tmp/results)
  --no-readme             don't rewrite the summary in bench/README.md (full runs into bench/results only)
`

const { values: flagValues } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    models: { type: 'string', default: 'small,large' },
    rows: { type: 'string', default: 'bare,naive,json,binary,v2json,v2binary' },
    connections: { type: 'string', default: '1,16,64' },
    'duration-small': { type: 'string' },
    'duration-large': { type: 'string' },
    warmup: { type: 'string' },
    'rss-duration': { type: 'string' },
    size: { type: 'string', default: String(DEFAULT_MAKE_MODEL.size) },
    'raw-budget-ms': { type: 'string' },
    gamma: { type: 'string', default: '1.5' },
    'manifest-extra': { type: 'string' },
    out: { type: 'string' },
    'no-readme': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
})
if (flagValues.help) {
  process.stdout.write(HELP)
  process.exit(0)
}

const quick = flagValues.quick
const numFlag = (name: keyof typeof flagValues, full: number, q: number): number => {
  const v = flagValues[name]
  const n = typeof v === 'string' ? Number(v) : quick ? q : full
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${String(v)}`)
  return n
}
const cfg = {
  quick,
  models: flagValues.models.split(',').map((s) => s.trim()).filter(Boolean) as ModelKey[],
  rows: new Set(flagValues.rows.split(',').map((s) => s.trim())),
  connections: flagValues.connections.split(',').map(Number),
  durationSmall: numFlag('duration-small', 5, 1),
  durationLarge: numFlag('duration-large', 10, 2),
  warmup: numFlag('warmup', 2, 0.5),
  rssDuration: numFlag('rss-duration', 60, 5),
  rssWarmup: quick ? 1 : 5,
  size: Number(flagValues.size),
  rawBudgetMs: numFlag('raw-budget-ms', 2000, 300),
  rawBatches: [1, 8, 32, 64, 128],
  gamma: Number(flagValues.gamma),
  manifestExtra: flagValues['manifest-extra'] ? (JSON.parse(flagValues['manifest-extra']) as Record<string, unknown>) : undefined,
  out: flagValues.out ?? (quick ? 'bench/tmp/results' : 'bench/results'),
  readme: !flagValues['no-readme'],
}
for (const m of cfg.models) if (m !== 'small' && m !== 'large') throw new Error(`--models takes small and/or large, got ${m}`)
if (cfg.connections.some((c) => !Number.isInteger(c) || c < 1)) throw new Error(`--connections must be positive integers`)

const TMP = 'bench/tmp'
const LOG_DIR = join(TMP, 'logs')
const live = new Set<ServerChild>()
const say = (s: string) => process.stdout.write(`${s}\n`)

// ---------------------------------------------------------------------------------------------
// What each model is and the requests sent to it.

interface ModelSpec {
  key: ModelKey
  title: string
  name: string
  repository: string
  modelDir: string
  onnxFile: string
  input: string
  output: string
  sampleShape: number[]
  labels: string[]
  fineTuning: string[]
  samples: Float32Array[]
  jsonBodies: Buffer[]
  binaryBodies: Buffer[]
  /** Open Inference Protocol infer bodies: JSON, and the JSON header + float32 bytes (with its header length). */
  v2JsonBodies: Buffer[]
  v2BinaryBodies: Array<{ body: Buffer; headerLength: number }>
  durationS: number
  notes: string[]
}

interface Manifest {
  labels: string[]
  fine_tuning_classes: string[]
  input?: { name: string; shape: number[] }
  output?: { name: string }
}

async function smallModel(): Promise<ModelSpec> {
  const repository = 'models'
  const name = 'digits-finetuned'
  const modelDir = join(repository, name)
  const manifest = JSON.parse(await readFile(join(modelDir, 'model.json'), 'utf8')) as Manifest
  const lines = (await readFile('examples/digits/data/test.ndjson', 'utf8')).split('\n').filter((l) => l.trim())
  const inputs = lines.slice(0, 64).map((l) => (JSON.parse(l) as { input: number[] }).input)
  return {
    key: 'small',
    title: '(a) small: digits MLP 64-128-64-10, the demo model (HTTP-bound)',
    name,
    repository,
    modelDir,
    onnxFile: join(modelDir, '1', 'model.onnx'),
    input: manifest.input?.name ?? 'pixels',
    output: manifest.output?.name ?? 'logits',
    sampleShape: manifest.input?.shape ?? [64],
    labels: manifest.labels,
    fineTuning: manifest.fine_tuning_classes,
    samples: inputs.map((x) => Float32Array.from(x)),
    jsonBodies: inputs.map((x) => Buffer.from(JSON.stringify({ inputs: [x] }))),
    binaryBodies: inputs.map((x) => f32Body(Float32Array.from(x))),
    v2JsonBodies: inputs.map((x) => v2Json(manifest.input?.name ?? 'pixels', manifest.input?.shape ?? [64], x)),
    v2BinaryBodies: inputs.map((x) => v2Binary(manifest.input?.name ?? 'pixels', manifest.input?.shape ?? [64], Float32Array.from(x))),
    durationS: cfg.durationSmall,
    notes: [],
  }
}

async function largeModel(): Promise<ModelSpec> {
  const repository = join(TMP, 'models')
  await rm(repository, { recursive: true, force: true })
  const made = await makeModel({ ...DEFAULT_MAKE_MODEL, size: cfg.size, repo: repository, manifestExtra: cfg.manifestExtra })
  const check = await verifyModel(made)
  say(`made ${made.onnxFile}: ${(made.params / 1e6).toFixed(2)} M parameters, ${(made.bytes / 2 ** 20).toFixed(1)} MiB; onnxruntime ran a batch of 2 in ${check.ms.toFixed(1)} ms`)
  const sampleSize = made.inputShape.reduce((a, b) => a * b, 1)
  const rand = mulberry32(2024)
  // Pixels in [0, 1] with 3 decimals: the JSON and binary bodies carry the same values.
  const samples = Array.from({ length: 8 }, () => Float32Array.from({ length: sampleSize }, () => Math.round(rand() * 1000) / 1000))
  const manifest = JSON.parse(await readFile(made.manifestFile, 'utf8')) as Manifest
  return {
    key: 'large',
    title: `(b) compute-bound: ResNet-18-shaped, input 3×${cfg.size}×${cfg.size}, random weights`,
    name: DEFAULT_MAKE_MODEL.name,
    repository,
    modelDir: made.dir,
    onnxFile: made.onnxFile,
    input: 'pixels',
    output: 'logits',
    sampleShape: made.inputShape,
    labels: manifest.labels,
    fineTuning: manifest.fine_tuning_classes,
    samples,
    jsonBodies: samples.map((s) => Buffer.from(JSON.stringify({ inputs: [Array.from(s, (v) => Math.round(v * 1000) / 1000)] }))),
    binaryBodies: samples.map(f32Body),
    v2JsonBodies: samples.map((s) => v2Json('pixels', made.inputShape, Array.from(s, (v) => Math.round(v * 1000) / 1000))),
    v2BinaryBodies: samples.map((s) => v2Binary('pixels', made.inputShape, s)),
    durationS: cfg.durationLarge,
    notes: [
      `ResNet-18 shape (11.2 M parameters) at ${cfg.size}×${cfg.size} input${cfg.size === 224 ? '' : ` (ImageNet size is 224; --size ${cfg.size} keeps a run short)`}, BatchNorm folded into conv biases, made by bench/make-model.ts.` +
        (cfg.manifestExtra ? ` model.json extra keys: ${JSON.stringify(cfg.manifestExtra)}.` : ''),
    ],
  }
}

/** One sample as an Open Inference Protocol infer request; the outputs v1 predict answers with. */
const V2_OUTPUTS = [{ name: 'label' }, { name: 'score' }, { name: 'class_index' }]
function v2Json(input: string, shape: number[], x: number[]): Buffer {
  return Buffer.from(JSON.stringify({ inputs: [{ name: input, shape: [1, ...shape], datatype: 'FP32', data: x }], outputs: V2_OUTPUTS }))
}
/** The same as binary tensor data: the JSON header, then the float32 bytes; outputs as binary data too. */
function v2Binary(input: string, shape: number[], x: Float32Array): { body: Buffer; headerLength: number } {
  const bytes = f32Body(x)
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: input, shape: [1, ...shape], datatype: 'FP32', parameters: { binary_data_size: bytes.byteLength } }],
      outputs: V2_OUTPUTS,
      parameters: { binary_data_output: true },
    }),
  )
  return { body: Buffer.concat([header, bytes]), headerLength: header.byteLength }
}

/** Raw little-endian float32 (this bench runs on little-endian machines only). */
function f32Body(x: Float32Array): Buffer {
  if (os.endianness() !== 'LE') throw new Error('the binary bodies assume a little-endian machine')
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength)
}

// ---------------------------------------------------------------------------------------------
// Running a server's rows.

const ROW_LABELS: Record<RowId, string> = {
  bare: 'bare Fastify (constant)',
  naive: 'naive Fastify + session.run',
  calserve_json: 'calserve JSON',
  calserve_binary: 'calserve binary',
  calserve_v2_json: 'calserve v2 JSON',
  calserve_v2_binary: 'calserve v2 binary',
}

/** The request bodies of a row: v1 predict JSON or binary, v2 infer JSON or binary. */
type Kind = 'json' | 'binary' | 'v2json' | 'v2binary'

function predictPath(m: ModelSpec, kind: Kind = 'json'): string {
  const name = encodeURIComponent(m.name)
  return kind === 'v2json' || kind === 'v2binary' ? `/v2/models/${name}/infer` : `/v1/models/${name}/predict`
}

function requestsFor(m: ModelSpec, kind: Kind): Array<autocannon.Request & { path: string; body: Buffer; headers: Record<string, string> }> {
  const path = predictPath(m, kind)
  if (kind === 'v2binary')
    return m.v2BinaryBodies.map(({ body, headerLength }) => ({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) },
      body,
    }))
  const bodies = kind === 'json' ? m.jsonBodies : kind === 'binary' ? m.binaryBodies : m.v2JsonBodies
  const type = kind === 'binary' ? 'application/octet-stream' : 'application/json'
  return bodies.map((body) => ({ method: 'POST', path, headers: { 'content-type': type }, body }))
}

/** One request through fetch, before the load: a row whose probe fails is reported, not measured. */
async function probe(server: ServerChild, m: ModelSpec, kind: Kind, expectPredictions: boolean): Promise<string | null> {
  try {
    const first = requestsFor(m, kind)[0]!
    const res = await fetch(server.baseUrl + first.path, {
      method: 'POST',
      headers: first.headers,
      body: new Uint8Array(first.body),
      signal: AbortSignal.timeout(30_000),
    })
    const bytes = Buffer.from(await res.arrayBuffer())
    // A binary v2 answer starts with its JSON header; the rest is the binary outputs.
    const headerLength = Number(res.headers.get('inference-header-content-length') ?? bytes.byteLength)
    const text = bytes.toString('utf8', 0, headerLength)
    if (res.status !== 200) return `${kind} predict answered HTTP ${res.status}: ${text.slice(0, 300)}`
    if (expectPredictions) {
      const body = JSON.parse(text) as { predictions?: unknown[]; outputs?: Array<{ name: string; shape: number[] }> }
      const one = kind === 'v2json' || kind === 'v2binary' ? body.outputs?.find((o) => o.name === 'label')?.shape[0] === 1 : body.predictions?.length === 1
      if (!one) return `${kind} predict answered 200 without exactly one prediction: ${text.slice(0, 300)}`
    }
    return null
  } catch (err) {
    return `${kind} predict request failed: ${(err as Error).message}`
  }
}

async function measureRow(server: ServerChild, m: ModelSpec, row: Row, requests: autocannon.Request[], kind: Kind): Promise<void> {
  // Warm the whole path (JIT, buffers, batcher) under some concurrency before the first cell, which
  // is at one connection and would otherwise pay for it.
  if (cfg.warmup > 0) {
    await measure({ baseUrl: server.baseUrl, requests, connections: 16, durationS: cfg.warmup, warmupS: 0 }).catch(() => null)
    await drain(server, m, kind)
  }
  for (const connections of cfg.connections) {
    try {
      const cell = await measure({ baseUrl: server.baseUrl, requests, connections, durationS: m.durationS, warmupS: cfg.warmup })
      row.cells.push(cell)
      say(
        `  [${m.key}] ${row.label.padEnd(28)} c=${String(connections).padEnd(3)} ${cell.rps.toFixed(1).padStart(9)} req/s  p50 ${fmtMs(cell.p50_ms)}  p99 ${fmtMs(cell.p99_ms)}  errors ${cell.errors}` +
          (cell.errors ? ` (${describeErrors(cell)})` : ''),
      )
      if (cell.ok === 0 && cell.errors > 0)
        row.failed = `no 2xx response at ${connections} connections: ${describeErrors(cell)}; server log ${server.logFile}`
      else if (cell.ok === 0) row.failed = `no response completed within the ${m.durationS} s window at ${connections} connections (requests still in flight)`
    } catch (err) {
      row.failed = `at ${connections} connections: ${(err as Error).message}`
      say(`  [${m.key}] ${row.label} c=${connections}: FAILED ${row.failed}`)
    }
    // Requests still in flight when a cell ends would otherwise land in the next cell: wait until a
    // fresh request gets through, i.e. the server has worked off its backlog.
    await drain(server, m, kind)
  }
}

async function drain(server: ServerChild, m: ModelSpec, kind: Kind): Promise<void> {
  const deadline = Date.now() + 120_000
  while (Date.now() < deadline) {
    const fail = await probe(server, m, kind, false)
    if (fail === null || !/HTTP 503/.test(fail)) return
    await new Promise((r) => setTimeout(r, 200))
  }
}

function fmtMs(x: number | null): string {
  return x === null ? '     —' : `${x.toFixed(2).padStart(7)} ms`
}

async function withServer(
  name: string,
  start: () => Promise<ServerChild>,
  rows: Row[],
  body: (server: ServerChild) => Promise<void>,
): Promise<void> {
  let server: ServerChild
  try {
    server = await start()
  } catch (err) {
    for (const row of rows) row.failed = `${name} did not start: ${(err as Error).message}`
    say(`  ${name} did not start: ${(err as Error).message.split('\n')[0]}`)
    return
  }
  live.add(server)
  try {
    await body(server)
  } finally {
    await server.stop()
    live.delete(server)
  }
}

async function startCalserve(m: ModelSpec, tag: string): Promise<ServerChild> {
  const store = join(TMP, 'store', `${m.key}-${tag}.db`)
  await mkdir(join(TMP, 'store'), { recursive: true })
  for (const suffix of ['', '-wal', '-shm']) await rm(store + suffix, { force: true })
  const port = await freePort()
  return startServer({
    name: `calserve-${m.key}-${tag}`,
    script: 'src/main.ts',
    env: {
      CALSERVE_HOST: '127.0.0.1',
      CALSERVE_PORT: String(port),
      CALSERVE_MODEL_REPOSITORY: m.repository,
      CALSERVE_STORE_URL: `sqlite:${store}`,
      CALSERVE_LOG_LEVEL: 'warn',
    },
    readyPath: '/health/ready',
    port,
    logDir: LOG_DIR,
  })
}

/** Sets γ so that predict really adds a bias (version 0 is γ = 0). A failure is noted, not fatal. */
async function setGamma(server: ServerChild, m: ModelSpec): Promise<string | null> {
  try {
    const res = await fetch(`${server.baseUrl}/v1/models/${encodeURIComponent(m.name)}/calibration`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ gamma: cfg.gamma, note: 'bench' }),
    })
    if (!res.ok) return `setting γ = ${cfg.gamma} answered HTTP ${res.status}: ${(await res.text()).slice(0, 200)}; calserve ran with γ = 0`
    return null
  } catch (err) {
    return `setting γ failed: ${(err as Error).message}`
  }
}

// ---------------------------------------------------------------------------------------------
// One model, all rows.

async function benchModel(m: ModelSpec): Promise<ModelResult> {
  say(`\n== ${m.title}`)
  const absent = Uint8Array.from(m.labels, (l) => (m.fineTuning.includes(l) ? 0 : 1))

  // 1. Raw onnxruntime in-process, before any server runs.
  let raw: ModelResult['raw']
  try {
    const r = await rawOnnxruntime(m.onnxFile, { input: m.input, output: m.output, sampleShape: m.sampleShape }, m.samples, cfg.rawBatches, cfg.rawBudgetMs)
    raw = { ...r, failed: null }
    say(`  [${m.key}] raw onnxruntime: ${r.batches.map((b) => `batch ${b.batch}: ${b.samples_per_s.toFixed(0)}/s`).join(', ')}`)
  } catch (err) {
    raw = { failed: (err as Error).message }
    say(`  [${m.key}] raw onnxruntime FAILED: ${raw.failed}`)
  }

  const flag: Record<RowId, string> = { bare: 'bare', naive: 'naive', calserve_json: 'json', calserve_binary: 'binary', calserve_v2_json: 'v2json', calserve_v2_binary: 'v2binary' }
  const rows: Row[] = (['bare', 'naive', 'calserve_json', 'calserve_binary', 'calserve_v2_json', 'calserve_v2_binary'] as const)
    .filter((id) => cfg.rows.has(flag[id]))
    .map((id) => ({ id, label: ROW_LABELS[id], failed: null, cells: [] }))
  const row = (id: RowId) => rows.find((r) => r.id === id)
  const notes = [...m.notes]

  // 2. Bare Fastify.
  const bare = row('bare')
  if (bare)
    await withServer(
      'bare server',
      async () => {
        const port = await freePort()
        return startServer({ name: `bare-${m.key}`, script: 'bench/servers/bare.ts', args: ['--port', String(port)], readyPath: '/health', port, logDir: LOG_DIR })
      },
      [bare],
      async (server) => {
        const fail = await probe(server, m, 'json', false)
        if (fail) bare.failed = fail
        else await measureRow(server, m, bare, requestsFor(m, 'json'), 'json')
      },
    )

  // 3. Naive Fastify + onnxruntime.
  const naive = row('naive')
  if (naive)
    await withServer(
      'naive server',
      async () => {
        const port = await freePort()
        return startServer({
          name: `naive-${m.key}`,
          script: 'bench/servers/naive.ts',
          args: ['--port', String(port), '--model-dir', m.modelDir],
          readyPath: '/health',
          port,
          logDir: LOG_DIR,
        })
      },
      [naive],
      async (server) => {
        const fail = await probe(server, m, 'json', true)
        if (fail) naive.failed = fail
        else await measureRow(server, m, naive, requestsFor(m, 'json'), 'json')
      },
    )

  // 4. calserve, JSON then binary, one process.
  const json = row('calserve_json')
  const binary = row('calserve_binary')
  const v2json = row('calserve_v2_json')
  const v2binary = row('calserve_v2_binary')
  const calRows = [json, binary, v2json, v2binary].filter((r): r is Row => r !== undefined)
  if (calRows.length)
    await withServer('calserve', () => startCalserve(m, 'rows'), calRows, async (server) => {
      const gammaNote = await setGamma(server, m)
      if (gammaNote) notes.push(gammaNote)
      for (const [r, kind] of [[json, 'json'], [binary, 'binary'], [v2json, 'v2json'], [v2binary, 'v2binary']] as const) {
        if (!r) continue
        const fail = await probe(server, m, kind, true)
        if (fail) {
          r.failed = fail
          say(`  [${m.key}] ${r.label}: FAILED ${fail}`)
        } else await measureRow(server, m, r, requestsFor(m, kind), kind)
      }
    })

  // Ratios: one sample per request, so req/s and raw samples/s compare directly.
  const rawBest = raw.failed === null ? (raw.best?.samples_per_s ?? null) : null
  const ratios: Ratio[] = []
  for (const r of calRows)
    for (const cell of r.cells) {
      const at = (id: RowId) => row(id)?.cells.find((c) => c.connections === cell.connections)?.rps ?? null
      const div = (a: number, b: number | null) => (b && b > 0 ? round(a / b, 4) : null)
      ratios.push({
        row: r.id as Ratio['row'],
        connections: cell.connections,
        vs_raw: div(cell.rps, rawBest),
        vs_naive: div(cell.rps, at('naive')),
        vs_bare: div(cell.rps, at('bare')),
      })
    }

  // The calibration step's share of a predict.
  let calibration: ModelResult['calibration']
  try {
    const perRequest = timeCalibration(absent, 1, quick ? 200 : 1000)
    const c1 = (id: RowId) => row(id)?.cells.find((c) => c.connections === 1)?.p50_ms ?? null
    const httpRow: RowId | null = c1('calserve_json') !== null ? 'calserve_json' : c1('calserve_binary') !== null ? 'calserve_binary' : null
    const http = httpRow ? c1(httpRow) : null
    const ortB1 = raw.failed === null ? (raw.batches.find((b) => b.batch === 1)?.ms_per_run ?? null) : null
    const best = raw.failed === null ? raw.best : null
    let perBatch: CalibrationShare['per_batch'] = null
    if (best) {
      const t = timeCalibration(absent, best.batch, quick ? 200 : 1000)
      perBatch = { ...t, ort_ms: best.ms_per_run, pct_of_ort: round((t.us_per_call / 1000 / best.ms_per_run) * 100, 4) }
    }
    const share = (ms: number | null) => (ms && ms > 0 ? round((perRequest.us_per_call / 1000 / ms) * 100, 4) : null)
    calibration = {
      per_request: perRequest,
      http_p50_ms: http,
      http_row: httpRow,
      pct_of_http: share(http),
      ort_batch1_ms: ortB1,
      pct_of_ort_batch1: share(ortB1),
      per_batch: perBatch,
    }
  } catch (err) {
    calibration = { failed: (err as Error).message }
  }

  return {
    key: m.key,
    title: m.title,
    name: m.name,
    repository: m.repository,
    input_shape: m.sampleShape,
    classes: m.labels.length,
    fine_tuning_classes: m.fineTuning,
    request_bytes: { json: m.jsonBodies[0]!.byteLength, binary: m.binaryBodies[0]!.byteLength },
    distinct_requests: m.jsonBodies.length,
    duration_s: m.durationS,
    warmup_s: cfg.warmup,
    raw,
    rows,
    ratios,
    calibration,
    notes,
  }
}

// ---------------------------------------------------------------------------------------------
// RSS over a long run.

async function rssPhase(m: ModelSpec): Promise<RssResult> {
  const connections = 64
  const result: RssResult = {
    failed: null,
    model: m.name,
    connections,
    duration_s: cfg.rssDuration,
    warmup_s: cfg.rssWarmup,
    samples: [],
    start_mib: null,
    end_mib: null,
    max_mib: null,
    growth_pct: null,
    load: null,
  }
  say(`\n== RSS: calserve (${m.name}, JSON), ${connections} connections, ${cfg.rssDuration} s`)
  await withServer('calserve', () => startCalserve(m, 'rss'), [], async (server) => {
    const gammaNote = await setGamma(server, m)
    if (gammaNote) say(`  ${gammaNote}`)
    const fail = await probe(server, m, 'json', true)
    if (fail) {
      result.failed = fail
      return
    }
    const requests = requestsFor(m, 'json')
    await measure({ baseUrl: server.baseUrl, requests, connections, durationS: cfg.rssWarmup, warmupS: 0 })
    const t0 = Date.now()
    const sample = async () => {
      const rss = await rssOf(server.pid)
      if (rss !== null) result.samples.push({ t_s: round((Date.now() - t0) / 1000, 1), rss_mib: round(rss / 2 ** 20, 2) })
    }
    await sample()
    const timer = setInterval(() => void sample(), 1000)
    try {
      result.load = await measure({ baseUrl: server.baseUrl, requests, connections, durationS: cfg.rssDuration, warmupS: 0 })
    } finally {
      clearInterval(timer)
    }
    await sample()
  }).catch((err: unknown) => {
    result.failed = (err as Error).message
  })
  if (!result.failed && result.samples.length === 0) result.failed = 'calserve did not start or its RSS could not be read'
  if (result.samples.length) {
    result.start_mib = result.samples[0]!.rss_mib
    result.end_mib = result.samples.at(-1)!.rss_mib
    result.max_mib = Math.max(...result.samples.map((s) => s.rss_mib))
    result.growth_pct = round(((result.end_mib - result.start_mib) / result.start_mib) * 100, 2)
    say(`  RSS start ${result.start_mib} MiB, end ${result.end_mib} MiB, max ${result.max_mib} MiB (${result.growth_pct}%)`)
  }
  return result
}

// ---------------------------------------------------------------------------------------------
// Targets.

function targets(models: ModelResult[], rss: RssResult | null): Target[] {
  const out: Target[] = []
  const ge = (id: string, description: string, measured: number | null, threshold: number, unit: string, note?: string): void => {
    out.push(judge({ id, description, measured, unit, op: '>=', threshold, note }))
  }
  const le = (id: string, description: string, measured: number | null, threshold: number, unit: string, note?: string): void => {
    out.push(judge({ id, description, measured, unit, op: '<=', threshold, note }))
  }
  const small = models.find((m) => m.key === 'small')
  const large = models.find((m) => m.key === 'large')
  const top = Math.max(...cfg.connections)
  const note = top === 64 ? undefined : `at ${top} connections, not 64`
  for (const id of ['calserve_json', 'calserve_binary'] as const) {
    const label = id === 'calserve_json' ? 'JSON' : 'binary'
    if (small) {
      const r = small.ratios.find((x) => x.row === id && x.connections === top)
      ge(`small.${id}.vs_naive`, `small, c=${top}: calserve ${label} ≥ 2× naive`, r?.vs_naive ?? null, 2, '×', note)
      ge(`small.${id}.vs_bare`, `small, c=${top}: calserve ${label} ≥ 0.6× bare Fastify`, r?.vs_bare ?? null, 0.6, '×', note)
      const cell = small.rows.find((x) => x.id === id)?.cells.find((c) => c.connections === top)
      le(`small.${id}.p99`, `small, c=${top}: calserve ${label} p99 ≤ 10 ms`, cell?.p99_ms ?? null, 10, 'ms', note)
    }
  }
  if (large)
    for (const id of ['calserve_json', 'calserve_binary'] as const) {
      const r = large.ratios.find((x) => x.row === id && x.connections === top)
      ge(`large.${id}.vs_raw`, `compute-bound, c=${top}: calserve ${id === 'calserve_json' ? 'JSON' : 'binary'} ≥ 0.9× raw onnxruntime`, r?.vs_raw ?? null, 0.9, '×', note)
    }
  if (large) {
    // The Open Inference Protocol's binary infer must cost no more than v1's binary predict.
    const rps = (id: RowId) => large.rows.find((x) => x.id === id)?.cells.find((c) => c.connections === top)?.rps ?? null
    const v1 = rps('calserve_binary')
    const v2 = rps('calserve_v2_binary')
    ge('large.calserve_v2_binary.vs_binary', `compute-bound, c=${top}: calserve v2 binary ≥ 0.95× calserve binary predict`, v1 && v2 !== null ? round(v2 / v1, 4) : null, 0.95, '×', note)
  }
  for (const m of models) {
    const share = 'failed' in m.calibration ? null : m.calibration.pct_of_http
    le(`${m.key}.calibration_share`, `${m.key === 'small' ? 'small' : 'compute-bound'}: calibration step ≤ 1% of predict (p50 at c=1)`, share, 1, '%')
  }
  if (rss)
    le(
      'rss.growth',
      `RSS flat over ${rss.duration_s} s at c=${rss.connections} (end ≤ start + 10%)`,
      rss.growth_pct,
      10,
      '%',
      rss.start_mib !== null ? `start ${rss.start_mib.toFixed(1)} MiB, end ${rss.end_mib?.toFixed(1)} MiB, max ${rss.max_mib?.toFixed(1)} MiB` : undefined,
    )
  return out
}

function judge(t: Omit<Target, 'status' | 'margin_pct'>): Target {
  if (t.measured === null) return { ...t, status: 'N/A', margin_pct: null, note: t.note ?? 'no data (row failed or not run)' }
  const ok = t.op === '>=' ? t.measured >= t.threshold : t.measured <= t.threshold
  // Growth targets can sit at 0: measure their headroom in percentage points instead.
  const margin =
    t.op === '>=' ? ((t.measured - t.threshold) / t.threshold) * 100 : t.threshold === 0 ? -t.measured : ((t.threshold - t.measured) / t.threshold) * 100
  return { ...t, status: ok ? 'PASS' : 'MISS', margin_pct: round(margin, 1) }
}

// ---------------------------------------------------------------------------------------------
// Machine, saving, README.

async function machine(): Promise<Machine> {
  const version = async (pkg: string) =>
    ((JSON.parse(await readFile(join('node_modules', pkg, 'package.json'), 'utf8')) as { version?: string }).version ?? '?')
  const git = (args: string[]): string | null => {
    try {
      return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    } catch {
      return null
    }
  }
  const commit = git(['rev-parse', 'HEAD'])
  const status = git(['status', '--porcelain'])
  const cpus = os.cpus()
  return {
    hostname: os.hostname(),
    cpu_model: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    total_memory_gib: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.versions.node,
    onnxruntime_node: await version('onnxruntime-node'),
    fastify: await version('fastify'),
    autocannon: await version('autocannon'),
    git_commit: commit,
    git_dirty: status === null ? null : status.length > 0,
    loadavg_start: os.loadavg().map((x) => round(x, 2)),
    loadavg_end: null,
  }
}

function commandLine(): string {
  const args = process.argv.slice(2)
  if (process.env['npm_lifecycle_event'] === 'bench') return `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`
  return `npx tsx bench/run.ts${args.length ? ` ${args.join(' ')}` : ''}`
}

const README = 'bench/README.md'
const START = '<!-- results:start (written by bench/run.ts) -->'
const END = '<!-- results:end -->'

async function updateReadme(summary: string): Promise<boolean> {
  const text = await readFile(README, 'utf8').catch(() => null)
  if (text === null) return false
  const a = text.indexOf(START)
  const b = text.indexOf(END)
  if (a < 0 || b < a) return false
  await writeFile(README, `${text.slice(0, a + START.length)}\n${summary}\n${text.slice(b)}`)
  return true
}

async function main(): Promise<void> {
  const startedAt = new Date()
  const results: BenchResults = {
    started_at: startedAt.toISOString(),
    finished_at: '',
    command: commandLine(),
    quick,
    machine: await machine(),
    config: {
      connections: cfg.connections,
      duration_small_s: cfg.durationSmall,
      duration_large_s: cfg.durationLarge,
      warmup_s: cfg.warmup,
      rss_duration_s: cfg.rssDuration,
      rss_warmup_s: cfg.rssWarmup,
      resnet_input_size: cfg.size,
      raw_batches: cfg.rawBatches,
      raw_budget_ms: cfg.rawBudgetMs,
      gamma: cfg.gamma,
      manifest_extra: cfg.manifestExtra ?? null,
      batcher_present: await readFile('src/models/batcher.ts').then(() => true, () => false),
    },
    models: [],
    rss: null,
    targets: [],
  }
  const m = results.machine
  say(`calserve bench${quick ? ' (quick)' : ''}: ${m.cpu_model}, ${m.cores} cores, ${m.total_memory_gib} GiB, Node ${m.node}, onnxruntime-node ${m.onnxruntime_node}`)
  say(`command: ${results.command}`)
  if (m.loadavg_start[0]! > m.cores * 0.5)
    say(`WARNING: the machine is busy (load average ${m.loadavg_start.join(' ')} on ${m.cores} cores): the numbers will be noisy`)
  await mkdir(TMP, { recursive: true })

  let small: ModelSpec | null = null
  for (const key of cfg.models) {
    let spec: ModelSpec
    try {
      spec = key === 'small' ? await smallModel() : await largeModel()
    } catch (err) {
      say(`\n== ${key}: could not prepare the model: ${(err as Error).message}`)
      continue
    }
    if (key === 'small') small = spec
    results.models.push(await benchModel(spec))
  }
  if (cfg.rssDuration > 0) {
    small ??= await smallModel()
    results.rss = await rssPhase(small)
  }
  results.targets = targets(results.models, results.rss)
  results.finished_at = new Date().toISOString()
  results.machine.loadavg_end = os.loadavg().map((x) => round(x, 2))

  const md = renderAll(results)
  say(`\n${md}`)
  const stamp = startedAt.toISOString().slice(0, 16).replace(/[:T]/g, (c) => (c === 'T' ? '-' : ''))
  const stem = `${stamp}-${os.hostname().replace(/[^A-Za-z0-9._-]/g, '_')}${quick ? '-quick' : ''}`
  await mkdir(cfg.out, { recursive: true })
  await writeFile(join(cfg.out, `${stem}.json`), `${JSON.stringify(results, null, 2)}\n`)
  await writeFile(join(cfg.out, `${stem}.md`), md)
  await writeFile(join(cfg.out, 'latest.md'), md)
  say(`saved ${join(cfg.out, `${stem}.json`)}, ${join(cfg.out, `${stem}.md`)} and ${join(cfg.out, 'latest.md')}`)
  if (!quick && cfg.readme && resolve(cfg.out) === resolve('bench/results')) {
    const ok = await updateReadme(renderSummary(results, `bench/results/${stem}.md`))
    say(ok ? `updated the results summary in ${README}` : `could not find the results markers in ${README}; summary not written`)
  }
}

async function stopAll(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop().catch(() => {})))
}

for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    say(`\n${sig}: stopping the servers`)
    void stopAll().then(() => process.exit(130))
  })

try {
  await main()
} catch (err) {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`)
  await stopAll()
  process.exit(1)
}
