// `npm run reproduce`: the paper's table on the demo's target-domain test split, computed with
// calserve's own code (its onnxruntime runner, its tensor decoding and its calibration math) on the
// committed files, and the seen–absent curves of both models in one SVG.
import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { alg, metricsAt, prepare, seenAbsentCurve, sweep, type Logits } from '../../src/calibration/index.js'
import { readDataset } from '../../src/cli/datasets.js'
import { readManifest } from '../../src/models/manifest.js'
import { OnnxRunner } from '../../src/models/runner.js'
import { decodeSample } from '../../src/inputs/tensor.js'
import { renderCurveSvg } from '../../src/render/curve-svg.js'

const ROOT = resolve(import.meta.dirname, '../..')
const DATA = join(ROOT, 'examples/digits/data')
export const SVG_PATH = join(ROOT, 'examples/digits/curves.svg')

interface LabelledLogits {
  logits: Logits
  labels: Int32Array
}

async function loadModel(name: string) {
  const manifest = await readManifest(join(ROOT, 'models', name, 'model.json'))
  const { runner } = await OnnxRunner.load(
    join(ROOT, 'models', name, '1', 'model.onnx'),
    ['cpu'],
    { input: manifest.input, output: manifest.output },
    manifest.session,
  )
  return { manifest, runner }
}

async function logitsOf(runner: OnnxRunner, labelNames: string[], file: string): Promise<LabelledLogits> {
  const samples = await readDataset(join(DATA, file))
  const data = new Float32Array(samples.length * runner.sampleSize)
  const labels = new Int32Array(samples.length)
  samples.forEach((s, i) => {
    decodeSample(s.input, data.subarray(i * runner.sampleSize, (i + 1) * runner.sampleSize), { where: s.where, details: {} })
    labels[i] = labelNames.indexOf(String(s.label))
  })
  const out = await runner.run(data, samples.length)
  return { logits: { data: Float32Array.from(out), n: samples.length, c: labelNames.length }, labels }
}

const pct = (v: number | null) => (v === null ? '—' : (100 * v).toFixed(1))

export async function reproduce(): Promise<{ table: string; svg: string }> {
  const pre = await loadModel('digits-pretrained')
  const ft = await loadModel('digits-finetuned')
  const labels = ft.manifest.labels
  // Both models are judged on the fine-tuned model's split: S = digits 0–4, U = digits 5–9.
  const fineTuning = new Set(ft.manifest.fine_tuning_classes)
  const absent = Uint8Array.from(labels, (l) => (fineTuning.has(l) ? 0 : 1))

  const preTest = await logitsOf(pre.runner, labels, 'test.ndjson')
  const ftTest = await logitsOf(ft.runner, labels, 'test.ndjson')
  const ftVal = await logitsOf(ft.runner, labels, 'val.ndjson')
  const ftTune = await logitsOf(ft.runner, labels, 'finetune.ndjson')
  await pre.runner.close()
  await ft.runner.close()

  const pPre = prepare(preTest.logits, preTest.labels, absent)
  const pFt = prepare(ftTest.logits, ftTest.labels, absent)
  const curvePre = seenAbsentCurve(pPre)
  const curveFt = seenAbsentCurve(pFt)
  const gammaAlg = alg(prepare(ftTune.logits, ftTune.labels, absent)).gamma
  const gammaVal = sweep(prepare(ftVal.logits, ftVal.labels, absent), 'accuracy').gamma
  const gammaOracle = sweep(pFt, 'accuracy').gamma

  const rows: Array<[string, number, ReturnType<typeof prepare>, number | null]> = [
    ['pre-trained', 0, pPre, curvePre.ausuc],
    ['fine-tuned', 0, pFt, curveFt.ausuc],
    ['fine-tuned + γ from ALG (fine-tuning data only)', gammaAlg, pFt, curveFt.ausuc],
    ['fine-tuned + γ from sweep (validation split)', gammaVal, pFt, curveFt.ausuc],
    ['fine-tuned + oracle γ (sweep on the test split)', gammaOracle, pFt, curveFt.ausuc],
  ]
  const lines = [
    '| model (target-domain test split, 315 samples) | γ | Acc_S/Y | Acc_U/Y | Acc_Y/Y | AUSUC |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map(([name, gamma, p, ausuc]) => {
      const m = metricsAt(p, gamma)
      return `| ${name} | ${gamma.toFixed(3)} | ${pct(m.acc_s_y)} | ${pct(m.acc_u_y)} | ${pct(m.acc_y_y)} | ${ausuc === null ? '—' : ausuc.toFixed(3)} |`
    }),
  ]
  const mark = (name: string, gamma: number) => {
    const m = metricsAt(pFt, gamma)
    return { name, gamma, acc_s_y: m.acc_s_y, acc_u_y: m.acc_u_y }
  }
  const svg = renderCurveSvg({
    title: 'digits, target-domain test split: seen–absent curves',
    curves: [
      { name: 'pre-trained', points: curvePre.points, ausuc: curvePre.ausuc },
      { name: 'fine-tuned', points: curveFt.points, ausuc: curveFt.ausuc },
    ],
    marks: [mark('fine-tuned', 0), mark('+ ALG', gammaAlg), mark('+ validation sweep', gammaVal)],
  })
  return { table: lines.join('\n'), svg }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { table, svg } = await reproduce()
  writeFileSync(SVG_PATH, svg)
  process.stdout.write(`${table}\n\nseen–absent curves written to ${SVG_PATH}\n`)
}
