// An encoded image (PNG, JPEG or WebP) into a model's input tensor, following the model's image
// plan (src/inputs/image-plan.ts). Decoding and resizing are sharp's (libvips, on libuv's thread
// pool: the event loop is not blocked); colour conversion, the center crop, the normalisation and
// the layout are done here, on 8-bit pixels, so that they are exact:
//   1. decode, EXIF orientation applied; alpha is composited onto black (PIL's paste onto a black
//      image); 16-bit images are converted to 8 bits per channel and CMYK to sRGB (by libvips);
//      animated images (more than one frame) are refused, not cut to their first frame;
//   2. colour: grayscale ← RGB with PIL's integer ITU-R 601-2 luma (L = (19595 R + 38470 G + 7471 B
//      + 2^15) >> 16), RGB ← grayscale by repeating the channel, BGR by swapping at layout time;
//   3. resize (sharp), to exactly size, or the shortest edge to S with the longer one
//      int(S · long / short) as Hugging Face computes it; skipped when the size is already right;
//   4. center crop at ((h − ch) / 2, (w − cw) / 2) rounded down; pixels outside the image are 0;
//   5. ((p · rescale_factor) − mean_c) / std_c in float32 (a lookup table), laid out nchw or nhwc.
import sharp, { type Metadata } from 'sharp'
import { IMAGE_TYPES } from '../api/media-types.js'
import { badInput } from '../errors.js'
import type { ImagePlan } from './image-plan.js'

/** The encodings calserve decodes; anything else sharp could read (TIFF, GIF, SVG, PDF, …) is refused. */
export const IMAGE_FORMATS = ['png', 'jpeg', 'webp'] as const
export const IMAGE_MEDIA_TYPES = IMAGE_TYPES

export interface ImageLimits {
  /** Largest width × height decoded (CALSERVE_MAX_IMAGE_PIXELS); checked on the header, before decoding. */
  maxPixels: number
}

/** 8-bit pixels, interleaved, `channels` per pixel. */
interface Pixels {
  data: Buffer
  width: number
  height: number
  channels: number
}

const refuse = (where: string, reason: string) => badInput(`${where} ${reason}`, { image: where, reason })

/**
 * Decodes `bytes` and writes the model's input tensor of it into `slot` (which must hold
 * channels × height × width float32). `where` names the image in errors: `images[2]`, `part 'shirt'`.
 */
export async function imageToTensor(bytes: Uint8Array, plan: ImagePlan, slot: Float32Array, where: string, limits: ImageLimits): Promise<void> {
  const decoded = await decode(bytes, where, limits)
  const coloured = convertColour(decoded, plan.channels)
  const resized = await resize(coloured, plan, where)
  writeTensor(resized, plan, slot)
}

async function decode(bytes: Uint8Array, where: string, limits: ImageLimits): Promise<Pixels> {
  if (bytes.byteLength === 0) throw refuse(where, 'is empty: send the bytes of a PNG, JPEG or WebP image')
  const header = readHeader(bytes)
  if (header) {
    // One libvips pipeline instead of two: the header read above stands in for sharp's metadata()
    // (~160 µs per image, most of it libvips' fixed cost per pipeline). limitInputPixels refuses
    // the same images as the pixel check below, from the header too; any failure takes the full
    // path, which refuses with the messages and in the order it always did.
    try {
      return await decodePixels(bytes, header.gray, limits)
    } catch {
      return decodeChecked(bytes, where, limits)
    }
  }
  return decodeChecked(bytes, where, limits)
}

/**
 * Whether `bytes` start as a still PNG, JPEG or WebP, and whether libvips will load it as
 * grayscale (its `b-w`/`grey16` interpretations: one band, plus alpha for PNG). undefined when the
 * bytes are anything else, an APNG (acTL) or an animated WebP (VP8X animation flag), or the
 * header is cut short: those take the full path, whose metadata read decides.
 */
function readHeader(bytes: Uint8Array): { gray: boolean } | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const ascii = (at: number, n: number) => (at + n <= bytes.length ? String.fromCharCode(...bytes.subarray(at, at + n)) : '')
  if (view.byteLength >= 33 && view.getUint32(0) === 0x89504e47 && view.getUint32(4) === 0x0d0a1a0a && ascii(12, 4) === 'IHDR') {
    for (let at = 8; at + 8 <= bytes.length; at += 12 + view.getUint32(at)) {
      const type = ascii(at + 4, 4)
      if (type === 'acTL') return undefined
      // PNG colour types 0 (gray) and 4 (gray + alpha).
      if (type === 'IDAT') return { gray: bytes[25] === 0 || bytes[25] === 4 }
    }
    return undefined
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    // Marker segments up to the frame header (SOF0–15 less DHT, JPG and DAC), whose component count
    // libvips maps 1 → b-w, 3 → srgb, 4 → cmyk.
    for (let at = 2; at + 4 <= bytes.length;) {
      if (bytes[at] !== 0xff) return undefined
      const marker = bytes[at + 1]!
      if (marker === 0xff) {
        at++
        continue
      }
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
        return at + 10 <= bytes.length ? { gray: bytes[at + 9] === 1 } : undefined
      if (marker === 0xda || marker === 0xd9) return undefined
      at += 2 + view.getUint16(at + 2)
    }
    return undefined
  }
  if (ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') {
    const chunk = ascii(12, 4)
    // libvips loads every WebP as sRGB (3 bands, 4 with alpha).
    if (chunk === 'VP8 ' || chunk === 'VP8L') return { gray: false }
    if (chunk === 'VP8X' && bytes.length > 20) return (bytes[20]! & 0x02) === 0 ? { gray: false } : undefined
  }
  return undefined
}

