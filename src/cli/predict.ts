// `calserve predict`: classify the samples of a file (or one given inline) and, when the file has
// labels, mark each prediction right or wrong and print the accuracy.
import type { z } from 'zod'
import type { PredictResponseSchema } from '../api/v1.js'
import { CLIENT, CLIENT_USAGE, HELP, intOption, parseArgs, parseOrUsage, required, type Command } from './args.js'
import { openDataset, findLabel, type Sample } from './datasets.js'
import { Client, getModel, type ModelInfo } from './http.js'
import { CliError, out, outLine, UsageError } from './output.js'
import { formatFixed, formatPercent } from './table.js'
import { isImageData, listImages } from './images.js'
import { readFile } from 'node:fs/promises'

type PredictResponse = z.infer<typeof PredictResponseSchema>
type Prediction = PredictResponse['predictions'][number]

const CHUNK = 256
/** Images per request, and their bytes: base64 in JSON (4/3 as large), a predict body stays under the default 4 MiB JSON limit. */
const IMAGE_CHUNK = 32
const IMAGE_CHUNK_BYTES = 2 * 1024 * 1024

const usage = `usage: calserve predict --model NAME (--data FILE | --input JSON) [options]

Classifies samples with the model's active calibration. Prints one line per sample: index,
predicted label and score, and — when the file has labels — the true label, ✓ or ✗, and the
accuracy at the end.
  --model NAME       the model
  --data FILE        .csv (header row; a column named "label" is the label, the others the sample),
                     .ndjson ({"input": [...], "label"?: ...} per line) or .json ({"inputs": [...]}
                     or an array of samples)
  --data FILE|DIR    or, for a model with an image block, one .png/.jpg/.jpeg/.webp image, or a
                     folder of images (in ImageFolder layout <label>/<name>.png the folder is the
                     label, and the accuracy is printed)
  --input JSON       one sample inline, e.g. '[0.1, 0.5, ...]', or '{"inputs": [[...], ...]}'
  --top-k K          also show the K best classes of each sample
  --raw              predict from the raw logits, without the calibration
  --sets             also show each sample's conformal prediction set (needs a calibration fitted
                     with --conformal-alpha) and, with labels, the sets' coverage and mean size
  --limit N          only the first N samples
${CLIENT_USAGE}
`

export const predict: Command = {
  name: 'predict',
  summary: 'classify the samples of a file and report the accuracy when it has labels',
  usage,
  async run(argv) {
    const { values } = parseOrUsage(usage, () =>
      parseArgs({
        args: argv,
        options: {
          ...HELP,
          ...CLIENT,
          model: { type: 'string', short: 'm' },
          data: { type: 'string', short: 'd' },
          input: { type: 'string' },
          'top-k': { type: 'string', short: 'k' },
          raw: { type: 'boolean' },
          sets: { type: 'boolean' },
          limit: { type: 'string', short: 'n' },
        },
        strict: true,
        allowPositionals: false,
      }),
    )
    if (values.help) return out(usage)
    const name = required(values.model, 'model', usage)
    if ((values.data === undefined) === (values.input === undefined)) throw new UsageError('give either --data FILE or --input JSON', usage)
    const topK = intOption(values['top-k'], 'top-k', usage, 1) ?? 1
    const limit = intOption(values.limit, 'limit', usage, 1) ?? Infinity
    const sets = values.sets === true
    if (sets && values.raw) throw new UsageError('--sets needs the calibrated output: conformal sets mean nothing for the raw logits', usage)
    const client = new Client(values)
    const path = `/v1/models/${encodeURIComponent(name)}/predict`
    if (values.data !== undefined && (await isImageData(values.data))) {
      const files = (await listImages(values.data)).slice(0, limit)
      const model = await getModel(client, name)
      const report = new Report(model, topK, values.json === true, sets)
      for (const chunk of imageChunks(files)) {
        const images = await Promise.all(chunk.map(async (f) => (await readFile(f.path)).toString('base64')))
        const answer = await client.post<PredictResponse>(path, { images, top_k: topK, calibrated: !values.raw, ...(sets ? { return_sets: true } : {}) })
        report.add(
          chunk.map((f) => ({ input: null, where: f.where, ...(f.label !== undefined ? { label: f.label } : {}) })),
          answer,
        )
      }
      return report.end()
    }
    const samples = values.data !== undefined ? await openDataset(values.data) : inlineSamples(values.input!)

    const model = await getModel(client, name)
    const report = new Report(model, topK, values.json === true, sets)
    let chunk: Sample[] = []
    const send = async () => {
      const answer = await client.post<PredictResponse>(path, {
        inputs: chunk.map((s) => s.input),
        top_k: topK,
        calibrated: !values.raw,
        ...(sets ? { return_sets: true } : {}),
      })
      report.add(chunk, answer)
      chunk = []
    }
    let n = 0
    for await (const sample of samples) {
      if (n++ >= limit) break
      chunk.push(sample)
      if (chunk.length === CHUNK) await send()
    }
    if (chunk.length > 0) await send()
    report.end()
  },
}

