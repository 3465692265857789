// model.json: what calserve must know about a model that the ONNX file doesn't say — the class
// names in logit order and which of them fine-tuning covered. Validated strictly so that a typo
// (say "fine_tunning_classes") is reported instead of silently ignored.
import { readFile } from 'node:fs/promises'
import { z } from 'zod'

/**
 * Batching defaults, measured on a 2-core machine (bench/results/): greedy batching (no added
 * delay) with up to 16 samples per run. A ResNet-18 at 112² runs 357 samples/s at batch 1, 442 at
 * 8, 473 at 32 and 482 at 128: past 16 the gain is a few percent while a batch's latency grows with
 * its size. The HTTP-bound demo model rarely forms batches of more than a few samples anyway.
 */
export const BATCHING_DEFAULTS = { max_batch_size: 16, max_queue_delay_ms: 0, max_queue_size: 2048 }

/** A single-sample run slower than this moves a model with thread 'auto' to a worker thread. */
export const AUTO_WORKER_MS = 1

/** onnxruntime session defaults: 0 intra-op threads = one per CPU the process may use (runner.ts), 0 inter-op = onnxruntime's. */
export const SESSION_DEFAULTS = {
  intra_op_threads: 0,
  inter_op_threads: 0,
  graph_optimization_level: 'all' as 'disabled' | 'basic' | 'extended' | 'all',
  concurrency: 1,
  allow_spinning: false,
  /**
   * Where onnxruntime runs. onnxruntime-node's run() holds its thread for the whole inference, so
   * 'worker' (a worker thread per model version) keeps the event loop free while a batch computes,
   * at the price of a thread hop (~0.1 ms) per batch. 'auto' measures one sample at load and picks
   * the worker when a run takes longer than AUTO_WORKER_MS (measured: the 0.01 ms demo MLP serves
   * more requests on the main thread; a ResNet-18 at 112² does more in a worker).
   */
  thread: 'auto' as 'auto' | 'worker' | 'main',
}

const Size = z.strictObject({ height: z.number().int().positive(), width: z.number().int().positive() })

/**
 * How calserve turns an encoded image (PNG, JPEG, WebP) into this model's input tensor. The field
 * names are those of Hugging Face's image processors (preprocessor_config.json), so users know
 * them; src/inputs/image-plan.ts checks the block against the input shape at load and
 * src/inputs/image.ts applies it: decode, colour, resize, center crop, ((p·rescale_factor) − mean) / std.
 */
export const ImageBlockSchema = z.strictObject({
  size: z
    .union([Size, z.strictObject({ shortest_edge: z.number().int().positive() })])
    .optional()
    .describe('resize to exactly {height, width}, or the shortest edge to S keeping the aspect ratio; absent: no resize'),
  resample: z.enum(['nearest', 'bilinear', 'bicubic']).default('bilinear'),
  crop_size: Size.optional().describe('center crop after the resize'),
  rescale_factor: z.number().positive().default(1 / 255),
  image_mean: z.array(z.number()).min(1).default([0]).describe('one per channel, or one for all'),
  image_std: z.array(z.number().positive()).min(1).default([1]).describe('one per channel, or one for all'),
  color: z.enum(['rgb', 'bgr', 'grayscale']).optional().describe("default from the input's channels: 1 grayscale, 3 rgb"),
  layout: z.enum(['nchw', 'nhwc']).optional().describe('default from the input shape'),
})
export type ImageBlock = z.infer<typeof ImageBlockSchema>

export const ExecutionProvider = z.enum(['cuda', 'cpu'])
export type ExecutionProvider = z.infer<typeof ExecutionProvider>

export const ManifestSchema = z
  .strictObject({
    labels: z
      .array(z.string().min(1))
      .min(2)
      .refine((l) => new Set(l).size === l.length, 'labels must be unique'),
    fine_tuning_classes: z.array(z.string()).min(1),
    input: z
      .strictObject({
        name: z.string().min(1),
        shape: z.array(z.number().int().positive()).min(1),
        dtype: z.literal('float32').default('float32'),
      })
      .optional(),
    output: z.strictObject({ name: z.string().min(1) }).optional(),
    execution_providers: z.array(ExecutionProvider).min(1).optional(),
    batching: z
      .strictObject({
        max_batch_size: z.number().int().min(1).max(65536).default(BATCHING_DEFAULTS.max_batch_size),
        max_queue_delay_ms: z.number().min(0).max(10_000).default(BATCHING_DEFAULTS.max_queue_delay_ms),
        max_queue_size: z.number().int().min(1).default(BATCHING_DEFAULTS.max_queue_size),
      })
      .default(BATCHING_DEFAULTS),
    session: z
      .strictObject({
        intra_op_threads: z.number().int().min(0).max(256).default(SESSION_DEFAULTS.intra_op_threads),
        inter_op_threads: z.number().int().min(0).max(256).default(SESSION_DEFAULTS.inter_op_threads),
        graph_optimization_level: z.enum(['disabled', 'basic', 'extended', 'all']).default(SESSION_DEFAULTS.graph_optimization_level),
        concurrency: z.number().int().min(1).max(64).default(SESSION_DEFAULTS.concurrency),
        allow_spinning: z.boolean().default(SESSION_DEFAULTS.allow_spinning),
        thread: z.enum(['auto', 'worker', 'main']).default(SESSION_DEFAULTS.thread),
      })
      .default(SESSION_DEFAULTS),
    image: ImageBlockSchema.optional(),
    description: z.string().optional(),
  })
  .superRefine((m, ctx) => {
    const known = new Set(m.labels)
    m.fine_tuning_classes.forEach((c, i) => {
      if (!known.has(c))
        ctx.addIssue({ code: 'custom', path: ['fine_tuning_classes', i], message: `'${c}' is not one of labels` })
    })
  })
export type Manifest = z.infer<typeof ManifestSchema>

export class ManifestError extends Error {}

/** Reads and validates a manifest; every error names the file and the field. */
export async function readManifest(file: string): Promise<Manifest> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ManifestError(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new ManifestError(`${file}: not valid JSON (${(err as Error).message})`)
  }
  const parsed = ManifestSchema.safeParse(json)
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`)
    throw new ManifestError(`${file}: ${issues.join('; ')}`)
  }
  return parsed.data
}

function formatPath(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('')
}
