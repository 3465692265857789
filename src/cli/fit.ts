// `calserve fit`: stream a labelled set to POST /v1/models/{name}/calibration/fit as ndjson, with a
// progress bar, follow the job when the server makes one, and print the metrics before and after.
import { createReadStream } from 'node:fs'
import { basename } from 'node:path'
import type { z } from 'zod'
import type { FitResponse, JobAcceptedSchema, JobSchema } from '../api/fit.js'
import type { MetricsSchema } from '../api/v1.js'
import { choiceOption, CLIENT, CLIENT_USAGE, HELP, intOption, parseArgs, parseOrUsage, required, type Command } from './args.js'
import { DatasetError, openDataset, findLabel, type Dataset } from './datasets.js'
import { Client, getModel, type ModelInfo, type Query } from './http.js'
import { ApiError, out, UsageError } from './output.js'
import { Progress } from './progress.js'
import { isImageData, listImages, TAR, tarOf } from './images.js'
import { formatFixed, formatPairs, formatPercent, formatTable } from './table.js'

type Job = z.infer<typeof JobSchema>
type JobAccepted = z.infer<typeof JobAcceptedSchema>
type Metrics = z.infer<typeof MetricsSchema>

const NDJSON = 'application/x-ndjson'
const CHUNK_BYTES = 64 * 1024

const usage = `usage: calserve fit --model NAME --data FILE [options]

Fits γ (the bias of the absent classes) from a labelled set and stores it as the model's new
active calibration. The set is streamed to the server as ndjson; .csv and .json files are
converted on the fly.
  --model NAME              the model
  --data FILE|DIR           .ndjson ({"input": [...], "label": ...} per line, sent as it is),
                            .csv (header row; a column named "label") or .json ({"inputs", "labels"});
                            or, for a model with an image block, a folder in ImageFolder layout
                            (<label>/<name>.png|jpg|jpeg|webp), streamed as a tar
  --method sweep|alg        sweep: exact optimum (needs fine-tuning and absent samples);
                            alg: average logit gap (fine-tuning samples suffice). Default sweep
  --objective OBJ           what sweep maximises: accuracy, harmonic_mean or balanced_accuracy
  --dry-run                 compute and report; store nothing
  --fit-temperature         also fit a score temperature
  --expected-version N      refuse unless N is the active calibration version
  --note TEXT               stored with the new version
  --async                   run as a job on the server and follow its progress
  --constraint FLOOR=VALUE  sweep only, repeatable: min_acc_s_y or min_acc_u_y, VALUE a rate in
                            [0, 1] or "reference" (the reference model's value on the set)
  --reference-model NAME    a served model with the same labels (the pre-trained one, say), run
                            over the same set: its metrics are reported beside the others
  --alg-samples fine_tuning|all
                            alg only: the paper's text (fine-tuning samples, the default) or its
                            released code (every sample)
  --conformal-alpha A       also fit conformal prediction sets of coverage 1 − A, A in (0, 1)
  --conformal-score lac|aps the conformal score (default lac)
  --conformal-by marginal|group
                            one threshold, or one per group (fine-tuning / absent; lac only)
${CLIENT_USAGE}
`

