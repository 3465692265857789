// Gathers a labelled set for a fit one batch at a time: samples are decoded into one reusable batch
// buffer, run through the model, and only their logits are kept (N×C, plus the labels). A fit never
// holds more than one batch of inputs, whether the set came as JSON, ndjson or binary. With a
// reference model, each batch also runs through it, and its logits are kept in the fit model's
// class order.
import { createHash, type Hash } from 'node:crypto'
import { badInput } from '../errors.js'
import type { ReadyModel } from '../models/repository.js'
import type { DataPlane } from './plane.js'

export const FIT_BATCH_SIZE = 256

export interface CollectedSet {
  logits: Float32Array
  labels: Int32Array
  n: number
  c: number
  /** sha256 over the float32 inputs and int32 labels, in order: the same set hashes the same in any encoding. */
  digest: string
  /** The reference model's logits on the same samples (n × c, columns in the fit model's class order). */
  reference?: { model: ReadyModel; logits: Float32Array }
}

/**
 * A model run over the fit set beside the fit model. `columns[j]` is the reference's output column
 * of the fit model's class j (the same label name).
 */
export interface ReferenceRun {
  model: ReadyModel
  columns: Int32Array
}

export class LogitCollector {
  private readonly batch: Float32Array
  private readonly batchLabels: Int32Array
  private inBatch = 0
  private logits: Float32Array
  private labels: Int32Array
  private refLogits: Float32Array | undefined
  private n = 0
  private readonly hash: Hash = createHash('sha256')
  readonly c: number
  readonly sampleSize: number

  constructor(
    private readonly model: ReadyModel,
    private readonly plane: Pick<DataPlane, 'infer'>,
    expected = FIT_BATCH_SIZE,
    private readonly onProgress: (done: number) => void = () => {},
    private readonly batchSize = FIT_BATCH_SIZE,
    private readonly reference?: ReferenceRun,
  ) {
    this.c = model.manifest.labels.length
    this.sampleSize = model.runner.sampleSize
    this.batch = new Float32Array(batchSize * this.sampleSize)
    this.batchLabels = new Int32Array(batchSize)
    this.logits = new Float32Array(Math.max(1, expected) * this.c)
    this.labels = new Int32Array(Math.max(1, expected))
    if (reference) this.refLogits = new Float32Array(Math.max(1, expected) * this.c)
  }

  /** The slot for the next sample's numbers; fill it, then call `commit(label)`. */
  slot(): Float32Array {
    const start = this.inBatch * this.sampleSize
    return this.batch.subarray(start, start + this.sampleSize)
  }

  /** Accepts the sample written into `slot()`; runs the batch when it is full. */
  async commit(label: number): Promise<void> {
    this.batchLabels[this.inBatch++] = label
    if (this.inBatch === this.batchSize) await this.flush()
  }

  get count(): number {
    return this.n + this.inBatch
  }

  private async flush(): Promise<void> {
    const k = this.inBatch
    if (k === 0) return
    const inputs = this.batch.subarray(0, k * this.sampleSize)
    this.hash.update(new Uint8Array(inputs.buffer, inputs.byteOffset, inputs.byteLength))
    const labels = this.batchLabels.subarray(0, k)
    this.hash.update(new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength))
    const ref = this.reference
    // Both models read the same batch; the buffer is not refilled until both have answered.
    const [out, refOut] = await Promise.all([this.plane.infer(this.model, inputs, k), ref ? this.plane.infer(ref.model, inputs, k) : undefined])
    this.reserve(this.n + k)
    this.logits.set(out.subarray(0, k * this.c), this.n * this.c)
    if (ref && refOut && this.refLogits) {
      const rc = ref.model.manifest.labels.length
      const c = this.c
      for (let i = 0; i < k; i++) {
        const to = (this.n + i) * c
        const from = i * rc
        for (let j = 0; j < c; j++) this.refLogits[to + j] = refOut[from + ref.columns[j]!]!
      }
    }
    this.labels.set(labels, this.n)
    this.n += k
    this.inBatch = 0
    this.onProgress(this.n)
  }

  private reserve(n: number): void {
    if (n <= this.labels.length) return
    const capacity = Math.max(n, this.labels.length * 2)
    const logits = new Float32Array(capacity * this.c)
    logits.set(this.logits.subarray(0, this.n * this.c))
    this.logits = logits
    const labels = new Int32Array(capacity)
    labels.set(this.labels.subarray(0, this.n))
    this.labels = labels
    if (this.refLogits) {
      const refLogits = new Float32Array(capacity * this.c)
      refLogits.set(this.refLogits.subarray(0, this.n * this.c))
      this.refLogits = refLogits
    }
  }

  async finish(): Promise<CollectedSet> {
    await this.flush()
    if (this.n === 0) throw badInput('the fit set is empty: send at least one labelled sample', { field: 'inputs' })
    return {
      logits: this.logits.subarray(0, this.n * this.c),
      labels: this.labels.subarray(0, this.n),
      n: this.n,
      c: this.c,
      digest: `sha256:${this.hash.digest('hex')}`,
      ...(this.reference && this.refLogits ? { reference: { model: this.reference.model, logits: this.refLogits.subarray(0, this.n * this.c) } } : {}),
    }
  }
}

/** A label given by name or by index, checked against the model's labels. */
export function resolveLabel(model: ReadyModel, value: unknown, where: string): number {
  if (typeof value === 'string') {
    const index = model.labelIndex.get(value)
    if (index !== undefined) return index
    throw badInput(`${where} is '${value.slice(0, 100)}', not a label of model '${model.name}'`, { field: 'labels', where, value })
  }
  const c = model.manifest.labels.length
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < c) return value
  throw badInput(`${where} must be a label name or a class index in [0, ${c - 1}]`, { field: 'labels', where, value })
}
