// The shape of a benchmark run's results: what bench/results/<run>.json holds.
import type { CalibrationTiming, RawResult } from './inproc.js'
import type { ModelKey } from './models.js'
import type { WrkCell } from './wrk.js'

export type { ModelKey }

/** One measured window, with the server's CPU over it. */
export interface Cell extends WrkCell {
  /** rps × the row's samples per request. */
  samples_per_s: number
  /** Server process CPU (user + system, all threads, /proc/<pid>/stat) per 2xx response, µs. */
  server_cpu_us: number | null
  /** Server CPU seconds over wall seconds: near 1 (one pinned core) means the server was the limit. */
  server_cpu: number | null
}

export interface Row {
  id: string
  label: string
  role: 'baseline' | 'product'
  /** Samples (or images) each request carries. */
  samples_per_request: number
  /** Why the row has no (or incomplete) data; null when it ran. */
  failed: string | null
  cells: Cell[]
}

/** A row's throughput over another row's (or raw onnxruntime's best samples/s) at the same connections. */
export interface Ratio {
  row: string
  connections: number
  vs: Record<string, number | null>
}

export interface CalibrationShare {
  per_request: CalibrationTiming
  /** calserve's p50 latency at concurrency 1 (v1 JSON, else binary): the whole predict seen by a client. */
  http_p50_ms: number | null
  http_row: string | null
  pct_of_http: number | null
  /** The raw ORT run at batch 1, for comparison. */
  ort_batch1_ms: number | null
  pct_of_ort_batch1: number | null
  /** predict() on the raw limit's best batch vs that batch's ORT run. */
  per_batch: (CalibrationTiming & { ort_ms: number; pct_of_ort: number }) | null
}

export interface ModelResult {
  key: ModelKey
  title: string
  name: string
  input_shape: number[]
  classes: number
  fine_tuning_classes: string[]
  request_bytes: Record<string, number>
  distinct_requests: number
  duration_s: number
  warmup_s: number
  /** Rounds each cell was split into, taking turns with the other rows' (--rounds). */
  rounds: number
  raw: (RawResult & { failed: null; pinned_to: string | null }) | { failed: string }
  rows: Row[]
  ratios: Ratio[]
  calibration: CalibrationShare | { failed: string }
  notes: string[]
}

export interface RssResult {
  failed: string | null
  model: string
  connections: number
  duration_s: number
  warmup_s: number
  samples: Array<{ t_s: number; rss_mib: number }>
  start_mib: number | null
  end_mib: number | null
  max_mib: number | null
  growth_pct: number | null
  load: WrkCell | null
}

export interface Target {
  id: string
  description: string
  measured: number | null
  unit: string
  op: '>=' | '<='
  threshold: number
  status: 'PASS' | 'MISS' | 'N/A'
  /** Signed headroom relative to the threshold: positive passes, negative misses by that much. */
  margin_pct: number | null
  note?: string
}

export interface Machine {
  hostname: string
  cpu_model: string
  cores: number
  total_memory_gib: number
  os: string
  node: string
  onnxruntime_node: string
  fastify: string
  load_generator: string
  /** taskset CPU lists: the server's and the load generator's, or why not pinned. */
  pinning: { server: string | null; client: string | null; note: string | null }
  git_commit: string | null
  git_dirty: boolean | null
  /** 1, 5 and 15 min load averages when the run started and ended: other work on the machine skews every number. */
  loadavg_start: number[]
  loadavg_end: number[] | null
}

export interface BenchResults {
  started_at: string
  finished_at: string
  command: string
  quick: boolean
  machine: Machine
  config: Record<string, unknown>
  models: ModelResult[]
  rss: RssResult | null
  targets: Target[]
}