export const fit: Command = {
  name: 'fit',
  summary: 'fit γ from a labelled set (streamed, with progress) and store it',
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
          method: { type: 'string' },
          objective: { type: 'string' },
          'dry-run': { type: 'boolean' },
          'fit-temperature': { type: 'boolean' },
          'expected-version': { type: 'string' },
          note: { type: 'string' },
          async: { type: 'boolean' },
          constraint: { type: 'string', multiple: true },
          'reference-model': { type: 'string' },
          'alg-samples': { type: 'string' },
          'conformal-alpha': { type: 'string' },
          'conformal-score': { type: 'string' },
          'conformal-by': { type: 'string' },
        },
        strict: true,
        allowPositionals: false,
      }),
    )
    if (values.help) return out(usage)
    const name = required(values.model, 'model', usage)
    const data = required(values.data, 'data', usage)
    const query: Query = {
      method: choiceOption(values.method, 'method', ['sweep', 'alg'], usage),
      objective: choiceOption(values.objective, 'objective', ['accuracy', 'harmonic_mean', 'balanced_accuracy'], usage),
      dry_run: values['dry-run'] || undefined,
      fit_temperature: values['fit-temperature'] || undefined,
      expected_version: intOption(values['expected-version'], 'expected-version', usage, 0),
      note: values.note,
      async: values.async || undefined,
      ...constraintsOf(values.constraint ?? []),
      reference_model: values['reference-model'],
      alg_samples: choiceOption(values['alg-samples'], 'alg-samples', ['fine_tuning', 'all'], usage),
      conformal_alpha: alphaOption(values['conformal-alpha']),
      conformal_score: choiceOption(values['conformal-score'], 'conformal-score', ['lac', 'aps'], usage),
      conformal_by: choiceOption(values['conformal-by'], 'conformal-by', ['marginal', 'group'], usage),
    }
    if (await isImageData(data)) {
      const client = new Client(values)
      await getModel(client, name)
      const files = await listImages(data)
      const progress = new Progress({ label: `uploading ${files.length} images`, unit: 'bytes', total: files.reduce((a, f) => a + f.size, 0) })
      let sent = 0
      let answer
      try {
        answer = await client.request<FitResponse | JobAccepted>('POST', `/v1/models/${encodeURIComponent(name)}/calibration/fit`, {
          query,
          stream: tarOf(files, (bytes) => progress.update((sent += bytes))),
          contentType: TAR,
        })
        progress.finish()
      } finally {
        progress.abort()
      }
      const result = answer.status === 202 ? await followJob(client, (answer.body as JobAccepted).job_id) : (answer.body as FitResponse)
      return out(values.json ? `${JSON.stringify(result, null, 2)}\n` : fitReport(result))
    }
    const dataset = await openDataset(data)
    const client = new Client(values)
    const model = await getModel(client, name)
    const path = `/v1/models/${encodeURIComponent(name)}/calibration/fit`
    await checkAccess(client, path)

    const progress = new Progress({ label: `uploading ${basename(data)}`, unit: 'bytes', total: dataset.size })
    const body = bodyOf(dataset, model)
    let failed: Error | undefined
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { value, done } = await body.chunks.next()
          progress.update(body.bytesRead())
          if (done) {
            progress.finish()
            controller.close()
          } else controller.enqueue(value)
        } catch (e) {
          failed = e as Error
          controller.error(e)
        }
      },
      async cancel() {
        await body.chunks.return(undefined)
      },
    })
    let answer
    try {
      answer = await client.request<FitResponse | JobAccepted>('POST', path, { query, stream, contentType: NDJSON, streamError: () => failed })
    } finally {
      progress.abort()
    }
    const result = answer.status === 202 ? await followJob(client, (answer.body as JobAccepted).job_id) : (answer.body as FitResponse)
    out(values.json ? `${JSON.stringify(result, null, 2)}\n` : fitReport(result))
  },
}

const FLOORS = ['min_acc_s_y', 'min_acc_u_y'] as const

/** `--constraint min_acc_u_y=reference --constraint min_acc_s_y=0.9` as the query's floors. */
function constraintsOf(specs: string[]): Query {
  const query: Query = {}
  for (const spec of specs) {
    const [floor, value, ...rest] = spec.split('=')
    if (!(FLOORS as readonly string[]).includes(floor ?? '') || value === undefined || rest.length > 0)
      throw new UsageError(`--constraint takes FLOOR=VALUE with FLOOR one of ${FLOORS.join(', ')}, not '${spec}'`, usage)
    if (floor! in query) throw new UsageError(`--constraint ${floor} is given twice`, usage)
    const rate = Number(value)
    if (value !== 'reference' && (value.trim() === '' || !(rate >= 0 && rate <= 1)))
      throw new UsageError(`--constraint ${floor} must be a rate in [0, 1] or "reference", not '${value}'`, usage)
    query[floor!] = value
  }
  return query
}

function alphaOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const a = Number(value)
  if (value.trim() === '' || !(a > 0 && a < 1)) throw new UsageError(`--conformal-alpha must be a number in (0, 1), not '${value}'`, usage)
  return a
}

/**
 * Asks the fit route whether this token may fit, before the set is sent: an empty JSON fit passes
 * the route's access check (401 or 403 otherwise) and is then refused as bad input, storing nothing.
 * A large set is not uploaded only to learn that the token was wrong.
 */
async function checkAccess(client: Client, path: string): Promise<void> {
  try {
    await client.request('POST', path, { json: {} })
  } catch (e) {
    if (e instanceof ApiError && e.status === 400) return
    throw e
  }
}

/**
 * The request body as chunks of ndjson: an .ndjson file as it is; other formats one
 * {"input", "label"} line per sample, labels checked against the model so errors name the file's line.
 */
function bodyOf(dataset: Dataset, model: ModelInfo): { chunks: AsyncGenerator<Uint8Array, void, undefined>; bytesRead: () => number } {
  if (dataset.format === 'ndjson') {
    let bytes = 0
    const chunks = async function* () {
      for await (const chunk of createReadStream(dataset.path, { highWaterMark: CHUNK_BYTES }) as AsyncIterable<Buffer>) {
        bytes += chunk.length
        yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)
      }
    }
    return { chunks: chunks(), bytesRead: () => bytes }
  }
  const encoder = new TextEncoder()
  const chunks = async function* () {
    let pending = ''
    for await (const sample of dataset) {
      if (sample.label === undefined) throw new DatasetError(`${sample.where}: the sample has no label; fitting needs one per sample`)
      const label = findLabel(model.labels, sample.label)
      if (!label) throw new DatasetError(`${sample.where}: '${sample.label}' is not a label of model '${model.name}' (labels: ${model.labels.join(', ')})`)
      pending += `${JSON.stringify({ input: sample.input, label: label.name })}\n`
      if (pending.length >= CHUNK_BYTES) {
        yield encoder.encode(pending)
        pending = ''
      }
    }
    if (pending) yield encoder.encode(pending)
  }
  return { chunks: chunks(), bytesRead: () => dataset.bytesRead() }
}

