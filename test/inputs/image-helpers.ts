// Shared by the image tests: the fixture folder, plans made from a block, and the expected tensor
// computed independently from decoded 8-bit pixels with the formula of the issue.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import sharp from 'sharp'
import { ImageBlockSchema } from '../../src/models/manifest.js'
import { planImage, type ImagePlan } from '../../src/inputs/image-plan.js'
import { imageToTensor } from '../../src/inputs/image.js'

export const IMAGES = resolve(import.meta.dirname, '../fixtures/images')
export const image = (name: string): Buffer => readFileSync(resolve(IMAGES, name))

export function plan(block: Record<string, unknown>, shape: number[]): ImagePlan {
  return planImage(ImageBlockSchema.parse(block), shape, 'model.json')
}

/** calserve's tensor of one fixture image. */
export async function tensorOf(name: string | Buffer, p: ImagePlan, maxPixels = 40_000_000): Promise<Float32Array> {
  const slot = new Float32Array(p.channels * p.height * p.width)
  await imageToTensor(typeof name === 'string' ? image(name) : name, p, slot, 'image', { maxPixels })
  return slot
}

/** Interleaved 8-bit pixels of a lossless fixture (PNG), as stored. */
export async function pixelsOf(name: string): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const meta = await sharp(image(name)).metadata()
  const { data, info } = await sharp(image(name))
    .toColourspace(meta.space === 'b-w' ? 'b-w' : 'srgb')
    .raw()
    .toBuffer({ resolveWithObject: true })
  return { data, width: info.width, height: info.height, channels: info.channels }
}

/**
 * The formula on decoded pixels, written out here independently of src/: per pixel
 * ((p · rescale) − mean_c) / std_c, each step in float32, laid out nchw or nhwc, channels in
 * `order` (e.g. [2, 1, 0] for BGR).
 */
export function expectedTensor(
  px: { data: Buffer; width: number; height: number; channels: number },
  o: { rescale: number; mean: number[]; std: number[]; layout: 'nchw' | 'nhwc'; order?: number[] },
): Float32Array {
  const { width: w, height: h, channels: c } = px
  const order = o.order ?? [...Array(c).keys()]
  const out = new Float32Array(w * h * c)
  const f = Math.fround
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++) {
        const p = px.data[(y * w + x) * c + order[k]!]!
        const mean = f(o.mean[o.mean.length === 1 ? 0 : k]!)
        const std = f(o.std[o.std.length === 1 ? 0 : k]!)
        const v = f(f(f(p * o.rescale) - mean) / std)
        out[o.layout === 'nchw' ? (k * h + y) * w + x : (y * w + x) * c + k] = v
      }
  return out
}

/** Mean and max absolute difference, and how many elements differ at all. */
export function diff(a: Float32Array, b: Float32Array): { mean: number; max: number; differing: number } {
  if (a.length !== b.length) throw new Error(`lengths ${a.length} and ${b.length}`)
  let sum = 0
  let max = 0
  let differing = 0
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!)
    sum += d
    if (d > max) max = d
    if (d !== 0) differing++
  }
  return { mean: sum / a.length, max, differing }
}
