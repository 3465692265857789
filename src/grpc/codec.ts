// ModelInferRequest into the protocol-neutral shapes of the data plane, and its outputs back into
// a ModelInferResponse. Pure: no gRPC call, no model. Tensor values go through the same
// decodeTensor as REST v2 (typed contents as `data`, raw_input_contents as `bytes`), so datatype,
// shape, count and every value are checked the same way with the same messages.
import { badInput } from '../errors.js'
import { decodeTensor, type ModelInput } from '../inputs/oip-tensor.js'
import { binaryData, type OutputRequest, type OutputTensor, type Parameters } from '../serving/v2-outputs.js'
import type { InferOutputTensor, ModelInferRequest, WireContents, WireParameter, WireParameters } from './proto.js'

/** Where each datatype's values travel as typed contents (InferTensorContents). */
const CONTENTS_FIELD: Record<string, keyof WireContents> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
}

/** A parameter map as plain values (bool, number, string), as planOutputs reads them. */
export function parametersOf(wire: WireParameters | undefined): Parameters {
  const out: Parameters = {}
  for (const [key, p] of Object.entries(wire ?? {})) {
    const choice = p.parameter_choice
    if (choice !== undefined) out[key] = p[choice]
  }
  return out
}

export function boolParameter(value: boolean): WireParameter {
  return { bool_param: value }
}
export function int64Parameter(value: number): WireParameter {
  return { int64_param: value }
}
export function doubleParameter(value: number): WireParameter {
  return { double_param: value }
}

/** What to compute: the request's and each asked output's parameters. */
export function outputRequest(request: ModelInferRequest): OutputRequest {
  return {
    parameters: parametersOf(request.parameters),
    outputs: request.outputs.map((o) => ({ name: o.name, parameters: parametersOf(o.parameters) })),
  }
}

/** True when the request carries its tensor in raw_input_contents (the answer then does too). */
export function usesRawContents(request: ModelInferRequest): boolean {
  return request.raw_input_contents.length > 0
}

/** The request's one input as n × prod(input.shape) float32 (see decodeTensor). */
export function decodeInferInput(request: ModelInferRequest, model: ModelInput, maxSamples: number): { data: Float32Array; n: number } {
  const { inputs } = request
  const input = inputs[0]
  if (inputs.length !== 1 || !input)
    throw badInput(`the model takes one input, '${model.name}'; the request has ${inputs.length} (${inputs.map((i) => `'${i.name}'`).join(', ')})`)
  const where = `input '${input.name}'`
  const filled = (Object.keys(input.contents ?? {}) as Array<keyof WireContents>).filter((k) => (input.contents?.[k]?.length ?? 0) > 0)
  if (usesRawContents(request)) {
    if (request.raw_input_contents.length !== inputs.length)
      throw badInput(`raw_input_contents holds ${request.raw_input_contents.length} tensors; the request has ${inputs.length} inputs`)
    if (filled.length > 0) throw badInput(`${where} has contents (${filled.join(', ')}) although the request uses raw_input_contents`)
    return decodeTensor({ name: input.name, datatype: input.datatype, shape: input.shape, bytes: request.raw_input_contents[0]! }, model, maxSamples)
  }
  const field = Object.hasOwn(CONTENTS_FIELD, input.datatype) ? CONTENTS_FIELD[input.datatype] : undefined
  const stray = filled.filter((k) => k !== field)
  // An unknown or refused datatype is decodeTensor's to name; misplaced values only matter otherwise.
  if (field && stray.length > 0) throw badInput(`${where} has datatype ${input.datatype}, whose values go in contents.${field}; it has ${stray.join(', ')}`)
  const data = field ? (input.contents?.[field] ?? []) : []
  return decodeTensor({ name: input.name, datatype: input.datatype, shape: input.shape, data, bytes: null }, model, maxSamples)
}

/** The outputs as typed contents, or (raw) as descriptions plus raw_output_contents in the same order. */
export function encodeOutputs(outputs: OutputTensor[], raw: boolean): { outputs: InferOutputTensor[]; raw_output_contents: Buffer[] } {
  if (raw)
    return {
      outputs: outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape })),
      raw_output_contents: outputs.map((o) => binaryData(o)),
    }
  return {
    outputs: outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape, contents: typedContents(o) })),
    raw_output_contents: [],
  }
}

function typedContents(o: OutputTensor): WireContents {
  switch (o.datatype) {
    case 'FP32':
      // Protobuf's float carries any float32, infinities too: no JSON limit here.
      return { fp32_contents: Array.from(o.values) }
    case 'INT64':
      return { int64_contents: Array.from(o.values) }
    case 'BYTES':
      return { bytes_contents: o.values.map((s) => Buffer.from(s, 'utf8')) }
  }
}
