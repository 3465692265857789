// The Open Inference Protocol's bodies: a JSON inference request, optionally followed by binary
// tensor data (Triton's binary tensor data extension: Inference-Header-Content-Length gives the
// JSON's length, each input's parameters.binary_data_size its bytes, in input order, little-endian,
// row-major), decoded into the float32 samples the model takes; and the response, as JSON or as a
// JSON header followed by binary outputs. Pure: no HTTP, no model; numbers pass the checks of
// src/models/tensor.ts.
import { endianness } from 'node:os'
import { badInput } from '../errors.js'
import { checkNumber, fillNumbers, type SampleRef } from '../models/tensor.js'
import { V2InferenceRequest, type V2InferenceResponse } from './schemas.js'

const LITTLE_ENDIAN = endianness() === 'LE'

/** Datatypes converted to the model's float32 input, with their size and integer range. */
interface Convertible {
  bytes: number
  /** Integer datatypes: the inclusive range a JSON value must fall in. */
  range?: [number, number]
  read(view: DataView, offset: number): number
}

export const CONVERTIBLE: Record<string, Convertible> = {
  FP32: { bytes: 4, read: (v, o) => v.getFloat32(o, true) },
  FP64: { bytes: 8, read: (v, o) => v.getFloat64(o, true) },
  INT8: { bytes: 1, range: [-128, 127], read: (v, o) => v.getInt8(o) },
  INT16: { bytes: 2, range: [-32768, 32767], read: (v, o) => v.getInt16(o, true) },
  INT32: { bytes: 4, range: [-2147483648, 2147483647], read: (v, o) => v.getInt32(o, true) },
  INT64: { bytes: 8, range: [-(2 ** 63), 2 ** 63 - 1], read: (v, o) => Number(v.getBigInt64(o, true)) },
  UINT8: { bytes: 1, range: [0, 255], read: (v, o) => v.getUint8(o) },
  UINT16: { bytes: 2, range: [0, 65535], read: (v, o) => v.getUint16(o, true) },
  UINT32: { bytes: 4, range: [0, 4294967295], read: (v, o) => v.getUint32(o, true) },
  UINT64: { bytes: 8, range: [0, 2 ** 64 - 1], read: (v, o) => Number(v.getBigUint64(o, true)) },
}
/** The spec's other datatypes: known, but not converted to a float32 input. */
const REFUSED = new Set(['BOOL', 'BYTES', 'FP16', 'BF16'])
const CONVERTIBLE_LIST = 'FP32, FP64, INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64'

/** A request whose JSON part was validated, with each input's binary data where it had some. */
export interface ParsedRequest {
  request: V2InferenceRequest
  /** Per input, in order: its bytes from the binary part, or null when it came as JSON data. */
  binary: Array<Buffer | null>
}

/**
 * Splits a body into its JSON header and binary part and validates the JSON against the spec's
 * inference request. `headerLength` is the Inference-Header-Content-Length header, if any.
 * `parseJson` throws on bad JSON (the route passes Fastify's own, which refuses __proto__ keys).
 */
