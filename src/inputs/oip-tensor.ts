// One input tensor of the Open Inference Protocol (REST v2 or gRPC) into the n × prod(input.shape)
// float32 samples the model takes: datatype, shape and every value checked, errors naming the
// input. Each front-end decodes its wire format into an InputTensor first; the conversions and the
// checks are the same for both (numbers pass the checks of tensor.ts).
import { endianness } from 'node:os'
import { badInput } from '../errors.js'
import { checkNumber, fillNumbers, firstNonFinite, float32, type SampleRef } from './tensor.js'

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

/** An input tensor as a front-end decoded it: its elements as numbers (flat or nested), or as little-endian bytes. */
export interface InputTensor {
  name: string
  datatype: string
  shape: readonly number[]
  data?: unknown
  /** Row-major little-endian elements, instead of `data`. */
  bytes: Uint8Array | null
}

/** The model input a tensor is decoded for: its name and its shape without the batch axis. */
export interface ModelInput {
  name: string
  shape: readonly number[]
}

/**
 * The request's one input as n × prod(input.shape) float32, converted from its datatype. Shape,
 * element count, datatype and every value are checked; errors name the input.
 */
export function decodeTensor(input: InputTensor, model: ModelInput, maxSamples: number): { data: Float32Array; n: number } {
  const binary = input.bytes
  const where = `input '${input.name}'`
  if (input.name !== model.name) throw badInput(`unknown input '${input.name}'; the model's input is '${model.name}'`)
  // Own keys only: 'toString' or 'constructor' is no datatype.
  const dt = Object.hasOwn(CONVERTIBLE, input.datatype) ? CONVERTIBLE[input.datatype] : undefined
  if (!dt) {
    if (REFUSED.has(input.datatype))
      throw badInput(`${where} has datatype ${input.datatype}, which calserve does not convert to the model's FP32 input; send one of ${CONVERTIBLE_LIST}`)
    throw badInput(`${where} has datatype ${JSON.stringify(input.datatype)}, which is not a datatype of the protocol; send one of ${CONVERTIBLE_LIST}`)
  }
  const shape = input.shape
  if (shape.length !== model.shape.length + 1 || model.shape.some((d, i) => shape[i + 1] !== d))
    throw badInput(`${where} has shape [${shape.join(', ')}]; the model takes [N, ${model.shape.join(', ')}]`)
  const n = shape[0]!
  if (n === 0) throw badInput(`${where} has shape [${shape.join(', ')}]: send at least one sample`)
  if (n > maxSamples) throw badInput(`${where} holds ${n} samples; at most ${maxSamples} in one request (CALSERVE_MAX_PREDICT_SAMPLES)`)
  const sampleSize = model.shape.reduce((a, b) => a * b, 1)
  const count = n * sampleSize

  if (binary === null) {
    const out = float32(count)
    const range = dt.range
    const check = range
      ? (x: number) => (Number.isInteger(x) && x >= range[0] && x <= range[1] ? undefined : `contains ${x}, not a ${input.datatype} value`)
      : undefined
    const filled = fillNumbers(input.data, out, sampleRef(where, input.name), check)
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
    const bad = firstNonFinite(data)
    if (bad !== -1) checkNumber(data[bad]!, sampleRef(where, input.name, Math.floor(bad / sampleSize)))
    return { data, n }
  }
  const view = new DataView(binary.buffer, binary.byteOffset, binary.byteLength)
  const out = float32(count)
  for (let i = 0; i < count; i++) {
    const v = dt.read(view, i * dt.bytes)
    checkNumber(v, sampleRef(where, input.name, Math.floor(i / sampleSize)))
    out[i] = v
  }
  return { data: out, n }
}

function sampleRef(where: string, input: string, sample?: number): SampleRef {
  return {
    where: sample === undefined ? `${where} data` : `${where} sample ${sample}`,
    details: sample === undefined ? { input } : { input, sample },
  }
}
