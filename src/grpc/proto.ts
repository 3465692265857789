// The gRPC service definition, loaded from the committed proto/grpc_predict_v2.proto as it is (no
// generated code to drift from it), and the decoded shapes of the messages calserve reads and
// writes. The .proto is the wire contract; the interfaces below restate only the fields used,
// under the loader options that produce them: field names as written (snake_case), 64-bit
// integers as numbers, bytes as Buffers, defaults filled in, and a oneof's set field named by
// its virtual field (parameter_choice).
import { resolve } from 'node:path'
import { loadSync, type Options, type PackageDefinition, type ServiceDefinition } from '@grpc/proto-loader'

export const PROTO_PATH = resolve(import.meta.dirname, '../../proto/grpc_predict_v2.proto')
export const SERVICE_NAME = 'inference.GRPCInferenceService'

export const LOADER_OPTIONS: Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true }

export function loadDefinition(): { packageDefinition: PackageDefinition; service: ServiceDefinition } {
  const packageDefinition = loadSync(PROTO_PATH, LOADER_OPTIONS)
  return { packageDefinition, service: packageDefinition[SERVICE_NAME] as ServiceDefinition }
}

/** InferParameter as decoded: every field at its default but the one parameter_choice names. */
export interface WireParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param'
  bool_param?: boolean
  int64_param?: number
  string_param?: string
  double_param?: number
  uint64_param?: number
}
export type WireParameters = Record<string, WireParameter>

/** InferTensorContents: one repeated field per family of datatypes. */
export interface WireContents {
  bool_contents?: boolean[]
  int_contents?: number[]
  int64_contents?: number[]
  uint_contents?: number[]
  uint64_contents?: number[]
  fp32_contents?: number[]
  fp64_contents?: number[]
  bytes_contents?: Buffer[]
}

export interface ModelInferRequest {
  model_name: string
  model_version: string
  id: string
  parameters: WireParameters
  inputs: Array<{ name: string; datatype: string; shape: number[]; parameters: WireParameters; contents: WireContents | null }>
  outputs: Array<{ name: string; parameters: WireParameters }>
  raw_input_contents: Buffer[]
}

export interface InferOutputTensor {
  name: string
  datatype: string
  shape: number[]
  contents?: WireContents
}

export interface ModelInferResponse {
  model_name: string
  model_version: string
  id: string
  parameters: WireParameters
  outputs: InferOutputTensor[]
  raw_output_contents: Buffer[]
}

export interface ModelRef {
  name: string
  version: string
}

export interface RepositoryModelRequest {
  repository_name: string
  model_name: string
}