export function parseInferRequest(body: Buffer | undefined, headerLength: string | undefined, parseJson: (text: string) => unknown): ParsedRequest {
  if (!body || body.byteLength === 0) throw badInput('the body is empty: send an inference request')
  let jsonEnd = body.byteLength
  if (headerLength !== undefined) {
    if (!/^\d+$/.test(headerLength.trim()))
      throw badInput(`Inference-Header-Content-Length is ${JSON.stringify(headerLength)}, not a byte count`)
    jsonEnd = Number(headerLength.trim())
    if (jsonEnd === 0 || jsonEnd > body.byteLength)
      throw badInput(`Inference-Header-Content-Length is ${jsonEnd} but the body holds ${body.byteLength} bytes`)
  }
  let json: unknown
  try {
    json = parseJson(body.toString('utf8', 0, jsonEnd))
  } catch {
    throw badInput(
      headerLength === undefined
        ? 'the body is not valid JSON (binary tensor data needs the Inference-Header-Content-Length header)'
        : `the first ${jsonEnd} bytes (Inference-Header-Content-Length) are not valid JSON`,
    )
  }
  const checked = V2InferenceRequest.safeParse(json)
  if (!checked.success) throw badInput(zodMessage(checked.error))
  const request = checked.data

  const binary: Array<Buffer | null> = []
  let offset = jsonEnd
  for (const input of request.inputs) {
    const size = input.parameters?.['binary_data_size']
    if (size === undefined) {
      if (input.data === undefined) throw badInput(`input '${input.name}' has neither data nor parameters.binary_data_size`)
      binary.push(null)
      continue
    }
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
      throw badInput(`input '${input.name}': parameters.binary_data_size must be a byte count, got ${JSON.stringify(size)}`)
    if (input.data !== undefined) throw badInput(`input '${input.name}' has both data and parameters.binary_data_size`)
    if (headerLength === undefined)
      throw badInput(`input '${input.name}' has parameters.binary_data_size but the request has no Inference-Header-Content-Length header`)
    if (offset + size > body.byteLength)
      throw badInput(
        `input '${input.name}' has binary_data_size ${size} but only ${body.byteLength - offset} bytes of binary data are left in the body`,
      )
    binary.push(body.subarray(offset, offset + size))
    offset += size
  }
  if (offset !== body.byteLength)
    throw badInput(
      `the body holds ${body.byteLength - offset} bytes after the JSON header and the inputs' binary_data_size; nothing may follow the last input's data`,
    )
  return { request, binary }
}

/** The model input a request is decoded for: its name and its shape without the batch axis. */
export interface ModelInput {
  name: string
  shape: readonly number[]
}

/**
 * The request's one input as n × prod(input.shape) float32, converted from its datatype. Shape,
 * element count, datatype and every value are checked; errors name the input.
 */
export function decodeInput(parsed: ParsedRequest, model: ModelInput, maxSamples: number): { data: Float32Array; n: number } {
  const { inputs } = parsed.request
  if (inputs.length !== 1)
    throw badInput(`the model takes one input, '${model.name}'; the request has ${inputs.length} (${inputs.map((i) => `'${i.name}'`).join(', ')})`)
  const input = inputs[0]!
  const binary = parsed.binary[0] ?? null
  const where = `input '${input.name}'`
  if (input.name !== model.name) throw badInput(`unknown input '${input.name}'; the model's input is '${model.name}'`)
  const dt = CONVERTIBLE[input.datatype]
  if (!dt) {
    if (REFUSED.has(input.datatype))
      throw badInput(`${where} has datatype ${input.datatype}, which calserve does not convert to the model's FP32 input; send one of ${CONVERTIBLE_LIST}`)
    throw badInput(`${where} has datatype ${JSON.stringify(input.datatype)}, which is not a datatype of the protocol; send one of ${CONVERTIBLE_LIST}`)
  }
  const expected = `[N, ${model.shape.join(', ')}]`
  const shape = input.shape
  if (shape.length !== model.shape.length + 1 || model.shape.some((d, i) => shape[i + 1] !== d))
    throw badInput(`${where} has shape [${shape.join(', ')}]; the model takes ${expected}`)
  const n = shape[0]!
  if (n === 0) throw badInput(`${where} has shape [${shape.join(', ')}]: send at least one sample`)
  if (n > maxSamples) throw badInput(`${where} holds ${n} samples; at most ${maxSamples} in one request (CALSERVE_MAX_PREDICT_SAMPLES)`)
  const sampleSize = model.shape.reduce((a, b) => a * b, 1)
  const count = n * sampleSize
  const ref = (sample?: number): SampleRef => ({
    where: sample === undefined ? `${where} data` : `${where} sample ${sample}`,
    details: sample === undefined ? { input: input.name } : { input: input.name, sample },
  })

  if (binary === null) {
    const out = new Float32Array(count)
    const range = dt.range
    const check = range
      ? (x: number) => (Number.isInteger(x) && x >= range[0] && x <= range[1] ? undefined : `contains ${x}, not a ${input.datatype} value`)
      : undefined
    const filled = fillNumbers(input.data, out, ref(), check)
    if (filled !== count)
      throw badInput(`${where} data holds ${filled > count ? `more than ${count}` : filled} values; shape [${shape.join(', ')}] has ${count}`)
    return { data: out, n }
  }

  const bytes = count * dt.bytes
  if (binary.byteLength !== bytes)
    throw badInput(`${where} has binary_data_size ${binary.byteLength}; shape [${shape.join(', ')}] of ${input.datatype} takes ${bytes} bytes`)
  if (input.datatype === 'FP32' && LITTLE_ENDIAN) {
    // The fast path: a view on the body when it is aligned (a copy otherwise), finite values only.
    const data =
      binary.byteOffset % 4 === 0
        ? new Float32Array(binary.buffer, binary.byteOffset, count)
        : new Float32Array(binary.buffer.slice(binary.byteOffset, binary.byteOffset + bytes))
    for (let i = 0; i < count; i++) if (!Number.isFinite(data[i])) checkNumber(data[i]!, ref(Math.floor(i / sampleSize)))
    return { data, n }
  }
  const view = new DataView(binary.buffer, binary.byteOffset, binary.byteLength)
  const out = new Float32Array(count)
  for (let i = 0; i < count; i++) {
    const v = dt.read(view, i * dt.bytes)
    checkNumber(v, ref(Math.floor(i / sampleSize)))
    out[i] = v
  }
  return { data: out, n }
}

