// One benchmark cell: autocannon at a fixed number of connections for a fixed duration, after a
// warm-up at the same concurrency. Latencies are collected from every 2xx response at full
// resolution (autocannon's own histogram rounds to whole milliseconds, too coarse for a small model).
import { performance } from 'node:perf_hooks'
import autocannon from 'autocannon'

export interface LoadSpec {
  baseUrl: string
  /** Cycled in order by every connection: one request per body. */
  requests: autocannon.Request[]
  connections: number
  durationS: number
  warmupS: number
  timeoutS?: number
}

export interface CellResult {
  connections: number
  duration_s: number
  /** 2xx responses per second over the measured window. */
  rps: number
  ok: number
  p50_ms: number | null
  p90_ms: number | null
  p99_ms: number | null
  max_ms: number | null
  mean_ms: number | null
  /** Socket errors + timeouts + non-2xx responses. */
  errors: number
  non2xx: number
  timeouts: number
  status_codes: Record<string, number>
  /** The first socket error seen, if any (autocannon counts them but doesn't say what they were). */
  first_error: string | null
}

function run(
  opts: autocannon.Options,
  onLatency?: (ms: number) => void,
  onError?: (err: Error) => void,
): Promise<{ result: autocannon.Result; seconds: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const instance = autocannon(opts, (err, result) => {
      if (err) reject(err)
      else resolve({ result, seconds: (performance.now() - t0) / 1000 })
    })
    if (onError) instance.on('reqError', onError)
    if (onLatency)
      instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
        if (status >= 200 && status < 300) onLatency(ms)
      })
  })
}

export function percentile(sorted: Float64Array, p: number): number | null {
  if (sorted.length === 0) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

export async function measure(spec: LoadSpec): Promise<CellResult> {
  const base: autocannon.Options = {
    url: spec.baseUrl,
    connections: spec.connections,
    requests: spec.requests,
    timeout: spec.timeoutS ?? 30,
  }
  if (spec.warmupS > 0) await run({ ...base, duration: spec.warmupS })
  let lat = new Float64Array(1 << 14)
  let n = 0
  let firstError: string | null = null
  const { result, seconds } = await run(
    { ...base, duration: spec.durationS },
    (ms) => {
      if (n === lat.length) {
        const bigger = new Float64Array(lat.length * 2)
        bigger.set(lat)
        lat = bigger
      }
      lat[n++] = ms
    },
    (err) => {
      firstError ??= `${(err as NodeJS.ErrnoException).code ?? err.name}: ${err.message}`
    },
  )
  const sorted = lat.slice(0, n).sort()
  let sum = 0
  for (let i = 0; i < n; i++) sum += sorted[i]!
  const statusCodes: Record<string, number> = {}
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = count
  return {
    connections: spec.connections,
    duration_s: round(seconds, 3),
    rps: round(n / seconds, 1),
    ok: n,
    p50_ms: roundOrNull(percentile(sorted, 50), 3),
    p90_ms: roundOrNull(percentile(sorted, 90), 3),
    p99_ms: roundOrNull(percentile(sorted, 99), 3),
    max_ms: roundOrNull(n ? sorted[n - 1]! : null, 3),
    mean_ms: roundOrNull(n ? sum / n : null, 3),
    errors: result.errors + result.timeouts + result.non2xx,
    non2xx: result.non2xx,
    timeouts: result.timeouts,
    status_codes: statusCodes,
    first_error: firstError,
  }
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

function roundOrNull(x: number | null, digits: number): number | null {
  return x === null ? null : round(x, digits)
}
