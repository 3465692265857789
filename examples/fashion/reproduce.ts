// The paper's table for the Fashion-MNIST image demo, computed with calserve's own code on the
// committed PNG splits: its image path (src/inputs/image.ts with the model's image block), its
// onnxruntime runner and its calibration math. `npm run reproduce` prints it after the digits table.
import { readdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { alg, metricsAt, prepare, seenAbsentCurve, sweep, type Logits } from '../../src/calibration/index.js'
import { imageToTensor } from '../../src/inputs/image.js'
import { planImage } from '../../src/inputs/image-plan.js'
import { readManifest } from '../../src/models/manifest.js'
import { OnnxRunner } from '../../src/models/runner.js'

const ROOT = resolve(import.meta.dirname, '../..')
const DATA = join(ROOT, 'examples/fashion/data')

async function loadModel(name: string) {
  const manifest = await readManifest(join(ROOT, 'models', name, 'model.json'))
  const { runner } = await OnnxRunner.load(
    join(ROOT, 'models', name, '1', 'model.onnx'),
    ['cpu'],
    { input: manifest.input, output: manifest.output },
    manifest.session,
  )
  const plan = planImage(manifest.image!, runner.io.input.shape, 'model.json')
  return { manifest, runner, plan }
}

/** Logits of every image of an ImageFolder split, labels from the folder names. */
async function logitsOf(model: Awaited<ReturnType<typeof loadModel>>, labelNames: string[], split: string): Promise<{ logits: Logits; labels: Int32Array }> {
  const root = join(DATA, split)
  const files: Array<{ path: string; label: number }> = []
  for (const folder of (await readdir(root)).sort())
    for (const f of (await readdir(join(root, folder))).sort()) files.push({ path: join(root, folder, f), label: labelNames.indexOf(folder) })
  const size = model.runner.sampleSize
  const data = new Float32Array(files.length * size)
  await Promise.all(
    files.map(async (f, i) => imageToTensor(await readFile(f.path), model.plan, data.subarray(i * size, (i + 1) * size), f.path, { maxPixels: 40_000_000 })),
  )
  const out = await model.runner.run(data, files.length)
  return { logits: { data: Float32Array.from(out), n: files.length, c: labelNames.length }, labels: Int32Array.from(files, (f) => f.label) }
}

const pct = (v: number | null) => (v === null ? '—' : (100 * v).toFixed(1))

export async function reproduceFashion(): Promise<string> {
  const pre = await loadModel('fashion-pretrained')
  const ft = await loadModel('fashion-finetuned')
  const labels = ft.manifest.labels
  const fineTuning = new Set(ft.manifest.fine_tuning_classes)
  const absent = Uint8Array.from(labels, (l) => (fineTuning.has(l) ? 0 : 1))
  const preTest = await logitsOf(pre, labels, 'test')
  const ftTest = await logitsOf(ft, labels, 'test')
  const ftVal = await logitsOf(ft, labels, 'validation')
  const ftTune = await logitsOf(ft, labels, 'fine-tuning')
  await pre.runner.close()
  await ft.runner.close()

  const pPre = prepare(preTest.logits, preTest.labels, absent)
  const pFt = prepare(ftTest.logits, ftTest.labels, absent)
  const ausucPre = seenAbsentCurve(pPre).ausuc
  const ausucFt = seenAbsentCurve(pFt).ausuc
  const rows: Array<[string, number, ReturnType<typeof prepare>, number | null]> = [
    ['pre-trained', 0, pPre, ausucPre],
    ['fine-tuned', 0, pFt, ausucFt],
    ['fine-tuned + γ from ALG (fine-tuning images only)', alg(prepare(ftTune.logits, ftTune.labels, absent)).gamma, pFt, ausucFt],
    ['fine-tuned + γ from sweep (validation images)', sweep(prepare(ftVal.logits, ftVal.labels, absent), 'accuracy').gamma, pFt, ausucFt],
    ['fine-tuned + oracle γ (sweep on the test images)', sweep(pFt, 'accuracy').gamma, pFt, ausucFt],
  ]
  return [
    `| model (fashion, target-domain test images, ${ftTest.logits.n} PNG) | γ | Acc_S/Y | Acc_U/Y | Acc_Y/Y | AUSUC |`,
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map(([name, gamma, p, ausuc]) => {
      const m = metricsAt(p, gamma)
      return `| ${name} | ${gamma.toFixed(3)} | ${pct(m.acc_s_y)} | ${pct(m.acc_u_y)} | ${pct(m.acc_y_y)} | ${ausuc === null ? '—' : ausuc.toFixed(3)} |`
    }),
  ].join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`${await reproduceFashion()}\n`)
