// What an Open Inference Protocol request asks of a classification, and the output tensors that
// answer it: the same for REST v2 and gRPC, which only decode their wire format into these plain
// shapes and encode the tensors back. The model's logits output comes back calibrated (γ added to
// the absent classes) unless the request says `calibrated: false`; label, score and class_index
// are the classification's predictions, and so is the order of the classification extension's top k.
import { endianness } from 'node:os'
import { badInput } from '../errors.js'
import type { ReadyModel } from '../models/repository.js'
import type { CalibrationRecord } from '../store/types.js'
import { labelOf, type Classification } from './plane.js'

const LITTLE_ENDIAN = endianness() === 'LE'

/** The protocol extensions calserve speaks, for the server metadata of REST v2 and gRPC. */
export const V2_EXTENSIONS = ['binary_tensor_data', 'classification', 'model_repository', 'calibration']

/** Outputs calserve adds beside the model's logits, one value per sample. */
export const EXTRA_OUTPUTS = [
  { name: 'label', datatype: 'BYTES' },
  { name: 'score', datatype: 'FP32' },
  { name: 'class_index', datatype: 'INT64' },
] as const

/**
 * Each sample's conformal prediction set (issue 15 §2), BYTES [N]: only when asked for by name,
 * since it needs a calibration fitted with conformal. One element per sample: the set's classes in
 * rank order (calibrated p descending, ties by index), each written as the classification extension
 * writes a class, "<p>:<index>:<label>" (p with six decimals), joined by ","; "" for an empty set.
 */
export const SET_OUTPUT = { name: 'prediction_set', datatype: 'BYTES' } as const
type ExtraName = (typeof EXTRA_OUTPUTS)[number]['name'] | typeof SET_OUTPUT.name

/** Request or output parameters, decoded from the wire: name → string | number | boolean. */
export type Parameters = Record<string, unknown>

/** The part of an inference request that says what to compute, whatever carried it. */
export interface OutputRequest {
  parameters?: Parameters | undefined
  outputs?: ReadonlyArray<{ name: string; parameters?: Parameters | undefined }> | undefined
}

/** One value of an output tensor per element, row-major. */
export type OutputTensor = {
  name: string
  shape: number[]
  /** REST: as binary data after the JSON header, instead of `data`. */
  binary: boolean
} & ({ datatype: 'FP32'; values: Float32Array } | { datatype: 'INT64'; values: ArrayLike<number> } | { datatype: 'BYTES'; values: string[] })

interface PlannedOutput {
  name: string
  kind: 'logits' | ExtraName
  /** The classification extension's k, for the logits output. */
  classification: number | null
  binary: boolean
}

/** What to run and what to answer, checked before any inference. */
export interface OutputPlan {
  calibrated: boolean
  /** Whether the prediction_set output is asked for (the data plane then computes the sets). */
  sets: boolean
  /** The top k the classification extension needs (1 when nobody asks). */
  topK: number
  outputs: PlannedOutput[]
}

/** The outputs a model answers with, by name: its logits output first, then the extras. */
export function outputNames(model: ReadyModel): string[] {
  const logits = model.runner.io.output.name
  // A model whose own output is called "label" (say) keeps it; that extra is not offered.
  return [logits, ...EXTRA_OUTPUTS.map((e) => e.name).filter((n) => n !== logits)]
}

/** Every output a request may name: the default ones and prediction_set. */
function askableNames(model: ReadyModel): string[] {
  const names = outputNames(model)
  return names.includes(SET_OUTPUT.name) ? names : [...names, SET_OUTPUT.name]
}

/** The datatype of each output name of `model`. */
export function outputDatatype(model: ReadyModel, name: string): string {
  if (name === model.runner.io.output.name) return 'FP32'
  if (name === SET_OUTPUT.name) return SET_OUTPUT.datatype
  return EXTRA_OUTPUTS.find((e) => e.name === name)?.datatype ?? 'FP32'
}

/**
 * A model's metadata as the protocol has it (REST v2 answers all of it; gRPC's
 * ModelMetadataResponse has no parameters). A model with an image block also takes its input as
 * BYTES [N], one encoded image per element (the convention of Triton's DALI pipelines).
 */
export function modelMetadata(model: ReadyModel, calibration: CalibrationRecord) {
  const { input, output } = model.runner.io
  const classes = model.manifest.labels.length
  return {
    name: model.name,
    versions: [String(model.version)],
    platform: 'onnxruntime_onnx',
    inputs: [
      { name: input.name, datatype: 'FP32', shape: [-1, ...input.shape] },
      ...(model.image ? [{ name: input.name, datatype: 'BYTES', shape: [-1] }] : []),
    ],
    // prediction_set is listed while the active calibration has conformal params (asked for otherwise, it is a 400).
    outputs: (calibration.conformal ? askableNames(model) : outputNames(model)).map((name) => ({
      name,
      datatype: outputDatatype(model, name),
      shape: name === output.name ? [-1, classes] : [-1],
    })),
    parameters: {
      classes,
      absent_classes: model.absent.reduce((a, b) => a + b, 0),
      calibration_version: calibration.version,
      calibration_method: calibration.method,
      gamma: calibration.gamma,
      temperature: calibration.temperature,
    },
  }
}

