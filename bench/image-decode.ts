// In-process microbench of src/inputs/image.ts: the bench's 64 seeded 28×28 grayscale PNGs
// (bench/lib/models.ts) through imageToTensor with the Fashion-MNIST demo's plan, N rounds, and
// the process's CPU time (process.cpuUsage counts libuv's and libvips' threads too) per image.
// With --compare DIR it also loads DIR/src/inputs/image.ts (another checkout, e.g. /work/main),
// interleaves the two round by round so machine noise hits both alike, and first checks that both
// make the same tensors bit for bit, on the PNGs and on the test fixtures under several plans.
//   npx tsx bench/image-decode.ts [--rounds 20] [--compare /work/main] [--parallel]
// --parallel decodes each round's 64 images at once (as a 64-part request does); otherwise one by one.
import { readFileSync, readdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import sharp, { type Sharp } from 'sharp'
import { planImage, type ImagePlan } from '../src/inputs/image-plan.js'
import { ImageBlockSchema, type ImageBlock } from '../src/models/manifest.js'
import { fashionSamples } from './lib/models.js'

type ImageToTensor = (bytes: Uint8Array, plan: ImagePlan, slot: Float32Array, where: string, limits: { maxPixels: number }) => Promise<void>

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '20' }, compare: { type: 'string' }, parallel: { type: 'boolean', default: false } },
})
const rounds = Number(values.rounds)
const limits = { maxPixels: 40_000_000 }

const impls: Array<[string, ImageToTensor]> = [['this checkout', (await import('../src/inputs/image.js')).imageToTensor]]
if (values.compare)
  impls.push([values.compare, ((await import(resolve(values.compare, 'src/inputs/image.ts'))) as { imageToTensor: ImageToTensor }).imageToTensor])

const demoDir = 'models/fashion-finetuned'
const demoBlock = (JSON.parse(readFileSync(`${demoDir}/model.json`, 'utf8')) as { image: ImageBlock }).image
const demoPlan = planImage(ImageBlockSchema.parse(demoBlock), [1, 28, 28], 'model.json')
const { images } = await fashionSamples(demoDir)

async function tensorOrError(fn: ImageToTensor, bytes: Uint8Array, plan: ImagePlan, maxPixels = limits.maxPixels): Promise<Float32Array | string> {
  const slot = new Float32Array(plan.channels * plan.height * plan.width)
  try {
    await fn(bytes, plan, slot, 'image', { maxPixels })
    return slot
  } catch (err) {
    return (err as Error).message
  }
}

const same = (a: Float32Array | string, b: Float32Array | string) =>
  typeof a === 'string' || typeof b === 'string' ? a === b : a.length === b.length && a.every((v, i) => Object.is(v, b[i]))

if (impls.length === 2) {
  const plans: Array<[string, Record<string, unknown>, number[]]> = [
    ['28×28 gray', { size: { height: 28, width: 28 } }, [1, 28, 28]],
    ['30×40 rgb', { size: { height: 30, width: 40 } }, [3, 30, 40]],
    ['12×16 rgb bilinear', { size: { height: 12, width: 16 } }, [3, 12, 16]],
    ['12×16 gray bicubic', { size: { height: 12, width: 16 }, resample: 'bicubic', color: 'grayscale' }, [1, 12, 16]],
    [
      'shortest 20 crop 16 nearest bgr nhwc',
      { size: { shortest_edge: 20 }, crop_size: { height: 16, width: 16 }, resample: 'nearest', color: 'bgr' },
      [16, 16, 3],
    ],
    ['42×56 rgb bilinear (up)', { size: { height: 42, width: 56 } }, [3, 42, 56]],
  ]
  const fixtures = resolve(import.meta.dirname, '../test/fixtures/images')
  const inputs = [
    ...readdirSync(fixtures)
      .filter((f) => f !== 'make_images.py')
      .map((f) => [f, readFileSync(resolve(fixtures, f))] as const),
    ...images.map((b, i) => [`seeded ${i}`, b] as const),
    ...(await encodings(readFileSync(resolve(fixtures, 'rgba.png')))),
  ]
  let checked = 0
  for (const [planName, block, shape] of plans) {
    const p = planImage(ImageBlockSchema.parse(block), shape, 'model.json')
    for (const [name, bytes] of inputs)
      for (const maxPixels of [limits.maxPixels, 700]) {
        const [a, b] = [await tensorOrError(impls[0]![1], bytes, p, maxPixels), await tensorOrError(impls[1]![1], bytes, p, maxPixels)]
        if (!same(a, b))
          throw new Error(
            `${name} (${planName}, maxPixels ${maxPixels}) differs: ${typeof a === 'string' ? a : 'tensor'} vs ${typeof b === 'string' ? b : 'tensor'}`,
          )
        checked++
      }
  }
  console.log(`identical: ${checked} (image, plan, limit) cases give the same tensor or the same error message`)
}

/** Encodings the fixtures lack, each header kind readHeader tells apart, made with sharp from an RGBA image. */
async function encodings(rgba: Buffer): Promise<Array<readonly [string, Buffer]>> {
  const s = () => sharp(rgba)
  const made: Array<[string, Sharp]> = [
    ['gray JPEG', s().flatten().toColourspace('b-w').jpeg()],
    ['progressive JPEG', s().flatten().jpeg({ progressive: true })],
    ['palette PNG', s().png({ palette: true })],
    ['gray + alpha PNG', s().toColourspace('b-w').png()],
    ['interlaced 16-bit RGB PNG', s().flatten().toColourspace('rgb16').png({ progressive: true })],
    ['lossy WebP', s().flatten().webp()],
    ['lossless WebP', s().flatten().webp({ lossless: true })],
    ['WebP with alpha (VP8X)', s().webp()],
    ['WebP with EXIF (VP8X)', s().flatten().withMetadata({ orientation: 6 }).webp()],
  ]
  return Promise.all(made.map(async ([name, pipeline]) => [name, await pipeline.toBuffer()] as const))
}

async function round(fn: ImageToTensor): Promise<void> {
  const slots = images.map(() => new Float32Array(28 * 28))
  if (values.parallel) await Promise.all(images.map((b, i) => fn(b, demoPlan, slots[i]!, 'image', limits)))
  else for (let i = 0; i < images.length; i++) await fn(images[i]!, demoPlan, slots[i]!, 'image', limits)
}

for (const [, fn] of impls) await round(fn) // warm-up
const cpu = impls.map(() => 0)
const wall = impls.map(() => 0)
for (let r = 0; r < rounds; r++)
  for (const [k, [, fn]] of impls.entries()) {
    const c0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    await round(fn)
    wall[k]! += Number(process.hrtime.bigint() - t0) / 1e3
    const c = process.cpuUsage(c0)
    cpu[k]! += c.user + c.system
  }
const n = rounds * images.length
for (const [k, [name]] of impls.entries())
  console.log(
    `${name}: ${(cpu[k]! / n).toFixed(1)} µs CPU/image, ${(wall[k]! / n).toFixed(1)} µs wall/image (${n} images, ${values.parallel ? '64 at once' : 'one at a time'})`,
  )