/** `files` in order, in groups of at most IMAGE_CHUNK (32) images and IMAGE_CHUNK_BYTES (2 MiB; a larger image goes alone). */
export function* imageChunks<F extends { size: number }>(files: readonly F[]): Generator<F[]> {
  let chunk: F[] = []
  let bytes = 0
  for (const file of files) {
    if (chunk.length > 0 && (chunk.length === IMAGE_CHUNK || bytes + file.size > IMAGE_CHUNK_BYTES)) {
      yield chunk
      chunk = []
      bytes = 0
    }
    chunk.push(file)
    bytes += file.size
  }
  if (chunk.length > 0) yield chunk
}

function inlineSamples(text: string): Sample[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    throw new UsageError(`--input is not valid JSON: ${(e as Error).message}`, usage)
  }
  if (Array.isArray(parsed)) return [{ input: parsed as unknown, where: '--input' }]
  const inputs = (parsed as { inputs?: unknown } | null)?.inputs
  if (Array.isArray(inputs)) return (inputs as unknown[]).map((input, i) => ({ input, where: `--input inputs[${i}]` }))
  throw new UsageError('--input must be one sample (an array) or {"inputs": [sample, ...]}', usage)
}

/** Prints predictions as their chunks come back, or gathers them for --json. */
class Report {
  private index = 0
  private labelled = 0
  private correct = 0
  /** With --sets: labelled samples whose set holds the label, and the sum of the set sizes. */
  private covered = 0
  private setSizes = 0
  private first: PredictResponse | undefined
  private readonly all: Prediction[] = []
  private readonly labelWidth: number

  constructor(
    private readonly model: ModelInfo,
    private readonly topK: number,
    private readonly json: boolean,
    private readonly sets = false,
  ) {
    this.labelWidth = Math.max(9, ...model.labels.map((l) => [...l].length))
  }

  add(samples: readonly Sample[], answer: PredictResponse): void {
    if (!this.first) {
      this.first = answer
      if (!this.json)
        outLine(`${'#'.padStart(6)}  ${'predicted'.padEnd(this.labelWidth)}  score   ${samples.some((s) => s.label !== undefined) ? 'true' : ''}`.trimEnd())
    }
    answer.predictions.forEach((p, i) => {
      const sample = samples[i]!
      let mark = ''
      if (sample.label !== undefined) {
        const truth = findLabel(this.model.labels, sample.label)
        if (!truth)
          throw new CliError(`${sample.where}: '${sample.label}' is not a label of model '${this.model.name}' (labels: ${this.model.labels.join(', ')})`)
        this.labelled++
        const ok = truth.index === p.index
        if (ok) this.correct++
        if (p.prediction_set?.some((e) => e.index === truth.index)) this.covered++
        mark = `${truth.name.padEnd(this.labelWidth)}  ${ok ? '✓' : '✗'}`
      }
      this.setSizes += p.prediction_set?.length ?? 0
      if (this.json) this.all.push(p)
      else {
        const top = this.topK > 1 ? `  top: ${p.top_k.map((c) => `${c.label} ${formatFixed(c.score, 3)}`).join(', ')}` : ''
        const set = this.sets ? `  set: {${(p.prediction_set ?? []).map((c) => c.label).join(', ')}}` : ''
        outLine(`${String(this.index).padStart(6)}  ${p.label.padEnd(this.labelWidth)}  ${formatFixed(p.score)}  ${mark}${top}${set}`.trimEnd())
      }
      this.index++
    })
  }

  end(): void {
    const first = this.first
    if (this.json) {
      const body = first ? { ...first, predictions: this.all } : { predictions: [] }
      return outLine(JSON.stringify(body, null, 2))
    }
    if (!first) return outLine('no samples')
    const c = first.calibration
    const calibration = c.applied ? `calibration ${c.version} (γ ${formatFixed(c.gamma)}, T ${c.temperature})` : 'raw logits (calibration not applied)'
    outLine()
    outLine(`${this.index} ${this.index === 1 ? 'sample' : 'samples'} · ${first.model} v${first.model_version} · ${calibration}`)
    const conformal = c.conformal
    if (this.sets && conformal)
      outLine(`prediction sets at α ${conformal.alpha} (${conformal.score}, ${conformal.by}): mean size ${formatFixed(this.setSizes / this.index, 2)}`)
    if (this.sets && this.labelled > 0) outLine(`set coverage ${formatPercent(this.covered / this.labelled)} (${this.covered}/${this.labelled})`)
    if (this.labelled > 0) outLine(`accuracy ${formatPercent(this.correct / this.labelled)} (${this.correct}/${this.labelled})`)
  }
}