export function planOutputs(model: ReadyModel, request: OutputRequest): OutputPlan {
  const names = askableNames(model)
  const logitsName = model.runner.io.output.name
  const calibrated = boolParam(request.parameters, 'calibrated', 'parameters') ?? true
  const allBinary = boolParam(request.parameters, 'binary_data_output', 'parameters') ?? false
  const asked = request.outputs?.length ? request.outputs : outputNames(model).map((name) => ({ name, parameters: undefined }))
  const seen = new Set<string>()
  const outputs = asked.map((o, i): PlannedOutput => {
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
  return { calibrated, sets: outputs.some((p) => p.kind === 'prediction_set'), topK: Math.max(1, ...outputs.map((p) => p.classification ?? 0)), outputs }
}

/** The response parameters every inference answer carries: which calibration it applied. */
export function responseParameters(result: Classification): { calibrated: boolean; calibration_version: number; gamma: number; temperature: number } {
  const { calibration } = result
  return { calibrated: result.calibrated, calibration_version: calibration.version, gamma: calibration.gamma, temperature: calibration.temperature }
}

// Each tensor is written out as one literal, not as `{ ...base, datatype, … }`: on Node 20 a spread
// followed by more properties costs ~0.75 µs per object (V8 clones the object, then leaves the fast
// path to add to it), several times a request.
export function buildOutputs(result: Classification, plan: OutputPlan): OutputTensor[] {
  const { n, c, predictions } = result
  const labels = result.model.manifest.labels
  return plan.outputs.map((p): OutputTensor => {
    const { name, binary } = p
    switch (p.kind) {
      case 'logits': {
        const z = result.logits()
        if (p.classification === null) return { name, binary, datatype: 'FP32', shape: [n, c], values: z }
        const kk = Math.min(p.classification, c)
        const strings: string[] = []
        predictions.forEach((row, i) => {
          for (const t of row.top_k.slice(0, kk)) strings.push(`${formatFixed6(z[i * c + t.index] ?? NaN)}:${t.index}:${labelOf(labels, t.index)}`)
        })
        return { name, binary, datatype: 'BYTES', shape: [n, kk], values: strings }
      }
      case 'label':
        return { name, binary, datatype: 'BYTES', shape: [n], values: predictions.map((r) => labelOf(labels, r.index)) }
      case 'score': {
        const scores = new Float32Array(n)
        for (let i = 0; i < n; i++) scores[i] = predictions[i]!.score
        return { name, binary, datatype: 'FP32', shape: [n], values: scores }
      }
      case 'class_index':
        return { name, binary, datatype: 'INT64', shape: [n], values: predictions.map((r) => r.index) }
      case 'prediction_set': {
        // planOutputs asked the data plane for the sets; it answers them or refuses the request.
        const sets = result.sets ?? []
        return {
          name,
          binary,
          datatype: 'BYTES',
          shape: [n],
          values: sets.map((set) => set.map((e) => `${formatFixed6(e.score)}:${e.index}:${labelOf(labels, e.index)}`).join(',')),
        }
      }
    }
  })
}

export function boolParam(parameters: Parameters | undefined, key: string, where: string): boolean | undefined {
  const v = parameters?.[key]
  if (v === undefined) return undefined
  if (typeof v !== 'boolean') throw badInput(`${where}.${key} must be true or false, got ${JSON.stringify(v)}`)
  return v
}

/**
 * A number as C's printf("%f") writes it (std::to_string, which Triton's classification extension
 * uses for the value): six decimals, rounded to nearest with ties to even on the exact binary
 * value; "inf", "-inf", "nan".
 */
export function formatFixed6(x: number): string {
  if (Number.isNaN(x)) return 'nan'
  if (x === Infinity) return 'inf'
  if (x === -Infinity) return '-inf'
  const negative = x < 0 || Object.is(x, -0)
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, Math.abs(x))
  const bits = view.getBigUint64(0)
  const exponentBits = Number((bits >> 52n) & 0x7ffn)
  let mantissa = bits & ((1n << 52n) - 1n)
  let exponent: number
  if (exponentBits === 0) exponent = -1074
  else {
    mantissa |= 1n << 52n
    exponent = exponentBits - 1075
  }
  // |x| · 10^6 = mantissa · 10^6 · 2^exponent, rounded to an integer.
  let scaled: bigint
  if (exponent >= 0) scaled = (mantissa << BigInt(exponent)) * 1_000_000n
  else {
    const shift = BigInt(-exponent)
    const numerator = mantissa * 1_000_000n
    scaled = numerator >> shift
    const rest = numerator - (scaled << shift)
    const half = 1n << (shift - 1n)
    if (rest > half || (rest === half && (scaled & 1n) === 1n)) scaled += 1n
  }
  const digits = scaled.toString().padStart(7, '0')
  return `${negative ? '-' : ''}${digits.slice(0, -6)}.${digits.slice(-6)}`
}

/** Little-endian, row-major; BYTES elements as a 4-byte length and the UTF-8 bytes. */
export function binaryData(o: OutputTensor): Buffer {
  if (o.datatype === 'FP32') {
    const buf = Buffer.allocUnsafe(o.values.length * 4)
    if (LITTLE_ENDIAN) buf.set(new Uint8Array(o.values.buffer, o.values.byteOffset, o.values.byteLength))
    else for (let i = 0; i < o.values.length; i++) buf.writeFloatLE(o.values[i]!, i * 4)
    return buf
  }
  if (o.datatype === 'INT64') {
    const buf = Buffer.allocUnsafe(o.values.length * 8)
    for (let i = 0; i < o.values.length; i++) buf.writeBigInt64LE(BigInt(o.values[i]!), i * 8)
    return buf
  }
  const parts: Buffer[] = []
  for (const s of o.values) {
    const bytes = Buffer.from(s, 'utf8')
    const len = Buffer.allocUnsafe(4)
    len.writeUInt32LE(bytes.byteLength, 0)
    parts.push(len, bytes)
  }
  return Buffer.concat(parts)
}
