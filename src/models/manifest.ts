// model.json: what calserve must know about a model that the ONNX file doesn't say — the class
// names in logit order and which of them fine-tuning covered. Validated strictly so that a typo
// (say "fine_tunning_classes") is reported instead of silently ignored.
import { readFile } from 'node:fs/promises'
import { z } from 'zod'

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
