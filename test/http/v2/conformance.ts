// Conformance helpers for the Open Inference Protocol tests: the published schemas (transcribed in
// oip-schema.json, see its $comment for the source and version) compiled with ajv, and a reader and
// writer of binary tensor data written here from the extension's text, independently of src/http/v2.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv, type ValidateFunction } from 'ajv'
import type { Test } from 'tap'

export const SCHEMA = JSON.parse(readFileSync(join(import.meta.dirname, 'oip-schema.json'), 'utf8')) as {
  'x-examples': Record<string, unknown[]>
}

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true })
ajv.addVocabulary(['x-required-api', 'x-binary-tensor-data', 'x-examples'])
ajv.addSchema(SCHEMA, 'oip')
const compiled = new Map<string, ValidateFunction>()

/** The validator of a schema of oip-schema.json, by its path: `definitions/inference_response`. */
export function schema(path: string): ValidateFunction {
  let v = compiled.get(path)
  if (!v) {
    v = ajv.getSchema(`oip#/${path}`)
    if (!v) throw new Error(`no schema ${path} in oip-schema.json`)
    compiled.set(path, v)
  }
  return v
}

/** Asserts that `value` is valid against the schema at `path`; every `parameters` object holds only strings, numbers and booleans. */
export function conforms(t: Test, path: string, value: unknown, what: string): void {
  const validate = schema(path)
  const ok = validate(value)
  t.ok(ok, `${what}: conforms to ${path}${ok ? '' : ` — ${ajv.errorsText(validate.errors)}`}`)
  for (const params of parameterObjects(value)) {
    const strict = schema('x-required-api/parameters')
    t.ok(strict(params), `${what}: parameters ${JSON.stringify(params)} hold only strings, numbers and booleans`)
  }
}

function parameterObjects(v: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(v)) for (const x of v) parameterObjects(x, out)
  else if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) {
      if (k === 'parameters') out.push(x)
      else if (k !== 'data') parameterObjects(x, out)
    }
  return out
}

interface Reply {
  statusCode: number
  body: string
  headers: Record<string, unknown>
}

/**
 * Asserts a protocol error: the status, a JSON body {"error": "<message>"} and nothing else, valid
 * against the spec's error schemas; returns the message.
 */
export function v2ErrorOf(t: Test, res: Reply, status: number, what: string): string {
  t.equal(res.statusCode, status, `${what}: status ${status} (${res.body.slice(0, 200)})`)
  t.match(String(res.headers['content-type'] ?? ''), /^application\/json/, `${what}: a JSON body`)
  const body = JSON.parse(res.body) as { error: string }
  for (const path of ['definitions/inference_error_response', 'definitions/metadata_model_error_response', 'x-required-api/error_response'])
    conforms(t, path, body, what)
  return body.error
}

// ---------------------------------------------------------------------------------------------
// Binary tensor data, as extension_binary_data.md describes it: little-endian, row-major; BYTES
// elements as a 4-byte length and the bytes; the JSON first, its length in
// Inference-Header-Content-Length.

/** A request body: the JSON, then each blob in order; with its headers. */
export function binaryRequest(json: unknown, blobs: Buffer[], contentType = 'application/octet-stream') {
  const header = Buffer.from(JSON.stringify(json))
  return {
    headers: { 'content-type': contentType, 'inference-header-content-length': String(header.byteLength) },
    payload: Buffer.concat([header, ...blobs]),
  }
}

export function f32(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4)
  values.forEach((v, i) => b.writeFloatLE(v, i * 4))
  return b
}
export function f64(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 8)
  values.forEach((v, i) => b.writeDoubleLE(v, i * 8))
  return b
}
export function i64(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 8)
  values.forEach((v, i) => b.writeBigInt64LE(BigInt(v), i * 8))
  return b
}
export function u8(values: number[]): Buffer {
  return Buffer.from(values)
}
export function i16(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2)
  values.forEach((v, i) => b.writeInt16LE(v, i * 2))
  return b
}

export function readF32(b: Buffer): number[] {
  return Array.from({ length: b.byteLength / 4 }, (_, i) => b.readFloatLE(i * 4))
}
export function readI64(b: Buffer): number[] {
  return Array.from({ length: b.byteLength / 8 }, (_, i) => Number(b.readBigInt64LE(i * 8)))
}
export function readBytes(b: Buffer): string[] {
  const out: string[] = []
  for (let o = 0; o < b.byteLength; ) {
    const n = b.readUInt32LE(o)
    out.push(b.toString('utf8', o + 4, o + 4 + n))
    o += 4 + n
  }
  return out
}

export interface BinaryResponse {
  json: { outputs: Array<{ name: string; shape: number[]; datatype: string; parameters?: Record<string, unknown>; data?: unknown[] }> } & Record<string, unknown>
  /** Each binary output's bytes, by name. */
  blobs: Map<string, Buffer>
}

/** Splits a binary response into its JSON and each output's bytes; checks that the lengths add up. */
export function parseBinaryResponse(t: Test, res: { rawPayload: Buffer; headers: Record<string, unknown> }): BinaryResponse {
  const length = Number(res.headers['inference-header-content-length'])
  t.ok(Number.isInteger(length) && length > 0, `Inference-Header-Content-Length is a byte count (${String(res.headers['inference-header-content-length'])})`)
  t.equal(res.headers['content-type'], 'application/octet-stream', 'binary responses are application/octet-stream')
  const json = JSON.parse(res.rawPayload.toString('utf8', 0, length)) as BinaryResponse['json']
  const blobs = new Map<string, Buffer>()
  let offset = length
  for (const o of json.outputs) {
    const size = o.parameters?.['binary_data_size']
    if (typeof size !== 'number') continue
    blobs.set(o.name, res.rawPayload.subarray(offset, offset + size))
    offset += size
  }
  t.equal(offset, res.rawPayload.byteLength, 'the body is the JSON and the binary outputs, nothing more')
  return { json, blobs }
}