/** Polls GET /v1/jobs/{id} with a progress bar until the job succeeds (its result) or fails (an error). */
async function followJob(client: Client, id: string): Promise<FitResponse> {
  const progress = new Progress({ label: 'fitting', unit: 'items', total: 0 })
  let wait = 100
  try {
    for (;;) {
      const job = await client.get<Job>(`/v1/jobs/${encodeURIComponent(id)}`)
      progress.update(job.progress.done, job.progress.total)
      if (job.state === 'succeeded' && job.result) {
        progress.finish()
        return job.result
      }
      if (job.state === 'failed') {
        const e = job.error ?? { code: 'CALSERVE_INTERNAL', message: `job ${id} failed` }
        throw new ApiError(e.code, e.message, 200, e.details)
      }
      await new Promise((r) => setTimeout(r, wait))
      wait = Math.min(1000, wait * 1.5)
    }
  } finally {
    progress.abort()
  }
}

const ROWS: ReadonlyArray<[string, keyof Metrics, (x: number | null | undefined) => string]> = [
  ['Acc_S/Y', 'acc_s_y', formatPercent],
  ['Acc_U/Y', 'acc_u_y', formatPercent],
  ['Acc_Y/Y', 'acc_y_y', formatPercent],
  ['Acc_S/S', 'acc_s_s', formatPercent],
  ['Acc_U/U', 'acc_u_u', formatPercent],
  ['harmonic mean', 'harmonic_mean', formatPercent],
  ['balanced accuracy', 'balanced_accuracy', formatPercent],
  ['AUSUC', 'ausuc', (x) => formatFixed(x, 4)],
  ['NLL', 'nll', (x) => formatFixed(x, 4)],
  ['ECE', 'ece', formatPercent],
]

/** The metrics table and the fitted values, as `calserve fit` prints them. */
export function fitReport(r: FitResponse): string {
  const reference = r.metrics.reference
  const columns = ['uncalibrated', 'active', 'fitted'] as const
  const cell = (c: (typeof columns)[number] | 'reference', key: keyof Metrics): number | null | undefined =>
    c === 'reference' ? (reference as Partial<Metrics> | undefined)?.[key] : r.metrics[c][key]
  const shown = reference ? [...columns, 'reference' as const] : columns
  const rows = ROWS.filter(([, key]) => (key !== 'nll' && key !== 'ece' ? true : columns.some((c) => cell(c, key) !== undefined && cell(c, key) !== null))).map(
    ([title, key, format]) => [title, ...shown.map((c) => format(cell(c, key)))],
  )
  const table = formatTable(['metric', ...shown], rows, ['left', ...shown.map(() => 'right' as const)])
  const pairs: Array<[string, string]> = [
    ['γ', String(r.gamma)],
    ['temperature', String(r.temperature) + (r.temperature_bound ? ` (clamped at the ${r.temperature_bound} bound)` : '')],
    ['samples', `${r.n_samples} (${r.n_fine_tuning} fine-tuning, ${r.n_absent} absent${r.n_ignored ? `, ${r.n_ignored} ignored` : ''})`],
    ['method', r.method === 'sweep' ? `sweep, objective ${r.objective}` : r.alg_samples ? `alg, samples ${r.alg_samples}` : r.method],
  ]
  if (r.reference) pairs.push(['reference', `${r.reference.model} version ${r.reference.version}`])
  if (r.constraints) {
    const floors = Object.entries(r.constraints).map(([k, v]) => `${k === 'min_acc_s_y' ? 'Acc_S/Y' : 'Acc_U/Y'} ≥ ${formatPercent(v)} (${String(v)})`)
    pairs.push(['constraints', floors.length ? floors.join(', ') : 'none'])
  }
  if (r.conformal) {
    const c = r.conformal
    const q = (x: number | null | undefined) => (x === null || x === undefined ? '+∞' : formatFixed(x, 4))
    const thresholds = c.by === 'group' ? `q̂_S ${q(c.qhat_s)}, q̂_U ${q(c.qhat_u)}` : `q̂ ${q(c.qhat)}`
    pairs.push(
      [
        'conformal',
        `α ${c.alpha}, score ${c.score}, by ${c.by}: ${thresholds}${c.too_small ? ' (the set is too small for this α: every class in every set)' : ''}`,
      ],
      ['coverage', `${formatPercent(c.coverage.overall)} (fine-tuning ${formatPercent(c.coverage.s)}, absent ${formatPercent(c.coverage.u)})`],
      ['mean set size', formatFixed(c.mean_set_size, 2)],
    )
  }
  pairs.push(['stored', r.calibration ? `calibration version ${r.calibration.version}` : 'dry run: nothing stored'])
  return `${table}\n${formatPairs(pairs)}`
}
