// In-process microbench of a JSON predict body's decode: the slow path (the pre-parse budget
// scan, JSON.parse, the schema, the decoder) against the one-pass scan of
// src/inputs/json-samples.ts, for v1 bodies and REST v2 requests, interleaved round by round so machine noise hits both alike, after
// checking both give the same float32 bits. Bodies as the bench sends them (seeded values written
// with 7 significant digits), for 64-number samples (the MLP and the CNN), 16 of them per body,
// 784 (Fashion-MNIST) and 37,632 (the ResNet's 3×112×112).
//   npx tsx bench/json-decode.ts [--rounds 20]
import { parseArgs } from 'node:util'
import { PredictRequestSchema } from '../src/api/v1.js'
import { checkJsonBudget, sampleBudget } from '../src/inputs/json-budget.js'
import { decodeInput, parseInferRequest } from '../src/http/v2/codec.js'
import { scanInferRequest, scanJsonSamples, type MemberKind } from '../src/inputs/json-samples.js'
import { decodeJsonSamples, MAX_SAMPLE_DEPTH } from '../src/inputs/tensor.js'
import { mulberry32 } from '../test/support/random.js'

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' } } })
const rounds = Number(values.rounds)
const OPTIONS: Record<string, MemberKind> = { top_k: 'positive-integer', calibrated: 'boolean', return_logits: 'boolean', return_sets: 'boolean' }
const limits = { maxSamples: 1024, maxJsonNumbers: 262_144 }

function body(sampleSize: number, samples: number): Buffer {
  const random = mulberry32(sampleSize * 31 + samples)
  const rows = Array.from({ length: samples }, () => Array.from({ length: sampleSize }, () => Number((random() * 4 - 2).toPrecision(7))))
  return Buffer.from(JSON.stringify({ inputs: rows, top_k: 3 }))
}

function slow(b: Buffer, sampleSize: number): Float32Array {
  checkJsonBudget(b, sampleBudget(limits, sampleSize, MAX_SAMPLE_DEPTH, 2))
  const request = PredictRequestSchema.parse(JSON.parse(b.toString('utf8')))
  return decodeJsonSamples(request.inputs!, sampleSize)
}

function fast(b: Buffer, sampleSize: number): Float32Array {
  return scanJsonSamples(b, 'inputs', sampleSize, limits.maxJsonNumbers, OPTIONS)!.data
}

/** Median µs per call of `slow` and `fast` on `b`, interleaved round by round. */
function time(b: Buffer, size: number, slow: (b: Buffer, size: number) => unknown, fast: (b: Buffer, size: number) => unknown): [number, number] {
  // Enough calls per round for ~20 ms of the slower path.
  const calls = Math.max(20, Math.round(2_000_000 / b.length))
  const times = { slow: [] as number[], fast: [] as number[] }
  for (let r = 0; r < rounds + 2; r++) {
    for (const [name, fn] of [
      ['slow', slow],
      ['fast', fast],
    ] as const) {
      const t0 = process.hrtime.bigint()
      for (let k = 0; k < calls; k++) fn(b, size)
      const us = Number(process.hrtime.bigint() - t0) / 1000 / calls
      if (r >= 2) times[name].push(us)
    }
  }
  const median = (xs: number[]) => xs.sort((a, z) => a - z)[xs.length >> 1]!
  return [median(times.slow), median(times.fast)]
}

const cases: Array<[string, number, number]> = [
  ['64 numbers, 1 sample', 64, 1],
  ['64 numbers, 16 samples', 64, 16],
  ['784 numbers, 1 sample', 784, 1],
  ['37,632 numbers, 1 sample', 37_632, 1],
]
console.log(`| body | bytes | slow path µs | one-pass scan µs | slow ÷ scan |`)
console.log(`|---|---:|---:|---:|---:|`)
for (const [what, size, samples] of cases) {
  const b = body(size, samples)
  const expected = new Uint32Array(slow(b, size).slice().buffer)
  const got = new Uint32Array(fast(b, size).slice().buffer)
  if (expected.length !== got.length || expected.some((x, i) => x !== got[i])) throw new Error(`${what}: the two paths disagree`)
  const [s, f] = time(b, size, slow, fast)
  console.log(`| ${what} | ${b.length.toLocaleString('en')} | ${s.toFixed(2)} | ${f.toFixed(2)} | ${(s / f).toFixed(1)}× |`)
}
// The same for a REST v2 (Open Inference Protocol) request of one FP32 input, as the bench's v2 JSON row sends it.
function v2Body(sampleSize: number): Buffer {
  const random = mulberry32(sampleSize)
  const data = Array.from({ length: sampleSize }, () => Number((random() * 4 - 2).toPrecision(7)))
  const outputs = [{ name: 'label' }, { name: 'score' }, { name: 'class_index' }]
  return Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, sampleSize], datatype: 'FP32', data }], outputs }))
}
const v2Slow = (b: Buffer, sampleSize: number) => {
  checkJsonBudget(b, sampleBudget(limits, sampleSize, MAX_SAMPLE_DEPTH, 4))
  return decodeInput(parseInferRequest(b, undefined, JSON.parse), { name: 'x', shape: [sampleSize] }, limits.maxSamples).data
}
const v2Fast = (b: Buffer, sampleSize: number) => {
  const scanned = scanInferRequest(b, limits.maxJsonNumbers)!
  const bytes = Buffer.from(scanned.data.buffer, scanned.data.byteOffset, scanned.data.byteLength)
  return decodeInput({ request: scanned.request, binary: [bytes] }, { name: 'x', shape: [sampleSize] }, limits.maxSamples).data
}
for (const size of [64, 784]) {
  const b = v2Body(size)
  const expected = new Uint32Array(v2Slow(b, size).slice().buffer)
  const got = new Uint32Array(v2Fast(b, size).slice().buffer)
  if (expected.length !== got.length || expected.some((x, i) => x !== got[i])) throw new Error(`v2 ${size}: the two paths disagree`)
  const [s, f] = time(b, size, v2Slow, v2Fast)
  console.log(`| REST v2, one FP32 input of ${size} numbers | ${b.length.toLocaleString('en')} | ${s.toFixed(2)} | ${f.toFixed(2)} | ${(s / f).toFixed(1)}× |`)
}
console.log(`\n${rounds} rounds after 2 of warm-up, median µs per body; Node ${process.version}.`)
