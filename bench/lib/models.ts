// The models a run benchmarks and the samples sent to them. Each model is written (or copied) into
// its own model repository under bench/tmp/repos/, one per server configuration, so a manifest
// override (--manifest-extra, or a --variant's) changes only that configuration's model.json.
import { copyFile, link, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import sharp from 'sharp'
import { mulberry32 } from '../../test/support/random.js'
import { DEFAULT_MAKE_MODEL, makeModel, verifyModel } from '../make-model.js'

export type ModelKey = 'small' | 'cnn' | 'large' | 'image'
export const MODEL_KEYS: ModelKey[] = ['small', 'cnn', 'large', 'image']

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
  /** The image model only: the encoded PNGs whose preprocessed tensors are `samples`, index for index. */
  images?: Buffer[]
  durationS: number
  notes: string[]
}

interface Manifest {
  labels: string[]
  fine_tuning_classes: string[]
  input?: { name: string; shape: number[] }
  output?: { name: string }
  image?: { size: { height: number; width: number }; rescale_factor: number; image_mean: number[]; image_std: number[] }
}

const IMAGE_MODEL = 'models/fashion-finetuned'

/**
 * 64 seeded 28×28 grayscale PNGs (sharp encodes them) and, index for index, the float32 tensors
 * calserve's preprocessing makes of them: ((p · rescale_factor) − mean) / std, each step rounded to
 * float32 as src/inputs/image-plan.ts does. The image already has the model's size and colour, so
 * no resize runs and the binary rows carry exactly the tensors the image rows decode to.
 */
export async function fashionSamples(dir: string): Promise<{ images: Buffer[]; samples: Float32Array[] }> {
  const manifest = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as Manifest
  const block = manifest.image
  if (!block) throw new Error(`${dir}/model.json has no image block`)
  const { height, width } = block.size
  const mean = Math.fround(block.image_mean[0]!)
  const std = Math.fround(block.image_std[0]!)
  const rand = mulberry32(1613)
  const images: Buffer[] = []
  const samples: Float32Array[] = []
  for (let k = 0; k < 64; k++) {
    // Smooth blobs over a dark background (as product photos on black are), not white noise: PNG
    // compresses them as it would a real photo, so body sizes and inflate cost are realistic.
    const cx = rand() * width
    const cy = rand() * height
    const r = 4 + rand() * 10
    const pixels = Buffer.alloc(height * width)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const d = Math.hypot(x - cx, y - cy) / r
        pixels[y * width + x] = Math.min(255, Math.max(0, Math.round(255 * Math.exp(-d * d) + rand() * 24)))
      }
    images.push(
      await sharp(pixels, { raw: { width, height, channels: 1 } })
        .png()
        .toBuffer(),
    )
    samples.push(Float32Array.from(pixels, (p) => Math.fround(Math.fround(Math.fround(p * block.rescale_factor) - mean) / std)))
  }
  return { images, samples }
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
  if (key === 'image') {
    const { images, samples } = await fashionSamples(IMAGE_MODEL)
    const model = await fromManifest(
      key,
      '(d) image: the Fashion-MNIST demo CNN (fashion-finetuned), 28×28 grayscale, PNG or float32',
      IMAGE_MODEL,
      samples,
      o.duration.image,
      [
        'The image demo model from models/ with its image block; requests are 64 seeded 28×28 grayscale PNGs made with sharp at bench start, and the binary rows carry the float32 tensors calserve makes of the same PNGs.',
      ],
    )
    return { ...model, images }
  }
  if (key === 'small')
    return fromManifest(
      key,
      '(a) small: digits MLP 64-128-64-10, the demo model (HTTP-bound)',
      'models/digits-finetuned',
      await digitsSamples(),
      o.duration.small,
      [],
    )
  const made = await makeModel({
    ...DEFAULT_MAKE_MODEL,
    arch: key === 'cnn' ? 'cnn' : 'resnet18',
    name: key === 'cnn' ? 'cnn-bench' : DEFAULT_MAKE_MODEL.name,
    size: o.size,
    repo: join(o.tmp, 'models'),
  })
  const check = await verifyModel(made)
  o.say(
    `made ${made.onnxFile}: ${(made.params / 1e6).toFixed(3)} M parameters, ${(made.bytes / 2 ** 20).toFixed(2)} MiB; onnxruntime ran a batch of 2 in ${check.ms.toFixed(1)} ms`,
  )
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
