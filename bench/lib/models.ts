// The models a run benchmarks and the samples sent to them. Each model is written (or copied) into
// its own model repository under bench/tmp/repos/, one per server configuration, so a manifest
// override (--manifest-extra, or a --variant's) changes only that configuration's model.json.
import { copyFile, link, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { mulberry32 } from '../../test/support/random.js'
import { DEFAULT_MAKE_MODEL, makeModel, verifyModel } from '../make-model.js'

export type ModelKey = 'small' | 'cnn' | 'large'
export const MODEL_KEYS: ModelKey[] = ['small', 'cnn', 'large']

export interface BenchModel {
  key: ModelKey
  title: string
  name: string
  /** The model's folder as made or shipped (model.json + version folders). */
  sourceDir: string
  onnxFile: string
  input: string
  output: string
  sampleShape: number[]
  labels: string[]
  fineTuning: string[]
  /** What each request carries, one sample each; JSON bodies carry exactly these values. */
  samples: Float32Array[]
  durationS: number
  notes: string[]
}

interface Manifest {
  labels: string[]
  fine_tuning_classes: string[]
  input?: { name: string; shape: number[] }
  output?: { name: string }
}

/** The first 64 samples of the digits test set: the MLP's inputs, and (as 1×8×8) the CNN's. */
async function digitsSamples(): Promise<Float32Array[]> {
  const lines = (await readFile('examples/digits/data/test.ndjson', 'utf8')).split('\n').filter((l) => l.trim())
  return lines.slice(0, 64).map((l) => Float32Array.from((JSON.parse(l) as { input: number[] }).input))
}

async function fromManifest(key: ModelKey, title: string, dir: string, samples: Float32Array[], durationS: number, notes: string[]): Promise<BenchModel> {
  const manifest = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as Manifest
  const versions = (await readdir(dir)).filter((d) => /^[1-9][0-9]*$/.test(d)).map(Number)
  return {
    key,
    title,
    name: dir.split('/').at(-1)!,
    sourceDir: dir,
    onnxFile: join(dir, String(Math.max(...versions)), 'model.onnx'),
    input: manifest.input?.name ?? 'pixels',
    output: manifest.output?.name ?? 'logits',
    sampleShape: manifest.input?.shape ?? [samples[0]!.length],
    labels: manifest.labels,
    fineTuning: manifest.fine_tuning_classes,
    samples,
    durationS,
    notes,
  }
}

export interface ModelOptions {
  tmp: string
  size: number
  duration: Record<ModelKey, number>
  say: (s: string) => void
}

export async function prepareModel(key: ModelKey, o: ModelOptions): Promise<BenchModel> {
  if (key === 'small')
    return fromManifest(key, '(a) small: digits MLP 64-128-64-10, the demo model (HTTP-bound)', 'models/digits-finetuned', await digitsSamples(), o.duration.small, [])
  const made = await makeModel({
    ...DEFAULT_MAKE_MODEL,
    arch: key === 'cnn' ? 'cnn' : 'resnet18',
    name: key === 'cnn' ? 'cnn-bench' : DEFAULT_MAKE_MODEL.name,
    size: o.size,
    repo: join(o.tmp, 'models'),
  })
  const check = await verifyModel(made)
  o.say(`made ${made.onnxFile}: ${(made.params / 1e6).toFixed(3)} M parameters, ${(made.bytes / 2 ** 20).toFixed(2)} MiB; onnxruntime ran a batch of 2 in ${check.ms.toFixed(1)} ms`)
  if (key === 'cnn')
    return fromManifest(
      key,
      '(b) CNN: digits-shaped, 1×8×8 → two 3×3 convs → 10 classes, random weights (HTTP-bound, real convolutions)',
      made.dir,
      // The digits pixels (0..16) reshaped to 1×8×8: the same JSON numbers as the MLP's requests.
      await digitsSamples(),
      o.duration.cnn,
      ['Small CNN made by bench/make-model.ts --arch cnn (9.9 k parameters); inputs are the digits test samples as 1×8×8.'],
    )
  const size = made.inputShape.reduce((a, b) => a * b, 1)
  const rand = mulberry32(2024)
  // Pixels in [0, 1] with 3 decimals, rounded in float32: the JSON and binary bodies carry the same values.
  const samples = Array.from({ length: 8 }, () => Float32Array.from({ length: size }, () => Math.round(rand() * 1000) / 1000))
  return fromManifest(key, `(c) compute-bound: ResNet-18-shaped, input 3×${o.size}×${o.size}, random weights`, made.dir, samples, o.duration.large, [
    `ResNet-18 shape (11.2 M parameters) at ${o.size}×${o.size} input${o.size === 224 ? '' : ` (ImageNet size is 224; --size ${o.size} keeps a run short)`}, BatchNorm folded into conv biases, made by bench/make-model.ts.`,
  ])
}

/** Deep merge of plain objects (arrays and scalars replace): how a manifest override applies. */
export function merge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(extra)) {
    const b = out[k]
    out[k] = isObject(b) && isObject(v) ? merge(b, v) : v
  }
  return out
}
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

/**
 * A model repository holding only `m`, its model.json merged with `extra`: <tmp>/repos/<tag>/<name>/.
 * The ONNX files are hard links (copies where linking fails), so a 45 MB ResNet costs nothing.
 */
export async function repositoryFor(m: BenchModel, tmp: string, tag: string, extra: Record<string, unknown> | undefined): Promise<string> {
  const repo = join(tmp, 'repos', `${m.key}-${tag}`)
  const dir = join(repo, m.name)
  await rm(repo, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  for (const entry of await readdir(m.sourceDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || !/^[1-9][0-9]*$/.test(entry.name)) continue
    await mkdir(join(dir, entry.name))
    for (const f of await readdir(join(m.sourceDir, entry.name))) {
      const from = join(m.sourceDir, entry.name, f)
      const to = join(dir, entry.name, f)
      await link(from, to).catch(() => copyFile(from, to))
    }
  }
  const manifest = JSON.parse(await readFile(join(m.sourceDir, 'model.json'), 'utf8')) as Record<string, unknown>
  await writeFile(join(dir, 'model.json'), `${JSON.stringify(extra ? merge(manifest, extra) : manifest, null, 2)}\n`)
  return repo
}
