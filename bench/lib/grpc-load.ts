// The gRPC rows' load generator (wrk speaks only HTTP/1.1, and ghz is not packaged here): a closed
// loop of N concurrent ModelInfer calls over @grpc/grpc-js, each sending the next sample as
// raw_input_contents as soon as its previous call answered, for a fixed window. It runs as its own
// process, pinned with taskset to the client core like wrk (bench/lib/rows.ts starts it), over one
// channel (one HTTP/2 connection: the calls are streams on it, as a gRPC client library sends them).
//
//   node --import tsx bench/lib/grpc-load.ts '<GrpcLoadInput as JSON>'
//
// The last line of stdout is `GRPCJSON {…}`: the window's counts, latency percentiles (ms) and the
// process's own CPU over its wall time, the fields of a wrk cell.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { credentials, loadPackageDefinition, status, type Client, type ServiceError } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'

export interface GrpcLoadInput {
  address: string
  model: string
  input: string
  /** One sample's shape, without the batch dimension. */
  sampleShape: number[]
  /** Little-endian float32 samples back to back; calls cycle through them. */
  samplesFile: string
  /** The outputs asked for (as the REST v2 rows ask for label, score, class_index). */
  outputs: string[]
  connections: number
  durationS: number
}

export interface GrpcLoadResult {
  requests: number
  ok: number
  /** Calls answered with a status other than OK, by status name. */
  failed: Record<string, number>
  duration_s: number
  p50_ms: number | null
  p90_ms: number | null
  p99_ms: number | null
  max_ms: number | null
  mean_ms: number | null
  /** This process's CPU seconds (user + system) over the window's wall seconds. */
  client_cpu: number
}

type Infer = (request: unknown, options: { deadline: number }, callback: (err: ServiceError | null, res: unknown) => void) => void

const proto = resolve(import.meta.dirname, '../../proto/grpc_predict_v2.proto')

/** The latency at quantile q (0..1) of sorted values, nearest rank. */
function quantile(sorted: Float64Array, q: number): number | null {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

async function run(o: GrpcLoadInput): Promise<GrpcLoadResult> {
  const definition = loadSync(proto, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true })
  const pkg = loadPackageDefinition(definition) as unknown as {
    inference: { GRPCInferenceService: new (address: string, creds: ReturnType<typeof credentials.createInsecure>, options: object) => Client }
  }
  const client = new pkg.inference.GRPCInferenceService(o.address, credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  })
  const infer = (client as unknown as { ModelInfer: Infer }).ModelInfer.bind(client)
  const file = readFileSync(o.samplesFile)
  const sampleBytes = o.sampleShape.reduce((a, b) => a * b, 1) * 4
  const requests = Array.from({ length: file.byteLength / sampleBytes }, (_, k) => ({
    model_name: o.model,
    inputs: [{ name: o.input, datatype: 'FP32', shape: [1, ...o.sampleShape] }],
    outputs: o.outputs.map((name) => ({ name })),
    raw_input_contents: [file.subarray(k * sampleBytes, (k + 1) * sampleBytes)],
  }))
  await new Promise<void>((res, rej) => client.waitForReady(Date.now() + 10_000, (err) => (err ? rej(err) : res())))

  const latencies: number[] = []
  const failed: Record<string, number> = {}
  let sent = 0
  let next = 0
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const end = t0 + o.durationS * 1000
  await new Promise<void>((done) => {
    let running = o.connections
    const one = () => {
      if (performance.now() >= end) {
        if (--running === 0) done()
        return
      }
      const started = performance.now()
      const request = requests[next++ % requests.length]!
      sent++
      infer(request, { deadline: Date.now() + 30_000 }, (err) => {
        if (err) {
          const name = status[err.code] ?? String(err.code)
          failed[name] = (failed[name] ?? 0) + 1
        } else latencies.push(performance.now() - started)
        one()
      })
    }
    for (let k = 0; k < o.connections; k++) one()
  })
  const wall = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  client.close()
  const sorted = Float64Array.from(latencies).sort()
  const ms = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000)
  return {
    requests: sent,
    ok: latencies.length,
    failed,
    duration_s: Math.round(wall * 1000) / 1000,
    p50_ms: ms(quantile(sorted, 0.5)),
    p90_ms: ms(quantile(sorted, 0.9)),
    p99_ms: ms(quantile(sorted, 0.99)),
    max_ms: ms(sorted.length ? sorted[sorted.length - 1]! : null),
    mean_ms: ms(sorted.length ? latencies.reduce((a, b) => a + b, 0) / sorted.length : null),
    client_cpu: Math.round(((cpu.user + cpu.system) / 1e6 / wall) * 1000) / 1000,
  }
}

process.stdout.write(`GRPCJSON ${JSON.stringify(await run(JSON.parse(process.argv[2] ?? '{}') as GrpcLoadInput))}\n`)
