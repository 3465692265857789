// One Open Inference Protocol inference: the same path as POST /v1/.../predict (the model's batcher,
// then the active calibration with the one decision rule of src/calibration), answered as output
// tensors. The model's logits output comes back calibrated (γ added to the absent classes) unless
// the request says `calibrated: false`; label, score and class_index come from predict(), and so
// does the order of the classification extension's top k.
import { addBias, predict } from '../calibration/index.js'
import type { Prediction } from '../calibration/index.js'
import { badInput } from '../errors.js'
import type { Infer } from '../models/inference.js'
import type { ReadyModel } from '../models/repository.js'
import type { CalibrationRecord } from '../store/types.js'
import { decodeInput, encodeResponse, formatFixed6, type EncodedResponse, type OutputTensor, type ParsedRequest } from './codec.js'
import type { V2InferenceRequest } from './schemas.js'

/** Outputs calserve adds beside the model's logits, one value per sample. */
export const EXTRA_OUTPUTS = [
  { name: 'label', datatype: 'BYTES' },
  { name: 'score', datatype: 'FP32' },
  { name: 'class_index', datatype: 'INT64' },
] as const
type ExtraName = (typeof EXTRA_OUTPUTS)[number]['name']

/** The outputs a model answers with, by name: its logits output first, then the extras. */
export function outputNames(model: ReadyModel): string[] {
  const logits = model.runner.io.output.name
  // A model whose own output is called "label" (say) keeps it; that extra is not offered.
  return [logits, ...EXTRA_OUTPUTS.map((e) => e.name).filter((n) => n !== logits)]
}

interface PlannedOutput {
  name: string
  kind: 'logits' | ExtraName
  /** The classification extension's k, for the logits output. */
  classification: number | null
  binary: boolean
}

export interface InferOptions {
  maxSamples: number
}

/** Checks the request's parameters and outputs before any work, runs the model, encodes the answer. */
export async function runInfer(
  model: ReadyModel,
  calibration: CalibrationRecord,
  parsed: ParsedRequest,
  infer: Infer,
  opts: InferOptions,
): Promise<EncodedResponse> {
  const { request } = parsed
  const calibrated = boolParam(request.parameters, 'calibrated', 'parameters') ?? true
  const plan = planOutputs(request, model)
  const { data, n } = decodeInput(parsed, { name: model.runner.io.input.name, shape: model.runner.io.input.shape }, opts.maxSamples)

  // The batcher's rows may be a view on a shared batch output: never written to.
  const raw = await infer(model, data, n)
  const labels = model.manifest.labels
  const c = labels.length
  const cal = calibrated ? { gamma: calibration.gamma, temperature: calibration.temperature } : { gamma: 0, temperature: 1 }
  let logits: Float32Array | undefined
  const logitsOut = (): Float32Array => {
    if (!logits) {
      logits = raw
      if (calibrated) {
        logits = raw.slice()
        addBias(logits, c, model.absent, calibration.gamma)
      }
    }
    return logits
  }
  const k = Math.max(1, ...plan.map((p) => p.classification ?? 0))
  let rows: Prediction[] | undefined
  const predictions = (): Prediction[] => (rows ??= predict({ data: raw, n, c }, model.absent, cal, k))

  const outputs: OutputTensor[] = plan.map((p): OutputTensor => {
    const base = { name: p.name, binary: p.binary }
    switch (p.kind) {
      case 'logits': {
        const z = logitsOut()
        if (p.classification === null) return { ...base, datatype: 'FP32', shape: [n, c], values: z }
        const kk = Math.min(p.classification, c)
        const strings: string[] = []
        predictions().forEach((row, i) => {
          for (const t of row.top_k.slice(0, kk)) strings.push(`${formatFixed6(z[i * c + t.index]!)}:${t.index}:${labels[t.index]}`)
        })
        return { ...base, datatype: 'BYTES', shape: [n, kk], values: strings }
      }
      case 'label':
        return { ...base, datatype: 'BYTES', shape: [n], values: predictions().map((r) => labels[r.index]!) }
      case 'score':
        return { ...base, datatype: 'FP32', shape: [n], values: Float32Array.from(predictions(), (r) => r.score) }
      case 'class_index':
        return { ...base, datatype: 'INT64', shape: [n], values: predictions().map((r) => r.index) }
    }
  })

  return encodeResponse(
    {
      model_name: model.name,
      model_version: String(model.version),
      ...(request.id !== undefined ? { id: request.id } : {}),
      parameters: {
        calibrated,
        calibration_version: calibration.version,
        gamma: calibration.gamma,
        temperature: calibration.temperature,
      },
    },
    outputs,
  )
}

function planOutputs(request: V2InferenceRequest, model: ReadyModel): PlannedOutput[] {
  const names = outputNames(model)
  const logitsName = model.runner.io.output.name
  const allBinary = boolParam(request.parameters, 'binary_data_output', 'parameters') ?? false
  const asked = request.outputs?.length ? request.outputs : names.map((name) => ({ name, parameters: undefined }))
  const seen = new Set<string>()
  return asked.map((o, i) => {
    const where = `outputs[${i}]`
    if (!names.includes(o.name)) throw badInput(`unknown output '${o.name}'; the model's outputs are ${names.map((x) => `'${x}'`).join(', ')}`)
    if (seen.has(o.name)) throw badInput(`output '${o.name}' is asked for twice`)
    seen.add(o.name)
    const binary = boolParam(o.parameters, 'binary_data', `${where}.parameters`) ?? allBinary
    const k = o.parameters?.['classification']
    let classification: number | null = null
    if (k !== undefined) {
      if (o.name !== logitsName) throw badInput(`${where}.parameters.classification applies to the logits output '${logitsName}', not to '${o.name}'`)
      if (typeof k !== 'number' || !Number.isInteger(k) || k < 1)
        throw badInput(`${where}.parameters.classification must be a positive integer (the number of classes), got ${JSON.stringify(k)}`)
      classification = k
    }
    return { name: o.name, kind: o.name === logitsName ? 'logits' : (o.name as ExtraName), classification, binary }
  })
}

function boolParam(parameters: Record<string, unknown> | undefined, key: string, where: string): boolean | undefined {
  const v = parameters?.[key]
  if (v === undefined) return undefined
  if (typeof v !== 'boolean') throw badInput(`${where}.${key} must be true or false, got ${JSON.stringify(v)}`)
  return v
}
