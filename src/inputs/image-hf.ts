// Hugging Face's preprocessor_config.json (ViTImageProcessor, ConvNextImageProcessor,
// CLIPImageProcessor, …) read into calserve's image block, so a model exported with
// save_pretrained serves images as transformers would prepare them. Fields calserve cannot honour
// are refused with the reason rather than silently dropped.
import { readFile } from 'node:fs/promises'
import { ImageBlockSchema, type ImageBlock } from '../models/manifest.js'

export const PREPROCESSOR_CONFIG = 'preprocessor_config.json' as const

/** PIL's resampling codes (PIL.Image.Resampling), as preprocessor_config.json stores them. */
const PIL_RESAMPLE: Record<number, ImageBlock['resample'] | string> = {
  0: 'nearest',
  1: 'lanczos',
  2: 'bilinear',
  3: 'bicubic',
  4: 'box',
  5: 'hamming',
}

/** Processors whose integer `size` means the shortest edge (transformers' default_to_square=False). */
const SHORTEST_EDGE_PROCESSORS = /CLIP|ConvNext|Bit|MobileNet|EfficientNet|Chinese/

export class PreprocessorConfigError extends Error {}

type Json = Record<string, unknown>

/** The image block described by a parsed preprocessor_config.json; `file` names it in errors. */
export function imageBlockFromHf(config: Json, file: string): ImageBlock {
  const fail = (why: string) => new PreprocessorConfigError(`${file}: ${why}`)
  const num = (key: string): number | undefined => {
    const v = config[key]
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'number' || !Number.isFinite(v)) throw fail(`${key} must be a number`)
    return v
  }
  const flag = (key: string, fallback: boolean): boolean => {
    const v = config[key]
    if (v === undefined || v === null) return fallback
    if (typeof v !== 'boolean') throw fail(`${key} must be true or false`)
    return v
  }
  const type = typeof config.image_processor_type === 'string' ? config.image_processor_type : ''
  const block: Record<string, unknown> = {}

  if (flag('do_resize', true)) {
    const size = parseSize(config.size, SHORTEST_EDGE_PROCESSORS.test(type), 'size', fail)
    if (size === undefined) throw fail('do_resize is true but there is no size')
    const cropPct = num('crop_pct')
    if ('shortest_edge' in size && cropPct !== undefined && /ConvNext/.test(type)) {
      // ConvNextImageProcessor: below 384, resize the shortest edge to S / crop_pct and crop S × S;
      // from 384 on, warp to S × S with no crop.
      const s = size.shortest_edge
      if (s < 384) {
        block.size = { shortest_edge: Math.trunc(s / cropPct) }
        block.crop_size = { height: s, width: s }
      } else block.size = { height: s, width: s }
    } else block.size = size
    const resample = num('resample') ?? 2
    const name = PIL_RESAMPLE[resample]
    if (name !== 'nearest' && name !== 'bilinear' && name !== 'bicubic')
      throw fail(`resample ${resample} (${name ?? 'unknown'}) is not one calserve applies; it resizes with nearest (0), bilinear (2) or bicubic (3)`)
    block.resample = name
  }
  if (flag('do_center_crop', false) && block.crop_size === undefined) {
    const crop = parseSize(config.crop_size, false, 'crop_size', fail)
    if (crop === undefined || 'shortest_edge' in crop) throw fail('do_center_crop is true but crop_size is not {height, width}')
    block.crop_size = crop
  }
  block.rescale_factor = flag('do_rescale', true) ? (num('rescale_factor') ?? 1 / 255) : 1
  if (flag('do_normalize', true)) {
    const mean = config.image_mean
    const std = config.image_std
    const numbers = (v: unknown) => (typeof v === 'number' ? [v] : v)
    block.image_mean = numbers(mean ?? [0.5, 0.5, 0.5])
    block.image_std = numbers(std ?? [0.5, 0.5, 0.5])
  }
  // do_convert_rgb (CLIP) or not: the tensor has the model's channels, RGB for 3.
  if (config.do_convert_rgb === true) block.color = 'rgb'
  const parsed = ImageBlockSchema.safeParse(block)
  if (!parsed.success) throw fail(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '))
  return parsed.data
}

function parseSize(
  v: unknown,
  intIsShortestEdge: boolean,
  key: string,
  fail: (why: string) => Error,
): { height: number; width: number } | { shortest_edge: number } | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v === 'number') return intIsShortestEdge ? { shortest_edge: v } : { height: v, width: v }
  if (typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Json
    if (typeof o.height === 'number' && typeof o.width === 'number') return { height: o.height, width: o.width }
    if (typeof o.shortest_edge === 'number') {
      if (o.longest_edge !== undefined) throw fail(`${key}.longest_edge is not supported: calserve's tensors have one fixed size`)
      return { shortest_edge: o.shortest_edge }
    }
  }
  throw fail(`${key} must be a number, {height, width} or {shortest_edge}`)
}

/** Reads `file` (a preprocessor_config.json) into an image block. */
export async function readPreprocessorConfig(file: string): Promise<ImageBlock> {
  let json: unknown
  try {
    json = JSON.parse(await readFile(file, 'utf8'))
  } catch (err) {
    throw new PreprocessorConfigError(`${file}: cannot be read as JSON (${(err as Error).message})`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new PreprocessorConfigError(`${file}: must be a JSON object`)
  return imageBlockFromHf(json as Json, file)
}
