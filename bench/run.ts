// The calserve benchmark: `npm run bench` (full run) or `npm run bench -- --quick` (~2 min smoke run).
// See bench/README.md for what each row means, how to read the numbers and how to add a row.
//
// One server core against one load-generator core: every server (calserve, and the baselines it is
// judged by) is a child process pinned with taskset to --server-cpus, and wrk, the load generator,
// to --client-cpus. Raw onnxruntime runs in a process pinned like the servers. For each model and
// row: wrk at 1, 16 and 64 connections, throughput, p50/p99 and the server's CPU per request from
// /proc/<pid>/stat. Then the calibration step's share of a predict and calserve's RSS over a run.
import { execFile, execFileSync } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { choosePinning, cpuSeconds, pinned, type Pinning } from './lib/cpu.js'
import { rssOf, type ServerChild } from './lib/child.js'
import { timeCalibration } from './lib/inproc.js'
import type { RawChildInput } from './lib/raw-child.js'
import { MODEL_KEYS, merge, prepareModel, repositoryFor, type BenchModel, type ModelKey } from './lib/models.js'
import { describeErrors, renderAll, renderSummary, round } from './lib/report.js'
import { parseVariant, ROW_ALIASES, ROWS, SERVERS, variantRow, v1Json, type RowSpec, type ServerContext, type Variant } from './lib/rows.js'
import type { BenchResults, Cell, Machine, ModelResult, Ratio, Row, RssResult, Target } from './lib/types.js'
import { ensureWrk, prepareRequests, runWrk, type WrkCell } from './lib/wrk.js'

const HELP = `usage: npm run bench -- [flags]

  --quick                   smoke run (~2 min for all three models): 1 s cells, no per-cell warm-up,
                            RSS phase 5 s; results to bench/tmp/results
  --models small,cnn,large,image  which models (default all four; image is the Fashion-MNIST demo, PNG rows)
  --rows LIST               which rows (default ${ROWS.map((r) => r.flag).join(',')});
                            ROW@VARIANT runs a row on calserve with a --variant's overrides
  --variant NAME=JSON       a calserve configuration: '{"manifest": {...}, "env": {...}, "root": DIR, "compiled": true}'
                            (root: another checkout to run, e.g. a worktree of the previous main; compiled: run its
                            dist/main.js, built first, as the container image does, instead of src/main.ts via tsx), e.g.
                            --variant 'main={"manifest":{"session":{"thread":"main"}}}' --rows v1json,v1json@main
  --connections 1,16,64     wrk connections per cell
  --duration-small S        measured seconds per cell: MLP (default 5), --duration-cnn (5), --duration-large (10),
                            --duration-image (5)
  --rounds N                split each cell into N rounds that take turns with the other rows' (default 1;
                            on a machine whose speed drifts, 5 or more keeps the ratios fair)
  --warmup S                warm-up seconds before each cell (default 1; quick 0); each row also
                            starts with one warm-up at 16 connections (default 2; quick 1)
  --rss-duration S          seconds of the RSS phase at 64 connections (default 60; quick 5; 0 skips)
  --size N                  ResNet input height and width (default 112; ImageNet is 224)
  --raw-budget-ms MS        time per batch size for raw onnxruntime (default 2000; quick 300)
  --gamma G                 γ set on calserve before measuring, so calibration really runs (default 1.5)
  --manifest-extra JSON     keys deep-merged into every model's model.json for calserve, e.g. '{"batching":{"max_batch_size":32}}'
  --log-level LEVEL         CALSERVE_LOG_LEVEL for calserve (default: unset, calserve's own default, as npm start)
  --server-cpus LIST        taskset CPU list of every server and of raw onnxruntime (default 0)
  --client-cpus LIST        taskset CPU list of wrk (default 1)
  --no-pin                  don't pin (server and load generator share every core)
  --cpu-prof                write V8 CPU profiles of every server to bench/tmp/profiles/<model>-<server>/
                            (one per thread; summarize with npx tsx bench/profile.ts FILE...); a profiled
                            run is slower, so profile one row at a time
  --out DIR                 results folder (default bench/results; quick: bench/tmp/results)
  --no-readme               don't rewrite the summary in bench/README.md (full runs into bench/results only)
`

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    models: { type: 'string', default: MODEL_KEYS.join(',') },
    rows: { type: 'string', default: ROWS.map((r) => r.flag).join(',') },
    variant: { type: 'string', multiple: true, default: [] },
    connections: { type: 'string', default: '1,16,64' },
    'duration-small': { type: 'string' },
    'duration-cnn': { type: 'string' },
    'duration-large': { type: 'string' },
    'duration-image': { type: 'string' },
    warmup: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    'rss-duration': { type: 'string' },
    size: { type: 'string', default: '112' },
    'raw-budget-ms': { type: 'string' },
    gamma: { type: 'string', default: '1.5' },
    'manifest-extra': { type: 'string' },
    'log-level': { type: 'string' },
    'server-cpus': { type: 'string', default: '0' },
    'client-cpus': { type: 'string', default: '1' },
    'no-pin': { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    out: { type: 'string' },
    'no-readme': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
})
if (flags.help) {
  process.stdout.write(HELP)
  process.exit(0)
}

