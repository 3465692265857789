// In-process measurements: raw onnxruntime-node (the limit) and the calibration step's cost.
import { availableParallelism } from 'node:os'
import { performance } from 'node:perf_hooks'
import * as ort from 'onnxruntime-node'
import { predict } from '../../src/calibration/index.js'
import { round } from './report.js'

export interface RawBatch {
  batch: number
  runs: number
  ms_per_run: number
  samples_per_s: number
  /** CPU (user + system, every thread of the process) per sample, when measured. */
  cpu_us_per_sample?: number
}

export interface RawResult {
  batches: RawBatch[]
  best: RawBatch | null
  session_options: string
}

/**
 * Times session.run back to back at each batch size, one run at a time, for about `budgetMs`
 * each (at least `minRuns` runs, after one warm-up run). `samples` are cycled to fill the batches.
 */
export async function rawOnnxruntime(
  onnxFile: string,
  io: { input: string; output: string; sampleShape: number[] },
  samples: Float32Array[],
  batchSizes: number[],
  budgetMs: number,
  minRuns = 3,
  measureCpu = false,
): Promise<RawResult> {
  // One intra-op thread per CPU this process may use: what calserve (src/models/runner.ts) and the
  // naive server also get. onnxruntime's own default pins pool threads to every core, past taskset.
  const session = await ort.InferenceSession.create(onnxFile, { intraOpNumThreads: availableParallelism() })
  const sampleSize = io.sampleShape.reduce((a, b) => a * b, 1)
  const batches: RawBatch[] = []
  try {
    for (const b of batchSizes) {
      const data = new Float32Array(b * sampleSize)
      for (let i = 0; i < b; i++) data.set(samples[i % samples.length]!, i * sampleSize)
      const feeds = { [io.input]: new ort.Tensor('float32', data, [b, ...io.sampleShape]) }
      await session.run(feeds, [io.output])
      let runs = 0
      const cpu0 = process.cpuUsage()
      const t0 = performance.now()
      let elapsed = 0
      while (runs < minRuns || elapsed < budgetMs) {
        await session.run(feeds, [io.output])
        runs++
        elapsed = performance.now() - t0
      }
      const cpu = process.cpuUsage(cpu0)
      batches.push({
        batch: b,
        runs,
        ms_per_run: round(elapsed / runs, 4),
        samples_per_s: round((b * runs * 1000) / elapsed, 1),
        ...(measureCpu ? { cpu_us_per_sample: round((cpu.user + cpu.system) / (b * runs), 2) } : {}),
      })
    }
  } finally {
    await session.release()
  }
  const best = batches.reduce<RawBatch | null>((a, x) => (a === null || x.samples_per_s > a.samples_per_s ? x : a), null)
  return { batches, best, session_options: `intraOpNumThreads ${availableParallelism()} (the CPUs this process may use), otherwise onnxruntime defaults` }
}

export interface CalibrationTiming {
  classes: number
  /** Samples per predict() call. */
  n: number
  /** Median over chunks of 100 calls: robust to the process being preempted by other work. */
  us_per_call: number
  us_per_call_mean: number
  calls: number
}

/**
 * How long `predict()` from src/calibration/apply.ts takes on n×C logits with a non-zero γ,
 * temperature 1 and top_k 1 (what a default predict request asks for), over ~budgetMs.
 */
export function timeCalibration(absent: Uint8Array, n: number, budgetMs: number, seed = 3): CalibrationTiming {
  const c = absent.length
  let s = seed >>> 0
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296
  // A few distinct logit blocks so the branch predictor can't learn one row.
  const blocks = Array.from({ length: 16 }, () => Float32Array.from({ length: n * c }, () => (rand() - 0.5) * 10))
  const cal = { gamma: 1.5, temperature: 1 }
  const chunk = 100
  let sink = 0
  for (let i = 0; i < 20 * chunk; i++) sink += predict({ data: blocks[i % 16]!, n, c }, absent, cal, 1)[0]!.index
  const chunks: number[] = []
  const t0 = performance.now()
  let elapsed = 0
  while (elapsed < budgetMs || chunks.length < 5) {
    const t = performance.now()
    for (let i = 0; i < chunk; i++) sink += predict({ data: blocks[i % 16]!, n, c }, absent, cal, 1)[0]!.index
    chunks.push(performance.now() - t)
    elapsed = performance.now() - t0
  }
  if (sink < 0) throw new Error('unreachable')
  chunks.sort((a, b) => a - b)
  const median = chunks[Math.floor(chunks.length / 2)]!
  return {
    classes: c,
    n,
    us_per_call: round((median * 1000) / chunk, 4),
    us_per_call_mean: round((elapsed * 1000) / (chunks.length * chunk), 4),
    calls: chunks.length * chunk,
  }
}
