// The image block of a model (model.json's `image`, or Hugging Face's preprocessor_config.json read
// into the same shape) checked against the model's input shape once, at load, and resolved into
// what src/inputs/image.ts needs per image: target size, channels, layout and a lookup table of
// the normalisation. A block that cannot produce the input's shape fails the model with the reason.
import type { ImageBlock } from '../models/manifest.js'

export type ImageColor = 'rgb' | 'bgr' | 'grayscale'
export type ImageLayout = 'nchw' | 'nhwc'

export interface ImagePlan {
  /** Where the block came from, said in the model's info. */
  source: 'model.json' | 'preprocessor_config.json'
  block: ImageBlock
  color: ImageColor
  layout: ImageLayout
  channels: 1 | 3
  /** Resize step: exactly to this size, or the shortest edge to `shortestEdge`; null: none. */
  resize: { height: number; width: number } | { shortestEdge: number } | null
  kernel: 'nearest' | 'linear' | 'cubic'
  /** The tensor's height and width: crop_size if given, else the resize size. */
  height: number
  width: number
  /** True when the plan center-crops to (height, width). */
  crop: boolean
  /**
   * value[c · 256 + p] = ((p · rescale_factor) − mean_c) / std_c, each step rounded to float32 as
   * Hugging Face's processors compute it (rescale in float64 then cast, normalise in float32).
   */
  table: Float32Array
}

/** sharp's kernel for each resample name: libvips' linear and cubic (Catmull-Rom) reducers. */
const KERNELS = { nearest: 'nearest', bilinear: 'linear', bicubic: 'cubic' } as const

export class ImagePlanError extends Error {}

/** Resolves `block` for an input of `shape` (without the batch axis); throws ImagePlanError saying why it can't. */
export function planImage(block: ImageBlock, shape: readonly number[], source: ImagePlan['source']): ImagePlan {
  const fail = (why: string) => new ImagePlanError(`image block (${source}) does not fit input shape [${shape.join(', ')}]: ${why}`)
  if (shape.length !== 3) throw fail('an image input has 3 dimensions besides the batch: [C, H, W] (nchw) or [H, W, C] (nhwc)')
  const wanted = block.color === undefined ? undefined : block.color === 'grayscale' ? 1 : 3
  const isChannels = (d: number | undefined) => (wanted === undefined ? d === 1 || d === 3 : d === wanted)
  const layout: ImageLayout | undefined = block.layout ?? (isChannels(shape[0]) ? 'nchw' : isChannels(shape[2]) ? 'nhwc' : undefined)
  if (layout === undefined) throw fail(`neither its first nor its last dimension is ${wanted ?? '1 or 3'} channels`)
  const [c, h, w] = layout === 'nchw' ? [shape[0]!, shape[1]!, shape[2]!] : [shape[2]!, shape[0]!, shape[1]!]
  if (c !== 1 && c !== 3) throw fail(`layout ${layout} puts ${c} channels on the channel axis; images have 1 (grayscale) or 3 (rgb, bgr)`)
  const color: ImageColor = block.color ?? (c === 1 ? 'grayscale' : 'rgb')
  if ((color === 'grayscale' ? 1 : 3) !== c) throw fail(`color ${color} has ${color === 'grayscale' ? 1 : 3} channels but the input has ${c}`)

  const size = block.size
  const resize = size === undefined ? null : 'shortest_edge' in size ? { shortestEdge: size.shortest_edge } : size
  const target = block.crop_size ?? (resize && 'height' in resize ? resize : null)
  if (target === null)
    throw fail(size === undefined ? 'with no size and no crop_size images of any size would pass: give one' : 'size.shortest_edge keeps the aspect ratio, so a fixed input needs crop_size')
  if (target.height !== h || target.width !== w)
    throw fail(`the block makes ${target.height}×${target.width} images (${block.crop_size ? 'crop_size' : 'size'}) but the input takes ${h}×${w}`)

  for (const [field, values] of [['image_mean', block.image_mean], ['image_std', block.image_std]] as const)
    if (values.length !== 1 && values.length !== c) throw fail(`${field} has ${values.length} values; give 1 or ${c} (one per channel)`)
  const table = new Float32Array(c * 256)
  for (let k = 0; k < c; k++) {
    const mean = Math.fround(block.image_mean[block.image_mean.length === 1 ? 0 : k]!)
    const std = Math.fround(block.image_std[block.image_std.length === 1 ? 0 : k]!)
    for (let p = 0; p < 256; p++) table[k * 256 + p] = Math.fround(Math.fround(Math.fround(p * block.rescale_factor) - mean) / std)
  }
  return { source, block, color, layout, channels: c, resize, kernel: KERNELS[block.resample], height: h, width: w, crop: block.crop_size !== undefined, table }
}