const quick = flags.quick
const numFlag = (name: keyof typeof flags, full: number, q: number): number => {
  const v = flags[name]
  const n = typeof v === 'string' ? Number(v) : quick ? q : full
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${String(v)}`)
  return n
}
const variants = new Map<string, Variant>(flags.variant.map((t) => parseVariant(t)).map((v) => [v.name, v]))
const cfg = {
  models: flags.models
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean) as ModelKey[],
  rows: flags.rows
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
  connections: flags.connections.split(',').map(Number),
  duration: {
    small: numFlag('duration-small', 5, 1),
    cnn: numFlag('duration-cnn', 5, 1),
    large: numFlag('duration-large', 10, 2),
    image: numFlag('duration-image', 5, 1),
  },
  warmup: numFlag('warmup', 1, 0),
  rounds: Math.max(1, Math.round(Number(flags.rounds))),
  rowWarmup: quick ? 1 : 2,
  rssDuration: numFlag('rss-duration', 60, 5),
  rssWarmup: quick ? 1 : 5,
  size: Number(flags.size),
  rawBudgetMs: numFlag('raw-budget-ms', 2000, 300),
  rawBatches: [1, 8, 32, 64, 128],
  gamma: Number(flags.gamma),
  manifestExtra: flags['manifest-extra'] ? (JSON.parse(flags['manifest-extra']) as Record<string, unknown>) : undefined,
  logLevel: flags['log-level'],
  pin: choosePinning(flags['server-cpus'], flags['client-cpus'], !flags['no-pin']),
  cpuProf: flags['cpu-prof'],
  out: flags.out ?? (quick ? 'bench/tmp/results' : 'bench/results'),
  readme: !flags['no-readme'],
}
for (const m of cfg.models) if (!MODEL_KEYS.includes(m)) throw new Error(`--models takes ${MODEL_KEYS.join(', ')}, got ${m}`)
if (cfg.connections.some((c) => !Number.isInteger(c) || c < 1)) throw new Error(`--connections must be positive integers`)

/** The rows asked for, in --rows order, each with its variant applied. */
const selected: RowSpec[] = cfg.rows.map((flag) => {
  const [name, variantName] = flag.split('@') as [string, string | undefined]
  const spec = ROWS.find((r) => r.flag === (ROW_ALIASES[name] ?? name))
  if (!spec) throw new Error(`--rows: unknown row ${name} (rows: ${ROWS.map((r) => r.flag).join(', ')})`)
  if (variantName === undefined) return spec
  const variant = variants.get(variantName)
  if (!variant) throw new Error(`--rows ${flag}: no --variant ${variantName}=…`)
  if (!SERVERS.find((s) => s.id === spec.server)?.variants) throw new Error(`--rows ${flag}: the ${spec.server} server takes no variants`)
  return variantRow(spec, variant)
})

const TMP = 'bench/tmp'
const LOG_DIR = join(TMP, 'logs')
const live = new Set<ServerChild>()
const say = (s: string) => process.stdout.write(`${s}\n`)

// ---------------------------------------------------------------------------------------------
// One row: probe, warm up, then each cell.

/** One request through fetch before the load: a row whose probe fails is reported, not measured. */
async function probe(server: ServerChild, m: BenchModel, spec: RowSpec): Promise<string | null> {
  if (spec.probe) return spec.probe(server, m)
  try {
    const first = spec.requests(m)[0]!
    const res = await fetch(server.baseUrl + first.path, {
      method: first.method,
      headers: first.headers,
      body: first.body ? new Uint8Array(first.body) : undefined,
      signal: AbortSignal.timeout(30_000),
    })
    const bytes = Buffer.from(await res.arrayBuffer())
    if (res.status !== 200) return `HTTP ${res.status}: ${bytes.toString('utf8', 0, 300)}`
    return spec.check ? spec.check(bytes, res.headers) : null
  } catch (err) {
    return `request failed: ${(err as Error).message}`
  }
}

/** Requests still in flight when a cell ends would land in the next: wait until a fresh one isn't refused. */
async function drain(server: ServerChild, m: BenchModel, spec: RowSpec): Promise<void> {
  const deadline = Date.now() + 120_000
  while (Date.now() < deadline) {
    const fail = await probe(server, m, spec)
    if (fail === null || !/HTTP 503/.test(fail)) return
    await new Promise((r) => setTimeout(r, 200))
  }
}

type Load = (connections: number, durationS: number) => Promise<WrkCell>

/** The row's load at a given concurrency, warmed up once (JIT, buffers, batcher) under some concurrency. */
async function rowLoad(server: ServerChild, m: BenchModel, spec: RowSpec): Promise<Load> {
  const prepared = spec.drive ? null : await prepareRequests(join(TMP, 'requests', `${m.key}-${spec.id}`), `127.0.0.1:${server.port}`, spec.requests(m))
  const load: Load = (connections, durationS) =>
    spec.drive
      ? spec.drive(server, m, { connections, durationS, cpus: cfg.pin.client })
      : runWrk({ baseUrl: server.baseUrl, prepared: prepared!, connections, durationS, cpus: cfg.pin.client })
  if (cfg.rowWarmup > 0) {
    await load(16, cfg.rowWarmup).catch(() => null)
    await drain(server, m, spec)
  }
  return load
}

/** One round of a cell: wrk's counts and the server's CPU seconds over the measured window. */
interface Part {
  w: WrkCell
  cpu: number | null
}

async function measurePart(server: ServerChild, load: Load, connections: number, durationS: number, warmupS: number): Promise<Part> {
  if (warmupS > 0) await load(connections, warmupS)
  const cpu0 = await cpuSeconds(server.pid)
  const w = await load(connections, durationS)
  const cpu1 = await cpuSeconds(server.pid)
  return { w, cpu: cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null }
}

/**
 * A cell from its rounds: counts and CPU summed (so req/s and µs per request are over the whole
 * measured time), latency percentiles the median of the rounds' (wrk's histograms can't be merged).
 */
function mergeParts(parts: Part[], samplesPerRequest: number): Cell {
  const sum = (f: (w: WrkCell) => number) => parts.reduce((a, p) => a + f(p.w), 0)
  const median = (f: (w: WrkCell) => number | null) => {
    const xs = parts.map((p) => f(p.w)).filter((x): x is number => x !== null)
    return xs.length ? xs.sort((a, b) => a - b)[(xs.length - 1) >> 1]! : null
  }
  const w0 = parts[0]!.w
  const ok = sum((w) => w.ok)
  const duration = sum((w) => w.duration_s)
  const cpu = parts.every((p) => p.cpu !== null) ? parts.reduce((a, p) => a + p.cpu!, 0) : null
  const w: WrkCell = {
    connections: w0.connections,
    duration_s: round(duration, 3),
    rps: duration > 0 ? round(ok / duration, 1) : 0,
    ok,
    p50_ms: median((x) => x.p50_ms),
    p90_ms: median((x) => x.p90_ms),
    p99_ms: median((x) => x.p99_ms),
    max_ms: parts.some((p) => p.w.max_ms !== null) ? Math.max(...parts.map((p) => p.w.max_ms ?? 0)) : null,
    mean_ms: median((x) => x.mean_ms),
    errors: sum((x) => x.errors),
    non2xx: sum((x) => x.non2xx),
    timeouts: sum((x) => x.timeouts),
    socket_errors: {
      connect: sum((x) => x.socket_errors.connect),
      read: sum((x) => x.socket_errors.read),
      write: sum((x) => x.socket_errors.write),
    },
    client_cpu: median((x) => x.client_cpu),
  }
  return {
    ...w,
    samples_per_s: round(w.rps * samplesPerRequest, 1),
    server_cpu_us: cpu !== null && ok > 0 ? round((cpu / ok) * 1e6, 1) : null,
    server_cpu: cpu !== null && duration > 0 ? round(cpu / duration, 3) : null,
  }
}

function reportCell(m: BenchModel, row: Row, cell: Cell, server: ServerChild): void {
  say(
    `  [${m.key}] ${row.label.padEnd(34)} c=${String(cell.connections).padEnd(3)} ${cell.rps.toFixed(1).padStart(9)} req/s` +
      (row.samples_per_request > 1 ? ` (${cell.samples_per_s.toFixed(0)} samples/s)` : '') +
      `  p50 ${fmtMs(cell.p50_ms)}  p99 ${fmtMs(cell.p99_ms)}` +
      `  server ${cell.server_cpu_us === null ? '—' : `${cell.server_cpu_us.toFixed(1)} µs/req`} (${pct(cell.server_cpu)} of a core), wrk ${pct(cell.client_cpu)}  errors ${cell.errors}` +
      (cell.errors ? ` (${describeErrors(cell)})` : ''),
  )
  if (cell.ok === 0)
    row.failed = `no 2xx response at ${cell.connections} connections${cell.errors ? `: ${describeErrors(cell)}` : ''}; server log ${server.logFile}`
}

const fmtMs = (x: number | null): string => (x === null ? '     —' : `${x.toFixed(2).padStart(7)} ms`)
const pct = (x: number | null): string => (x === null ? '—' : `${Math.round(x * 100)}%`)

// ---------------------------------------------------------------------------------------------
// Servers.

function contextFor(m: BenchModel, serverKey: string, tag: string): ServerContext {
  const variant = serverKey.includes('@') ? variants.get(serverKey.split('@')[1]!)! : null
  const extra = cfg.manifestExtra || variant?.manifest ? merge(cfg.manifestExtra ?? {}, variant?.manifest ?? {}) : undefined
  return {
    model: m,
    repository: () => repositoryFor(m, TMP, variant?.name ?? 'base', extra),
    storeFile: join(TMP, 'store', `${m.key}-${tag}.db`),
    logDir: LOG_DIR,
    cpus: cfg.pin.server,
    env: { ...(cfg.logLevel ? { CALSERVE_LOG_LEVEL: cfg.logLevel } : {}), ...variant?.env },
    // One folder per server start: node writes a profile per thread (main, the loader hooks, session workers).
    nodeArgs: cfg.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', join(TMP, 'profiles', `${m.key}-${tag}`)] : [],
    tag,
    gamma: cfg.gamma,
    root: variant?.root ?? '.',
    compiled: variant?.compiled ?? false,
  }
}

/** Starts the server of `serverKey` and runs its setup; null (and the rows marked failed) when it did not start. */
async function startFor(m: BenchModel, serverKey: string, rows: Row[], notes: string[]): Promise<ServerChild | null> {
  const spec = SERVERS.find((s) => s.id === serverKey.split('@')[0])
  if (!spec) throw new Error(`no server ${serverKey}`)
  const tag = serverKey.replace('@', '-')
  const ctx = contextFor(m, serverKey, tag)
  await mkdir(join(TMP, 'store'), { recursive: true })
  for (const suffix of ['', '-wal', '-shm']) await rm(ctx.storeFile + suffix, { force: true })
  let server: ServerChild
  try {
    server = await spec.start(ctx)
  } catch (err) {
    for (const row of rows) row.failed = `${serverKey} did not start: ${(err as Error).message}`
    say(`  ${serverKey} did not start: ${(err as Error).message.split('\n')[0]}`)
    return null
  }
  live.add(server)
  const note = spec.setup ? await spec.setup(server, ctx) : null
  if (note) notes.push(`${serverKey}: ${note}`)
  return server
}

async function stopServers(servers: Iterable<ServerChild>): Promise<void> {
  for (const server of servers) {
    await server.stop()
    live.delete(server)
  }
}

async function withServer(m: BenchModel, serverKey: string, rows: Row[], body: (server: ServerChild, notes: string[]) => Promise<void>): Promise<string[]> {
  const notes: string[] = []
  const server = await startFor(m, serverKey, rows, notes)
  if (!server) return notes
  try {
    await body(server, notes)
  } finally {
    await stopServers([server])
  }
  return notes
}

// ---------------------------------------------------------------------------------------------
// Raw onnxruntime, in its own process on the servers' CPUs.

async function rawOnnxruntime(m: BenchModel): Promise<ModelResult['raw']> {
  const samplesFile = join(TMP, `raw-${m.key}.f32`)
  await writeFile(samplesFile, Buffer.concat(m.samples.map((s) => Buffer.from(s.buffer, s.byteOffset, s.byteLength))))
  const input: RawChildInput = {
    onnxFile: m.onnxFile,
    input: m.input,
    output: m.output,
    sampleShape: m.sampleShape,
    samplesFile,
    batches: cfg.rawBatches,
    budgetMs: cfg.rawBudgetMs,
  }
  const [cmd, args] = pinned(cfg.pin.server, process.execPath, ['--import', 'tsx', 'bench/lib/raw-child.ts', JSON.stringify(input)])
  try {
    const { stdout } = await promisify(execFile)(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 20 })
    const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as Omit<Extract<ModelResult['raw'], { failed: null }>, 'failed' | 'pinned_to'>
    say(`  [${m.key}] raw onnxruntime: ${r.batches.map((b) => `batch ${b.batch}: ${b.samples_per_s.toFixed(0)}/s (${b.cpu_us_per_sample} µs CPU)`).join(', ')}`)
    return { ...r, failed: null, pinned_to: cfg.pin.server }
  } catch (err) {
    say(`  [${m.key}] raw onnxruntime FAILED: ${(err as Error).message}`)
    return { failed: (err as Error).message }
  }
}

// ---------------------------------------------------------------------------------------------
// One model, all rows.

async function benchModel(m: BenchModel): Promise<ModelResult> {
  say(`\n== ${m.title}`)
  const absent = Uint8Array.from(m.labels, (l) => (m.fineTuning.includes(l) ? 0 : 1))
  const raw = await rawOnnxruntime(m)
  const specs = selected.filter((s) => !s.models || s.models.includes(m.key))
  const rows: Row[] = specs.map((s) => ({ id: s.id, label: s.label, role: s.role, samples_per_request: s.samplesPerRequest ?? 1, failed: null, cells: [] }))
  const rowOf = (id: string) => rows.find((r) => r.id === id)
  const notes = [...m.notes]

  // One process per server, all of the model's up at once, each row's cell measured in --rounds
  // rounds that take turns with the other rows' (row after row within a round), so that a machine
  // whose speed drifts over minutes slows every row alike and the ratios stay fair.
  const started = new Map<string, ServerChild>()
  try {
    for (const key of new Set(specs.map((s) => s.server))) {
      const server = await startFor(
        m,
        key,
        specs.filter((s) => s.server === key).map((s) => rowOf(s.id)!),
        notes,
      )
      if (server) started.set(key, server)
    }
    const measured: Array<{ spec: RowSpec; row: Row; server: ServerChild; load: Load }> = []
    for (const spec of specs) {
      const row = rowOf(spec.id)!
      const server = started.get(spec.server)
      if (!server) continue
      const fail = await probe(server, m, spec)
      if (fail) {
        row.failed = `probe: ${fail}`
        say(`  [${m.key}] ${row.label}: FAILED ${row.failed}`)
      } else measured.push({ spec, row, server, load: await rowLoad(server, m, spec) })
    }
    for (const connections of cfg.connections) {
      const parts = new Map<Row, Part[]>(measured.map((r) => [r.row, []]))
      for (let r = 0; r < cfg.rounds; r++)
        for (const { spec, row, server, load } of measured) {
          if (row.failed) continue
          try {
            parts.get(row)!.push(await measurePart(server, load, connections, m.durationS / cfg.rounds, cfg.warmup / cfg.rounds))
          } catch (err) {
            row.failed = `at ${connections} connections: ${(err as Error).message}`
            say(`  [${m.key}] ${row.label} c=${connections}: FAILED ${row.failed}`)
          }
          await drain(server, m, spec)
        }
      for (const { row, server } of measured) {
        if (row.failed) continue
        const cell = mergeParts(parts.get(row)!, row.samples_per_request)
        row.cells.push(cell)
        reportCell(m, row, cell, server)
      }
    }
  } finally {
    await stopServers([...started.values()])
  }

  // Ratios of samples per second (req/s where both rows send one sample per request), so a row of
  // 16 per request compares with raw onnxruntime's samples/s and with the 1-per-request rows.
  const rawBest = raw.failed === null ? (raw.best?.samples_per_s ?? null) : null
  const ratios: Ratio[] = []
  for (const spec of specs) {
    if (!spec.compare?.length) continue
    for (const cell of rowOf(spec.id)!.cells) {
      const vs: Record<string, number | null> = {}
      for (const other of spec.compare) {
        const base = other === 'raw' ? rawBest : (rowOf(other)?.cells.find((c) => c.connections === cell.connections)?.samples_per_s ?? null)
        if (other === 'raw' || rowOf(other)) vs[other] = base && base > 0 ? round(cell.samples_per_s / base, 4) : null
      }
      ratios.push({ row: spec.id, connections: cell.connections, vs })
    }
  }

  // The calibration step's share of a predict.
  let calibration: ModelResult['calibration']
  try {
    const perRequest = timeCalibration(absent, 1, quick ? 200 : 1000)
    const c1 = (id: string) => rowOf(id)?.cells.find((c) => c.connections === 1)?.p50_ms ?? null
    const httpRow = c1('calserve_v1_json') !== null ? 'calserve_v1_json' : c1('calserve_v1_binary') !== null ? 'calserve_v1_binary' : null
    const http = httpRow ? c1(httpRow) : null
    const ortB1 = raw.failed === null ? (raw.batches.find((b) => b.batch === 1)?.ms_per_run ?? null) : null
    const best = raw.failed === null ? raw.best : null
    let perBatch: Extract<ModelResult['calibration'], { per_request: unknown }>['per_batch'] = null
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

  const bytes: Record<string, number> = {}
  for (const spec of specs) bytes[spec.id] = spec.requests(m)[0]?.body?.byteLength ?? 0
  return {
    key: m.key,
    title: m.title,
    name: m.name,
    input_shape: m.sampleShape,
    classes: m.labels.length,
    fine_tuning_classes: m.fineTuning,
    request_bytes: bytes,
    distinct_requests: m.samples.length,
    duration_s: m.durationS,
    warmup_s: cfg.warmup,
    rounds: cfg.rounds,
    raw,
    rows,
    ratios,
    calibration,
    notes,
  }
}

// ---------------------------------------------------------------------------------------------
// RSS over a long run.

async function rssPhase(m: BenchModel): Promise<RssResult> {
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
  say(`\n== RSS: calserve (${m.name}, v1 JSON), ${connections} connections, ${cfg.rssDuration} s`)
  const spec = ROWS.find((r) => r.id === 'calserve_v1_json')!
  await withServer(m, 'calserve', [], async (server) => {
    const fail = await probe(server, m, spec)
    if (fail) {
      result.failed = fail
      return
    }
    const prepared = await prepareRequests(join(TMP, 'requests', `${m.key}-rss`), `127.0.0.1:${server.port}`, v1Json(m))
    await runWrk({ baseUrl: server.baseUrl, prepared, connections, durationS: cfg.rssWarmup, cpus: cfg.pin.client })
    const t0 = Date.now()
    const sample = async () => {
      const rss = await rssOf(server.pid)
      if (rss !== null) result.samples.push({ t_s: round((Date.now() - t0) / 1000, 1), rss_mib: round(rss / 2 ** 20, 2) })
    }
    await sample()
    const timer = setInterval(() => void sample(), 1000)
    try {
      result.load = await runWrk({ baseUrl: server.baseUrl, prepared, connections, durationS: cfg.rssDuration, cpus: cfg.pin.client })
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
// Targets (issue 16), at the highest --connections (64 by default).

function targets(models: ModelResult[], rss: RssResult | null): Target[] {
  const out: Target[] = []
  const top = Math.max(...cfg.connections)
  const note = top === 64 ? undefined : `at ${top} connections, not 64`
  const ge = (id: string, description: string, measured: number | null, threshold: number, unit: string, n = note) =>
    out.push(judge({ id, description, measured, unit, op: '>=', threshold, note: n }))
  const le = (id: string, description: string, measured: number | null, threshold: number, unit: string, n = note) =>
    out.push(judge({ id, description, measured, unit, op: '<=', threshold, note: n }))
  const ratio = (m: ModelResult, row: string, vs: string) => m.ratios.find((r) => r.row === row && r.connections === top)?.vs[vs] ?? null
  const p99 = (m: ModelResult, row: string) => m.rows.find((r) => r.id === row)?.cells.find((c) => c.connections === top)?.p99_ms ?? null
  for (const m of models) {
    const name = { small: 'MLP', cnn: 'CNN', large: 'ResNet', image: 'Image' }[m.key]
    if (m.key === 'small' || m.key === 'cnn') {
      ge(`${m.key}.v1_json.vs_json_parse`, `${name}, c=${top}: v1 JSON ≥ 0.8× Fastify JSON parse`, ratio(m, 'calserve_v1_json', 'json_parse'), 0.8, '×')
      if (m.key === 'cnn') ge(`${m.key}.v1_json.vs_naive`, `${name}, c=${top}: v1 JSON ≥ 1.3× naive`, ratio(m, 'calserve_v1_json', 'naive'), 1.3, '×')
      ge(`${m.key}.v1_binary.vs_bare`, `${name}, c=${top}: v1 binary ≥ 0.8× bare Fastify`, ratio(m, 'calserve_v1_binary', 'bare'), 0.8, '×')
      ge(`${m.key}.v2_json.vs_v1_json`, `${name}, c=${top}: v2 JSON within 10% of v1 JSON`, ratio(m, 'calserve_v2_json', 'calserve_v1_json'), 0.9, '×')
      for (const [row, label] of [
        ['calserve_v1_json', 'v1 JSON'],
        ['calserve_v1_binary', 'v1 binary'],
        ['calserve_v2_json', 'v2 JSON'],
      ] as const)
        le(`${m.key}.${row}.p99`, `${name}, c=${top}: ${label} p99 ≤ 10 ms`, p99(m, row), 10, 'ms')
    } else if (m.key === 'large') {
      ge(`${m.key}.v1_binary.vs_raw`, `${name}, c=${top}: v1 binary ≥ 0.9× raw onnxruntime (same core budget)`, ratio(m, 'calserve_v1_binary', 'raw'), 0.9, '×')
      ge(`${m.key}.v2_binary.vs_raw`, `${name}, c=${top}: v2 binary ≥ 0.9× raw onnxruntime (same core budget)`, ratio(m, 'calserve_v2_binary', 'raw'), 0.9, '×')
      ge(`${m.key}.grpc.vs_v2_binary`, `${name}, c=${top}: gRPC within 5% of REST v2 binary`, ratio(m, 'calserve_grpc', 'calserve_v2_binary'), 0.95, '×')
    }
    const share = 'failed' in m.calibration ? null : m.calibration.pct_of_http
    le(`${m.key}.calibration_share`, `${name}: calibration step ≤ 1% of predict (p50 at c=1)`, share, 1, '%', undefined)
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
  const margin =
    t.op === '>=' ? ((t.measured - t.threshold) / t.threshold) * 100 : t.threshold === 0 ? -t.measured : ((t.threshold - t.measured) / t.threshold) * 100
  return { ...t, status: ok ? 'PASS' : 'MISS', margin_pct: round(margin, 1) }
}

// ---------------------------------------------------------------------------------------------
// Machine, saving, README.

async function machine(pin: Pinning, wrk: string): Promise<Machine> {
  const version = async (pkg: string) => (JSON.parse(await readFile(join('node_modules', pkg, 'package.json'), 'utf8')) as { version?: string }).version ?? '?'
  const git = (args: string[]): string | null => {
    try {
      return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    } catch {
      return null
    }
  }
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
    load_generator: `${wrk}, one thread`,
    pinning: pin,
    git_commit: git(['rev-parse', 'HEAD']),
    git_dirty: status === null ? null : status.length > 0,
    loadavg_start: os.loadavg().map((x) => round(x, 2)),
    loadavg_end: null,
  }
}

function commandLine(): string {
  const args = process.argv.slice(2).map((a) => (/^[\w,.:@/=-]+$/.test(a) ? a : `'${a}'`))
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
  const wrk = ensureWrk(say)
  // A compiled variant runs its checkout's dist/: build it once, now, from that checkout's sources.
  for (const v of variants.values())
    if (v.compiled) {
      say(`building ${v.root ?? '.'} for variant ${v.name} (npm run build)`)
      execFileSync('npm', ['run', '-s', 'build'], { cwd: v.root ?? '.', stdio: 'inherit' })
    }
  const results: BenchResults = {
    started_at: startedAt.toISOString(),
    finished_at: '',
    command: commandLine(),
    quick,
    machine: await machine(cfg.pin, wrk),
    config: {
      models: cfg.models,
      rows: selected.map((r) => r.id),
      variants: Object.fromEntries(variants),
      connections: cfg.connections,
      duration_s: cfg.duration,
      warmup_s: cfg.warmup,
      row_warmup_s: cfg.rowWarmup,
      rss_duration_s: cfg.rssDuration,
      rss_warmup_s: cfg.rssWarmup,
      resnet_input_size: cfg.size,
      raw_batches: cfg.rawBatches,
      raw_budget_ms: cfg.rawBudgetMs,
      gamma: cfg.gamma,
      manifest_extra: cfg.manifestExtra ?? null,
      calserve_log_level: cfg.logLevel ?? 'calserve default',
      cpu_prof: cfg.cpuProf,
      rounds: cfg.rounds,
    },
    models: [],
    rss: null,
    targets: [],
  }
  const m = results.machine
  say(
    `calserve bench${quick ? ' (quick)' : ''}: ${m.cpu_model}, ${m.cores} cores, ${m.total_memory_gib} GiB, Node ${m.node}, onnxruntime-node ${m.onnxruntime_node}, ${m.load_generator}`,
  )
  say(`command: ${results.command}`)
  say(cfg.pin.note ?? `server and raw onnxruntime pinned to CPU ${cfg.pin.server}, wrk to CPU ${cfg.pin.client}`)
  if (m.loadavg_start[0]! > m.cores * 0.5)
    say(`WARNING: the machine is busy (load average ${m.loadavg_start.join(' ')} on ${m.cores} cores): the numbers will be noisy`)
  await mkdir(TMP, { recursive: true })

  const prepared = new Map<ModelKey, BenchModel>()
  const model = async (key: ModelKey) => {
    if (!prepared.has(key)) prepared.set(key, await prepareModel(key, { tmp: TMP, size: cfg.size, duration: cfg.duration, say }))
    return prepared.get(key)!
  }
  for (const key of cfg.models) {
    let spec: BenchModel
    try {
      spec = await model(key)
    } catch (err) {
      say(`\n== ${key}: could not prepare the model: ${(err as Error).message}`)
      continue
    }
    results.models.push(await benchModel(spec))
  }
  if (cfg.rssDuration > 0) results.rss = await rssPhase(await model(cfg.models.includes('cnn') ? 'cnn' : 'small'))
  results.targets = targets(results.models, results.rss)
  results.finished_at = new Date().toISOString()
  results.machine.loadavg_end = os.loadavg().map((x) => round(x, 2))

  const md = renderAll(results)
  say(`\n${md}`)
  const stamp = startedAt
    .toISOString()
    .slice(0, 16)
    .replace(/[:T]/g, (c) => (c === 'T' ? '-' : ''))
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