/** The checks in their order, each with its message, then the decode. */
async function decodeChecked(bytes: Uint8Array, where: string, limits: ImageLimits): Promise<Pixels> {
  let meta: Metadata
  try {
    meta = await sharp(bytes).metadata()
  } catch (err) {
    throw refuse(where, `is not an image calserve can read (${(err as Error).message}); send PNG, JPEG or WebP`)
  }
  if (!(IMAGE_FORMATS as readonly string[]).includes(meta.format))
    throw refuse(where, `is ${meta.format.toUpperCase()}, a format calserve does not accept; send PNG, JPEG or WebP`)
  if ((meta.pages ?? 1) > 1) throw refuse(where, `is animated (${meta.pages} frames); send a single still image`)
  const pixels = meta.width * meta.height
  if (pixels > limits.maxPixels)
    throw refuse(where, `has ${meta.width}×${meta.height} = ${pixels} pixels, more than ${limits.maxPixels} (CALSERVE_MAX_IMAGE_PIXELS)`)
  try {
    return await decodePixels(bytes, meta.space === 'b-w' || meta.space === 'grey16', limits)
  } catch (err) {
    throw refuse(where, `cannot be decoded (${(err as Error).message}): is it truncated or corrupt?`)
  }
}

async function decodePixels(bytes: Uint8Array, gray: boolean, limits: ImageLimits): Promise<Pixels> {
  const { data, info } = await sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'warning', autoOrient: true })
    .flatten({ background: '#000000' })
    .toColourspace(gray ? 'b-w' : 'srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true })
  return { data, width: info.width, height: info.height, channels: info.channels }
}

/** To the model's channel count, on 8-bit pixels. */
function convertColour(img: Pixels, channels: 1 | 3): Pixels {
  if (img.channels === channels) return img
  const n = img.width * img.height
  const out = Buffer.allocUnsafe(n * channels)
  const src = img.data
  if (channels === 1) {
    for (let i = 0, j = 0; i < n; i++, j += img.channels) out[i] = (19595 * src[j]! + 38470 * src[j + 1]! + 7471 * src[j + 2]! + 0x8000) >>> 16
  } else {
    for (let i = 0, j = 0; i < n; i++, j += img.channels) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = src[j]!
  }
  return { ...img, data: out, channels }
}

/** The size the resize step makes of a width × height image; Hugging Face's arithmetic for shortest_edge. */
export function resizedSize(plan: ImagePlan, width: number, height: number): { width: number; height: number } {
  const r = plan.resize
  if (r === null) return { width, height }
  if ('height' in r) return { width: r.width, height: r.height }
  const s = r.shortestEdge
  return width <= height ? { width: s, height: Math.trunc((s * height) / width) } : { width: Math.trunc((s * width) / height), height: s }
}

async function resize(img: Pixels, plan: ImagePlan, where: string): Promise<Pixels> {
  const size = resizedSize(plan, img.width, img.height)
  if (size.width === img.width && size.height === img.height) return img
  // A pipeline of its own, on the 8-bit pixels: resizing in the decode pipeline would save one but
  // is not the same resize (sharp resizes before its final cast and colourspace): 43 of 252
  // fixture × kernel × size cases differed, for 16-bit PNGs, JPEGs and EXIF-rotated images.
  try {
    const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 3 } })
      .resize(size.width, size.height, { fit: 'fill', kernel: plan.kernel, fastShrinkOnLoad: false })
      // libvips would hand one channel back as sRGB: say it stays grayscale.
      .toColourspace(img.channels === 1 ? 'b-w' : 'srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true })
    return { data, width: info.width, height: info.height, channels: info.channels }
  } catch (err) {
    throw refuse(where, `could not be resized to ${size.width}×${size.height} (${(err as Error).message})`)
  }
}

/** Center crop (zeros outside the image), normalisation and layout, into `slot`. */
function writeTensor(img: Pixels, plan: ImagePlan, slot: Float32Array): void {
  const { height: h, width: w, channels: c, table } = plan
  const top = Math.floor((img.height - h) / 2)
  const left = Math.floor((img.width - w) / 2)
  const zero = (k: number) => table[k * 256]!
  // BGR: tensor channel k holds image channel 2 − k.
  const from = (k: number) => (plan.color === 'bgr' ? 2 - k : k)
  const nchw = plan.layout === 'nchw'
  const src = img.data
  for (let y = 0; y < h; y++) {
    const sy = y + top
    for (let x = 0; x < w; x++) {
      const sx = x + left
      const inside = sy >= 0 && sy < img.height && sx >= 0 && sx < img.width
      const base = (sy * img.width + sx) * c
      for (let k = 0; k < c; k++) {
        const value = inside ? table[k * 256 + src[base + from(k)]!]! : zero(k)
        slot[nchw ? (k * h + y) * w + x : (y * w + x) * c + k] = value
      }
    }
  }
}
