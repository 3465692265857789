// A labelled image set for a fit, into a LogitCollector: a tar (optionally gzip-compressed) in
// ImageFolder layout (<label>/<any name>.png|jpg|jpeg|webp), ndjson lines {"image": base64,
// "label"}, or multipart file parts whose field name is the label. Everything is read as a
// stream; at most IMAGE_BATCH encoded images are held and decoded at a time (in parallel, on
// libuv's pool), so memory stays flat however large the archive is.
import { createGunzip } from 'node:zlib'
import { Readable } from 'node:stream'
import { extract } from 'tar-stream'
import { badInput, CalserveError } from '../errors.js'
import type { ReadyModel } from '../models/repository.js'
import { resolveLabel, type LogitCollector } from '../serving/collector.js'
import { base64Image, imagePlanOf, type EncodedImage } from './image-batch.js'
import { imageToTensor, type ImageLimits } from './image.js'
import { bodyChunks, jsonLines } from './lines.js'
import { decodeSample } from './tensor.js'

/** Encoded images held (and decoded concurrently) at once. */
export const IMAGE_BATCH = 32
const IMAGE_FILE = /\.(png|jpe?g|webp)$/i

export interface ImageSetLimits extends ImageLimits {
  /** Bytes of the body (compressed, as sent) past which the set is refused with 413. */
  maxBytes: number
  maxLineBytes: number
}

/** Decodes a group of images in parallel, then commits them to the collector in order. */
class ImageBatcher {
  private pending: Array<EncodedImage & { label: number }> = []
  private readonly scratch: Float32Array
  private readonly size: number

  constructor(
    private readonly model: ReadyModel,
    private readonly collector: LogitCollector,
    private readonly limits: ImageLimits,
  ) {
    imagePlanOf(model)
    this.size = model.runner.sampleSize
    this.scratch = new Float32Array(IMAGE_BATCH * this.size)
  }

  async add(image: EncodedImage, label: number): Promise<void> {
    this.pending.push({ ...image, label })
    if (this.pending.length === IMAGE_BATCH) await this.flush()
  }

  async flush(): Promise<void> {
    const batch = this.pending
    this.pending = []
    const plan = this.model.image!
    await Promise.all(batch.map((img, i) => imageToTensor(img.bytes, plan, this.scratch.subarray(i * this.size, (i + 1) * this.size), img.where, this.limits)))
    for (let i = 0; i < batch.length; i++) {
      this.collector.slot().set(this.scratch.subarray(i * this.size, (i + 1) * this.size))
      await this.collector.commit(batch[i]!.label)
    }
  }
}

/** Counts the body's bytes and fails the stream past the limit. */
/** The label of a tar member: the folder that holds it (ImageFolder: <label>/<file>). */
function folderLabel(model: ReadyModel, path: string): number {
  const parts = path.replace(/^\.\//, '').split('/').filter(Boolean)
  if (parts.length < 2) throw badInput(`tar member '${path}' is not in a class folder: the layout is <label>/<file>.png`, { field: 'body', member: path })
  const folder = parts[parts.length - 2]!
  const index = model.labelIndex.get(folder)
  if (index === undefined)
    throw badInput(`folder '${folder}' (tar member '${path}') is not a label of model '${model.name}'`, { field: 'body', folder, member: path })
  return index
}

/** Reads a tar (gzip detected from its first bytes) of an ImageFolder tree into `collector`. */
export async function readImageTar(body: Readable, model: ReadyModel, collector: LogitCollector, limits: ImageSetLimits): Promise<void> {
  const batcher = new ImageBatcher(model, collector, limits)
  const source = await maybeGunzip(body, limits.maxBytes)
  const tar = extract()
  source.on('error', (err) => tar.destroy(err))
  source.pipe(tar)
  try {
    for await (const entry of tar) {
      const { name, type } = entry.header
      const base = name.split('/').pop() ?? ''
      if (type !== 'file' || base.startsWith('.')) {
        entry.resume()
        continue
      }
      if (!IMAGE_FILE.test(base)) throw badInput(`tar member '${name}' is not a .png, .jpg, .jpeg or .webp file`, { field: 'body', member: name })
      const label = folderLabel(model, name)
      const chunks: Buffer[] = []
      for await (const chunk of entry) chunks.push(chunk as Buffer)
      await batcher.add({ bytes: Buffer.concat(chunks), where: `tar member '${name}'` }, label)
    }
  } catch (err) {
    if (err instanceof CalserveError) throw err
    throw badInput(`the body is not a readable tar archive (${(err as Error).message})`, { field: 'body' })
  }
  await batcher.flush()
}

/** The body counted against the byte limit, gunzipped when it starts with gzip's magic bytes. */
async function maybeGunzip(body: Readable, maxBytes: number): Promise<Readable> {
  const iter = bodyChunks(body, maxBytes)
  const first = await iter.next()
  const chunks = async function* () {
    if (first.done) return
    yield first.value
    yield* iter
  }
  const raw = Readable.from(chunks(), { objectMode: false })
  const head = first.done ? undefined : first.value
  if (!head || head.length < 2 || head[0] !== 0x1f || head[1] !== 0x8b) return raw
  const gunzip = createGunzip()
  raw.on('error', (err) => gunzip.destroy(err))
  return raw.pipe(gunzip)
}

/** ndjson lines {"image": base64, "label"} (or {"input": [...], "label"} tensors) into `collector`. */
export async function readImageNdjson(body: Readable, model: ReadyModel, collector: LogitCollector, limits: ImageSetLimits): Promise<void> {
  const batcher = new ImageBatcher(model, collector, limits)
  for await (const { record, number: lineNo } of jsonLines(body, limits)) {
    const r = record as { image?: unknown; input?: unknown; label?: unknown } | null
    if (typeof r !== 'object' || r === null || Array.isArray(r) || !('label' in r) || 'image' in r === 'input' in r)
      throw badInput(`line ${lineNo} must be an object with "image" (or "input") and "label"`, { field: 'body', line: lineNo })
    const label = resolveLabel(model, r.label, `line ${lineNo} label`)
    if ('image' in r) await batcher.add(base64Image(r.image, `line ${lineNo} image`), label)
    else {
      await batcher.flush()
      decodeSample(r.input, collector.slot(), { where: `line ${lineNo} input`, details: { field: 'body', line: lineNo } })
      await collector.commit(label)
    }
  }
  await batcher.flush()
}

/** Multipart file parts, each labelled by its field name. */
export async function readImageParts(
  parts: AsyncIterable<
    { type: 'file'; fieldname: string; filename: string; toBuffer(): Promise<Buffer> } | { type: 'field'; fieldname: string; value: unknown }
  >,
  model: ReadyModel,
  collector: LogitCollector,
  limits: ImageLimits,
): Promise<Record<string, string>> {
  const batcher = new ImageBatcher(model, collector, limits)
  const fields: Record<string, string> = {}
  for await (const part of parts) {
    if (part.type !== 'file') {
      fields[part.fieldname] = String(part.value)
      continue
    }
    const where = `part '${part.fieldname}'${part.filename ? ` (${part.filename})` : ''}`
    const index = model.labelIndex.get(part.fieldname)
    if (index === undefined)
      throw badInput(`${where}: field name '${part.fieldname}' is not a label of model '${model.name}'`, { field: 'body', part: part.fieldname })
    await batcher.add({ bytes: await part.toBuffer(), where }, index)
  }
  await batcher.flush()
  return fields
}
