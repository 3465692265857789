// Benchmark of the calibration math on a large synthetic validation set.
// Run: npx tsx bench/calibration.ts
// 100,000 samples × 1,000 classes (half absent), seeded, so runs are comparable across machines.
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { alg, predict, prepare, seenAbsentCurve, sweep } from '../src/calibration/index.js'
import { mulberry32 } from '../test/support/random.js'

const N = 100_000
const C = 1_000
const SEED = 12345

const rand = mulberry32(SEED)
const absent = new Uint8Array(C)
for (let j = 0; j < C; j++) absent[j] = rand() < 0.5 ? 1 : 0
const labels = new Int32Array(N)
const data = new Float32Array(N * C)
// Fine-tuned-model-like logits: noise, +3 on the true class, +1.5 on every fine-tuning class
// (the scale drift that γ corrects). Noise is a cheap approximate normal (sum of 4 uniforms).
for (let i = 0; i < N; i++) {
  const y = Math.floor(rand() * C)
  labels[i] = y
  const o = i * C
  for (let j = 0; j < C; j++) {
    data[o + j] = (rand() + rand() + rand() + rand() - 2) * 1.7 + (absent[j] ? 0 : 1.5) + (j === y ? 3 : 0)
  }
}
const logits = { data, n: N, c: C }

function time<T>(label: string, fn: () => T): T {
  const t0 = performance.now()
  const r = fn()
  const ms = performance.now() - t0
  process.stdout.write(`${label.padEnd(28)} ${ms.toFixed(1).padStart(9)} ms\n`)
  return r
}

const cpus = os.cpus()
process.stdout.write(
  `machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, node ${process.version}\n` +
    `set: ${N.toLocaleString('en')} × ${C.toLocaleString('en')} logits, ${absent.reduce((s, v) => s + v, 0)} absent classes\n`,
)
const t0 = performance.now()
const p = time('prepare', () => prepare(logits, labels, absent))
const s = time("sweep('accuracy')", () => sweep(p, 'accuracy'))
const curve = time('seenAbsentCurve', () => seenAbsentCurve(p))
process.stdout.write(`${'prepare+sweep+curve'.padEnd(28)} ${(performance.now() - t0).toFixed(1).padStart(9)} ms\n`)
const a = time('alg', () => alg(p))
time('predict (k = 5, all rows)', () => predict(logits, absent, { gamma: s.gamma, temperature: 1 }, 5))
process.stdout.write(
  `sweep γ = ${s.gamma.toFixed(4)} (Acc_Y/Y ${s.value.toFixed(4)}), alg γ = ${a.gamma.toFixed(4)}, ` +
    `AUSUC ${curve.ausuc?.toFixed(4)}, curve points ${curve.points.length}\n`,
)