/** One output tensor of a response, before encoding. */
export type OutputTensor = {
  name: string
  shape: number[]
  /** As binary data after the JSON header, instead of `data`. */
  binary: boolean
} & ({ datatype: 'FP32'; values: Float32Array } | { datatype: 'INT64'; values: ArrayLike<number> } | { datatype: 'BYTES'; values: string[] })

export type ResponseHead = Omit<V2InferenceResponse, 'outputs'>

export type EncodedResponse =
  | { kind: 'json'; body: V2InferenceResponse }
  | { kind: 'binary'; body: Buffer; headerLength: number }

/** JSON when no output is binary; otherwise the JSON header, then each binary output in order. */
export function encodeResponse(head: ResponseHead, outputs: OutputTensor[]): EncodedResponse {
  if (!outputs.some((o) => o.binary)) return { kind: 'json', body: { ...head, outputs: outputs.map((o) => ({ name: o.name, shape: o.shape, datatype: o.datatype, data: jsonData(o) })) } }
  const blobs: Buffer[] = []
  const described = outputs.map((o) => {
    const base = { name: o.name, shape: o.shape, datatype: o.datatype }
    if (!o.binary) return { ...base, data: jsonData(o) }
    const blob = binaryData(o)
    blobs.push(blob)
    return { ...base, parameters: { binary_data_size: blob.byteLength } }
  })
  const header = Buffer.from(JSON.stringify({ ...head, outputs: described }))
  return { kind: 'binary', body: Buffer.concat([header, ...blobs]), headerLength: header.byteLength }
}

function jsonData(o: OutputTensor): Array<number | string> {
  if (o.datatype === 'BYTES') return o.values
  if (o.datatype === 'INT64') return Array.from(o.values)
  const out = Array.from(o.values)
  for (const v of out)
    if (!Number.isFinite(v))
      throw badInput(`output '${o.name}' holds ${v}, which JSON cannot carry (γ overflows float32); ask for it with parameters.binary_data: true`)
  return out
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

/** A zod error as one line naming the first bad field: `inputs[0].shape: expected array…`. */
export function zodMessage(error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> }): string {
  const issue = error.issues[0]
  if (!issue) return 'invalid inference request'
  const path = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('')
  return `${path || 'body'}: ${issue.message}`
}
