// One FitSet per encoding of a labelled set (see src/serving/intake.ts): JSON samples already in
// memory, an ndjson stream, raw float32 with its labels, and images (a tar in ImageFolder layout,
// ndjson of base64 images, multipart parts named by their label; see image-fit.ts). Each reads straight into the collector's
// batch, so a set of any size costs one batch of inputs in memory.
import type { Readable } from 'node:stream'
import { badInput } from '../errors.js'
import type { ReadyModel } from '../models/repository.js'
import { resolveLabel } from '../serving/collector.js'
import type { FitSet } from '../serving/intake.js'
import { readFloat32Stream } from './float32-stream.js'
import { readImageNdjson, readImageParts, readImageTar, type ImageSetLimits } from './image-fit.js'
import { readNdjson, type StreamLimits } from './ndjson.js'
import { decodeSample } from './tensor.js'

export function jsonFitSet(model: ReadyModel, inputs: readonly unknown[], given: ReadonlyArray<string | number>): FitSet {
  if (inputs.length !== given.length)
    throw badInput(`inputs has ${inputs.length} samples but labels has ${given.length}`, { field: 'labels', inputs: inputs.length, labels: given.length })
  if (inputs.length === 0) throw badInput('the fit set is empty: send at least one labelled sample', { field: 'inputs' })
  const labels = given.map((l, i) => resolveLabel(model, l, `labels[${i}]`))
  const ref = (i: number) => ({ where: `inputs[${i}]`, details: { field: 'inputs', sample: i } })
  return {
    known: inputs.length,
    streamed: false,
    check() {
      const scratch = new Float32Array(model.runner.sampleSize)
      inputs.forEach((s, i) => decodeSample(s, scratch, ref(i)))
    },
    async read(collector) {
      for (let i = 0; i < inputs.length; i++) {
        decodeSample(inputs[i], collector.slot(), ref(i))
        await collector.commit(labels[i] ?? 0)
      }
    },
  }
}

export function ndjsonFitSet(model: ReadyModel, stream: Readable, limits: StreamLimits): FitSet {
  return { known: undefined, streamed: true, check() {}, read: (collector) => readNdjson(stream, model, collector, limits) }
}

/** Raw float32 samples; `list` holds their labels, comma-separated names or indices, one per sample. */
export function float32FitSet(model: ReadyModel, stream: Readable, list: string | undefined, maxBytes: number, where: string): FitSet {
  if (list === undefined) throw badInput(`a binary fit set needs its labels in ${where}`, { field: 'labels' })
  const labels = list
    .split(',')
    .map((s) => s.trim())
    .map((item, i) => resolveLabel(model, /^[0-9]+$/.test(item) && !model.labelIndex.has(item) ? Number(item) : item, `labels[${i}]`))
  return { known: labels.length, streamed: true, check() {}, read: (collector) => readFloat32Stream(stream, collector, labels, maxBytes) }
}

export function imageTarFitSet(model: ReadyModel, stream: Readable, limits: ImageSetLimits): FitSet {
  return { known: undefined, streamed: true, check() {}, read: (collector) => readImageTar(stream, model, collector, limits) }
}

export function imageNdjsonFitSet(model: ReadyModel, stream: Readable, limits: ImageSetLimits): FitSet {
  return { known: undefined, streamed: true, check() {}, read: (collector) => readImageNdjson(stream, model, collector, limits) }
}

export function imagePartsFitSet(model: ReadyModel, parts: Parameters<typeof readImageParts>[0], limits: ImageSetLimits): FitSet {
  return {
    known: undefined,
    streamed: true,
    check() {},
    read: async (collector) => {
      await readImageParts(parts, model, collector, limits)
    },
  }
}
