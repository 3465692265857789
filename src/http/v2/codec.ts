// The Open Inference Protocol's bodies: a JSON inference request, optionally followed by binary
// tensor data (Triton's binary tensor data extension: Inference-Header-Content-Length gives the
// JSON's length, each input's parameters.binary_data_size its bytes, in input order, little-endian,
// row-major), split into its JSON request and each input's bytes; and the response, as JSON or as a
// JSON header followed by binary outputs. It touches no request, reply or model; the tensors are
// decoded by src/inputs/oip-tensor.ts, as gRPC's are.
import { badInput } from '../../errors.js'
import { decodeTensor, type ModelInput } from '../../inputs/oip-tensor.js'
import { binaryData, type OutputTensor } from '../../serving/v2-outputs.js'
import { V2InferenceRequest, type V2InferenceResponse } from '../../api/v2.js'

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
    if (!/^\d+$/.test(headerLength.trim())) throw badInput(`Inference-Header-Content-Length is ${JSON.stringify(headerLength)}, not a byte count`)
    jsonEnd = Number(headerLength.trim())
    if (jsonEnd === 0 || jsonEnd > body.byteLength) throw badInput(`Inference-Header-Content-Length is ${jsonEnd} but the body holds ${body.byteLength} bytes`)
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
      throw badInput(`input '${input.name}' has binary_data_size ${size} but only ${body.byteLength - offset} bytes of binary data are left in the body`)
    binary.push(body.subarray(offset, offset + size))
    offset += size
  }
  if (offset !== body.byteLength)
    throw badInput(
      `the body holds ${body.byteLength - offset} bytes after the JSON header and the inputs' binary_data_size; nothing may follow the last input's data`,
    )
  return { request, binary }
}

/** The request's one input as n × prod(input.shape) float32 (see decodeTensor). */
export function decodeInput(parsed: ParsedRequest, model: ModelInput, maxSamples: number): { data: Float32Array; n: number } {
  const { inputs } = parsed.request
  const input = inputs[0]
  if (inputs.length !== 1 || !input)
    throw badInput(`the model takes one input, '${model.name}'; the request has ${inputs.length} (${inputs.map((i) => `'${i.name}'`).join(', ')})`)
  // A literal, not { ...input, bytes }: see buildOutputs on spreads.
  return decodeTensor({ name: input.name, datatype: input.datatype, shape: input.shape, data: input.data, bytes: parsed.binary[0] ?? null }, model, maxSamples)
}

export type ResponseHead = Omit<V2InferenceResponse, 'outputs'>

export type EncodedResponse = { kind: 'json'; body: V2InferenceResponse } | { kind: 'binary'; body: Buffer; headerLength: number }

/**
 * JSON when no output is binary; otherwise the JSON header, then each binary output in order.
 * Objects are built as literals, the outputs last (see buildOutputs on spreads).
 */
export function encodeResponse(head: ResponseHead, outputs: OutputTensor[]): EncodedResponse {
  const withOutputs = (described: V2InferenceResponse['outputs']): V2InferenceResponse =>
    head.id === undefined
      ? { model_name: head.model_name, model_version: head.model_version, parameters: head.parameters, outputs: described }
      : { model_name: head.model_name, model_version: head.model_version, id: head.id, parameters: head.parameters, outputs: described }
  if (!outputs.some((o) => o.binary))
    return { kind: 'json', body: withOutputs(outputs.map((o) => ({ name: o.name, shape: o.shape, datatype: o.datatype, data: jsonData(o) }))) }
  const blobs: Buffer[] = []
  const described = outputs.map((o) => {
    if (!o.binary) return { name: o.name, shape: o.shape, datatype: o.datatype, data: jsonData(o) }
    const blob = binaryData(o)
    blobs.push(blob)
    return { name: o.name, shape: o.shape, datatype: o.datatype, parameters: { binary_data_size: blob.byteLength } }
  })
  const header = Buffer.from(JSON.stringify(withOutputs(described)))
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

/** A zod error as one line naming the first bad field: `inputs[0].shape: expected array…`. */
export function zodMessage(error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> }): string {
  const issue = error.issues[0]
  if (!issue) return 'invalid inference request'
  const path = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('')
  return `${path || 'body'}: ${issue.message}`
}
