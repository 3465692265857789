// A gRPC client of calserve from the committed proto (no generated code, no grpcurl): one raw-contents
// ModelInfer of the first digits test sample. `npx tsx examples/grpc-client.ts [host:port]`
import { readFileSync } from 'node:fs'
import { credentials, loadPackageDefinition, Metadata } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'

const root = new URL('..', import.meta.url).pathname
const proto = loadSync(`${root}proto/grpc_predict_v2.proto`, { keepCase: true, longs: Number, defaults: true, oneofs: true })
const { inference } = loadPackageDefinition(proto) as any
const client = new inference.GRPCInferenceService(process.argv[2] ?? '127.0.0.1:8081', credentials.createInsecure())
const x: number[] = JSON.parse(readFileSync(`${root}examples/digits/data/test.ndjson`, 'utf8').split('\n')[0]!).input
const metadata = new Metadata() // with CALSERVE_API_TOKENS set: metadata.set('authorization', 'Bearer <token>')
const request = {
  model_name: 'digits-finetuned',
  inputs: [{ name: 'pixels', datatype: 'FP32', shape: [1, x.length] }],
  raw_input_contents: [Buffer.from(new Float32Array(x).buffer)], // little-endian float32, so the answer is raw too
}
client.ModelInfer(request, metadata, { deadline: Date.now() + 5000 }, (err: Error | null, res: any) => {
  if (err) throw err
  const params = Object.fromEntries(Object.entries(res.parameters).map(([k, p]: [string, any]) => [k, p[p.parameter_choice]]))
  const label = res.raw_output_contents[res.outputs.findIndex((o: { name: string }) => o.name === 'label')]
  console.log(params, 'label:', label.subarray(4, 4 + label.readUInt32LE(0)).toString())
  client.close()
})
