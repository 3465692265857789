// `calserve import DIR --name NAME --fine-tuning-classes a,b,c [--repository models]`: turns a
// Hugging Face export (model.onnx, config.json with id2label, preprocessor_config.json — what
// `optimum-cli export onnx` or torch.onnx + save_pretrained leave) into a model repository entry:
// labels from id2label in index order, the image block from preprocessor_config.json, the ONNX
// file as version 1 (or the next version when the model is there already).
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { imageBlockFromHf, PREPROCESSOR_CONFIG } from '../inputs/image-hf.js'
import { planImage } from '../inputs/image-plan.js'
import { ManifestSchema, type ImageBlock } from '../models/manifest.js'
import { MODEL_NAME } from '../api/names.js'
import { HELP, parseArgs, parseOrUsage, required, type Command } from './args.js'
import { CliError, out, outLine, UsageError } from './output.js'

const usage = `usage: calserve import DIR --name NAME --fine-tuning-classes a,b,c [--repository DIR]

Adds a Hugging Face image classifier exported to ONNX to a model repository. DIR holds
model.onnx, config.json (with id2label) and preprocessor_config.json. Writes
<repository>/<NAME>/model.json (labels in id2label's index order, the image block read from
preprocessor_config.json) and <repository>/<NAME>/<version>/model.onnx (1, or the next version).
  --name NAME                  the model's name in the repository
  --fine-tuning-classes LIST   comma-separated labels fine-tuning covered; the others are absent
  --repository DIR             the model repository (default: $CALSERVE_MODEL_REPOSITORY or ./models)
  -h, --help                   show this help
`

async function readJson(file: string): Promise<Record<string, unknown>> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    throw new CliError(`${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`)
  }
  try {
    const json = JSON.parse(text) as unknown
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not a JSON object')
    return json as Record<string, unknown>
  } catch (e) {
    throw new CliError(`${file} is not a JSON object (${(e as Error).message})`)
  }
}

/** Labels from config.json's id2label, in index order 0…K−1. */
export function labelsFromId2label(config: Record<string, unknown>, file: string): string[] {
  const map = config.id2label
  if (typeof map !== 'object' || map === null || Array.isArray(map))
    throw new CliError(`${file} has no id2label: calserve needs the class names in logit order (save the model with config.id2label set)`)
  const entries = Object.entries(map as Record<string, unknown>)
  const labels: string[] = []
  for (const [key, value] of entries) {
    const i = Number(key)
    if (!Number.isInteger(i) || i < 0 || i >= entries.length || typeof value !== 'string' || value === '')
      throw new CliError(`${file}: id2label must map the indices 0…${entries.length - 1} to names; '${key}' → ${JSON.stringify(value)} does not`)
    labels[i] = value
  }
  return labels
}

/** The ONNX model's input name and its output width, from one run on zeros at the image block's size. */
async function probe(file: string, block: ImageBlock): Promise<{ input: string; shape: number[]; width: number }> {
  const target = block.crop_size ?? (block.size && 'height' in block.size ? block.size : undefined)
  if (!target) throw new CliError(`${PREPROCESSOR_CONFIG} gives no fixed image size (size {height, width} or crop_size)`)
  const channels = block.color === 'grayscale' ? 1 : 3
  const shape = [channels, target.height, target.width]
  let session: ort.InferenceSession
  try {
    session = await ort.InferenceSession.create(file)
  } catch (e) {
    throw new CliError(`${file} cannot be loaded by onnxruntime: ${(e as Error).message}`)
  }
  try {
    const input = session.inputNames[0]
    const output = session.outputNames[0]
    if (!input || !output || session.inputNames.length !== 1) throw new CliError(`${file} must have one input (it has ${session.inputNames.length})`)
    const zeros = new ort.Tensor('float32', new Float32Array(shape.reduce((a, b) => a * b, 1)), [1, ...shape])
    const result = await session.run({ [input]: zeros })
    const dims = result[output]!.dims
    if (dims.length !== 2) throw new CliError(`${file}: output '${output}' has shape [${dims.join(', ')}] for one image; expected [1, classes]`)
    return { input, shape, width: dims[1]! }
  } finally {
    await session.release()
  }
}

export const importCommand: Command = {
  name: 'import',
  summary: 'add a Hugging Face ONNX export (model.onnx, config.json, preprocessor_config.json) to a repository',
  usage,
  async run(argv) {
    const { values, positionals } = parseOrUsage(usage, () =>
      parseArgs({
        args: argv,
        options: { ...HELP, name: { type: 'string' }, 'fine-tuning-classes': { type: 'string' }, repository: { type: 'string' } },
        strict: true,
        allowPositionals: true,
      }),
    )
    if (values.help) return out(usage)
    if (positionals.length !== 1) throw new UsageError('give one folder to import', usage)
    const dir = positionals[0]!
    const name = required(values.name, 'name', usage)
    if (!MODEL_NAME.test(name)) throw new UsageError(`--name '${name}' is not a model name: letters, digits, ".", "_" and "-" only`, usage)
    const fineTuning = required(values['fine-tuning-classes'], 'fine-tuning-classes', usage)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
    const repository = values.repository ?? process.env.CALSERVE_MODEL_REPOSITORY ?? './models'

    const labels = labelsFromId2label(await readJson(join(dir, 'config.json')), join(dir, 'config.json'))
    const preFile = join(dir, PREPROCESSOR_CONFIG)
    let image: ImageBlock
    try {
      image = imageBlockFromHf(await readJson(preFile), preFile)
    } catch (e) {
      throw new CliError((e as Error).message)
    }
    const onnxFile = join(dir, 'model.onnx')
    const probed = await probe(onnxFile, image)
    if (probed.width !== labels.length)
      throw new CliError(`config.json's id2label has ${labels.length} labels but model.onnx's output has ${probed.width} columns`)
    try {
      planImage(image, probed.shape, PREPROCESSOR_CONFIG)
    } catch (e) {
      throw new CliError((e as Error).message)
    }
    const manifest = {
      labels,
      fine_tuning_classes: fineTuning,
      input: { name: probed.input, shape: probed.shape, dtype: 'float32' },
      image,
      description: `Imported from a Hugging Face export by calserve import (${PREPROCESSOR_CONFIG} read into the image block).`,
    }
    const parsed = ManifestSchema.safeParse(manifest)
    if (!parsed.success) throw new CliError(`the model.json it would write is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)

    const target = join(repository, name)
    const versions = await readdir(target, { withFileTypes: true }).then(
      (es) => es.filter((e) => e.isDirectory() && /^[1-9][0-9]*$/.test(e.name)).map((e) => Number(e.name)),
      () => [] as number[],
    )
    const version = versions.length ? Math.max(...versions) + 1 : 1
    await mkdir(join(target, String(version)), { recursive: true })
    await copyFile(onnxFile, join(target, String(version), 'model.onnx'))
    await writeFile(join(target, 'model.json'), `${JSON.stringify(manifest, null, 2)}\n`)
    outLine(`imported ${dir} as ${name} version ${version} in ${repository}: ${labels.length} labels, ${labels.length - new Set(fineTuning).size} absent, input ${probed.input} [${probed.shape.join(', ')}]`)
  },
}
