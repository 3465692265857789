// The server serves exactly the committed proto/grpc_predict_v2.proto: the loaded service's methods
// are the file's rpc lines, and the messages keep the published field numbers (KServe's
// grpc_predict_v2.proto, Triton's grpc_service.proto), so a client generated from them works
// unchanged. Also the two configuration variables of the gRPC server.
import { readFileSync } from 'node:fs'
import type { MessageTypeDefinition } from '@grpc/proto-loader'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { loadDefinition, PROTO_PATH } from '../../src/grpc/proto.js'
import { COMMITTED_PROTO } from './helper.js'

const text = readFileSync(COMMITTED_PROTO, 'utf8')

t.test('the server loads the committed file, and its methods are the file’s rpc lines', async (t) => {
  t.equal(PROTO_PATH, COMMITTED_PROTO)
  t.match(text, /^package inference;$/m)
  t.match(text, /^service GRPCInferenceService$/m)
  const rpcs = [...text.matchAll(/^\s*rpc (\w+)\((\w+)\) returns \((\w+)\)/gm)].map((m) => [m[1], m[2], m[3]])
  const { service } = loadDefinition()
  t.same(
    Object.entries(service).map(([name, m]) => [name, (m.requestType.type as { name: string }).name, (m.responseType.type as { name: string }).name]),
    rpcs,
    'same methods, in order, with the same request and response messages',
  )
  t.same(
    Object.values(service).map((m) => m.path),
    rpcs.map(([name]) => `/inference.GRPCInferenceService/${name}`),
  )
  t.ok(Object.values(service).every((m) => !m.requestStream && !m.responseStream), 'all unary')
})

t.test('messages keep the published field numbers', async (t) => {
  const { packageDefinition } = loadDefinition()
  interface Descriptor {
    field: Array<{ name: string; number: number }>
    nestedType: Descriptor[]
    name: string
  }
  const fields = (name: string) => {
    const [top, ...nested] = name.split('.')
    let type = (packageDefinition[`inference.${top}`] as MessageTypeDefinition<unknown, unknown>).type as unknown as Descriptor
    for (const inner of nested) type = type.nestedType.find((n) => n.name === inner)!
    return Object.fromEntries(type.field.map((f) => [f.name, f.number]))
  }
  // From kserve/kserve docs/predict-api/v2/grpc_predict_v2.proto.
  t.same(fields('ModelInferRequest'), { model_name: 1, model_version: 2, id: 3, parameters: 4, inputs: 5, outputs: 6, raw_input_contents: 7 })
  t.same(fields('ModelInferRequest.InferInputTensor'), { name: 1, datatype: 2, shape: 3, parameters: 4, contents: 5 })
  t.same(fields('ModelInferRequest.InferRequestedOutputTensor'), { name: 1, parameters: 2 })
  t.same(fields('ModelInferResponse'), { model_name: 1, model_version: 2, id: 3, parameters: 4, outputs: 5, raw_output_contents: 6 })
  t.same(fields('ModelInferResponse.InferOutputTensor'), { name: 1, datatype: 2, shape: 3, parameters: 4, contents: 5 })
  t.same(fields('InferTensorContents'), {
    bool_contents: 1,
    int_contents: 2,
    int64_contents: 3,
    uint_contents: 4,
    uint64_contents: 5,
    fp32_contents: 6,
    fp64_contents: 7,
    bytes_contents: 8,
  })
  t.same(fields('ModelMetadataResponse'), { name: 1, versions: 2, platform: 3, inputs: 4, outputs: 5 })
  t.same(fields('ModelMetadataResponse.TensorMetadata'), { name: 1, datatype: 2, shape: 3 })
  t.same(fields('ServerMetadataResponse'), { name: 1, version: 2, extensions: 3 })
  t.same(fields('ModelReadyRequest'), { name: 1, version: 2 })
  // KServe's three, then Triton's double_param and uint64_param.
  t.same(fields('InferParameter'), { bool_param: 1, int64_param: 2, string_param: 3, double_param: 4, uint64_param: 5 })
  // From triton-inference-server/common protobuf/grpc_service.proto.
  t.same(fields('RepositoryIndexRequest'), { repository_name: 1, ready: 2 })
  t.same(fields('RepositoryIndexResponse'), { models: 1 })
  t.same(fields('RepositoryIndexResponse.ModelIndex'), { name: 1, version: 2, state: 3, reason: 4 })
  t.same(fields('RepositoryModelLoadRequest'), { repository_name: 1, model_name: 2, parameters: 3 })
  t.same(fields('RepositoryModelUnloadRequest'), { repository_name: 1, model_name: 2, parameters: 3 })
  t.same(fields('ModelRepositoryParameter'), { bool_param: 1, int64_param: 2, string_param: 3, bytes_param: 4 })
  t.match(text, /kserve\/kserve docs\/predict-api\/v2\/grpc_predict_v2\.proto/, 'the file cites its sources')
  t.match(text, /triton-inference-server\/common protobuf\/grpc_service\.proto/)
})

t.test('CALSERVE_GRPC_PORT and CALSERVE_GRPC_MAX_MESSAGE_BYTES', async (t) => {
  t.match(loadConfig({}), { grpcPort: 8081, grpcMaxMessageBytes: 16 * 1024 * 1024 })
  t.match(loadConfig({ CALSERVE_GRPC_PORT: '0' }), { grpcPort: 0 }, '0 turns it off')
  t.match(loadConfig({ CALSERVE_PREDICT_BODY_LIMIT_BYTES: '4096' }), { grpcMaxMessageBytes: 4096 }, 'the predict body limit by default')
  t.match(loadConfig({ CALSERVE_GRPC_MAX_MESSAGE_BYTES: '65536' }), { grpcMaxMessageBytes: 65536 })
  t.throws(() => loadConfig({ CALSERVE_GRPC_PORT: '70000' }), /CALSERVE_GRPC_PORT/)
  t.throws(() => loadConfig({ CALSERVE_GRPC_MAX_MESSAGE_BYTES: 'lots' }), /CALSERVE_GRPC_MAX_MESSAGE_BYTES/)
})
