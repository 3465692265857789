// Several encoded images into one n × sampleSize float32 batch for a model with an image block,
// whichever transport carried them: a raw image body, multipart file parts, base64 strings in
// JSON, or the BYTES elements of an Open Inference Protocol input. Each image decodes on libuv's
// thread pool (sharp), all of a request's at once; errors name the image.
import { badInput } from '../errors.js'
import type { ReadyModel } from '../models/repository.js'
import type { ImagePlan } from './image-plan.js'
import { imageToTensor, type ImageLimits } from './image.js'

export interface EncodedImage {
  bytes: Uint8Array
  /** How errors name it: `images[2]`, `part 'shirt' (shirt.png)`, `input 'pixels' element 0`. */
  where: string
}

/** The model's image plan, or 400 when it takes tensors only. */
export function imagePlanOf(model: ReadyModel): ImagePlan {
  if (!model.image)
    throw badInput(`model '${model.name}' takes tensors, not images: its model.json has no image block (and there is no preprocessor_config.json)`, {
      model: model.name,
    })
  return model.image
}

/** Decodes every image into one batch, in order. */
export async function decodeImages(model: ReadyModel, images: readonly EncodedImage[], limits: ImageLimits): Promise<{ data: Float32Array; n: number }> {
  const plan = imagePlanOf(model)
  if (images.length === 0) throw badInput('no image in the request: send at least one', { field: 'images' })
  const size = model.runner.sampleSize
  const data = new Float32Array(images.length * size)
  await Promise.all(images.map((img, i) => imageToTensor(img.bytes, plan, data.subarray(i * size, (i + 1) * size), img.where, limits)))
  return { data, n: images.length }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/
const DATA_URL = /^data:image\/[a-z.+-]+;base64,/i

/** A base64 string (optionally a data: URL) as bytes; anything else is a 400 naming it. */
export function base64Image(value: unknown, where: string): EncodedImage {
  if (typeof value !== 'string') throw badInput(`${where} must be a base64 string of a PNG, JPEG or WebP image`, { image: where })
  const text = value.replace(DATA_URL, '').replace(/\s+/g, '')
  if (!BASE64.test(text) || text.length % 4 === 1) throw badInput(`${where} is not valid base64`, { image: where, reason: 'not base64' })
  return { bytes: Buffer.from(text, 'base64'), where }
}

/**
 * The elements of a BYTES input of shape [N]: from JSON `data` (base64 strings), or from binary
 * tensor data (each element a 4-byte little-endian length and its bytes, Triton's layout).
 */
export function bytesElements(input: { name: string; shape: readonly number[]; data?: unknown; bytes: Uint8Array | null }, maxSamples: number): EncodedImage[] {
  const where = `input '${input.name}'`
  if (input.shape.length !== 1) throw badInput(`${where} is BYTES with shape [${input.shape.join(', ')}]; images come as shape [N], one encoded image per element`)
  const n = input.shape[0]!
  if (n === 0) throw badInput(`${where} has shape [0]: send at least one image`)
  if (n > maxSamples) throw badInput(`${where} holds ${n} images; at most ${maxSamples} in one request (CALSERVE_MAX_PREDICT_SAMPLES)`)
  const element = (i: number) => `${where} element ${i}`
  if (input.bytes === null) {
    const data = Array.isArray(input.data) ? input.data.flat() : undefined
    if (!data || data.length !== n) throw badInput(`${where} data must be ${n} base64 strings (shape [${n}])`)
    return data.map((s, i) => base64Image(s, element(i)))
  }
  const out: EncodedImage[] = []
  const view = Buffer.from(input.bytes.buffer, input.bytes.byteOffset, input.bytes.byteLength)
  let offset = 0
  for (let i = 0; i < n; i++) {
    if (offset + 4 > view.byteLength) throw badInput(`${where} binary data ends before element ${i} (shape [${n}])`)
    const len = view.readUInt32LE(offset)
    offset += 4
    if (offset + len > view.byteLength) throw badInput(`${element(i)} says ${len} bytes but only ${view.byteLength - offset} are left`)
    out.push({ bytes: view.subarray(offset, offset + len), where: element(i) })
    offset += len
  }
  if (offset !== view.byteLength) throw badInput(`${where} binary data holds ${view.byteLength - offset} bytes past its ${n} elements`)
  return out
}
