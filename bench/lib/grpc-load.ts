// The gRPC rows' load generator (wrk speaks only HTTP/1.1; ghz and h2load are not packaged here): a
// closed loop of N concurrent ModelInfer calls, each sending the next sample as raw_input_contents
// as soon as its previous call answered, for a fixed window. It runs as its own process, pinned
// with taskset to the client core like wrk (bench/lib/rows.ts starts it), over one HTTP/2
// connection (the calls are streams on it, as a gRPC client library sends them).
//
// It speaks gRPC's HTTP/2 mapping itself with node:http2 rather than through @grpc/grpc-js: the
// requests are encoded once (with @grpc/proto-loader's serializer, from the committed .proto) and
// framed once, so a call costs the client one HTTP/2 stream and nothing else. grpc-js's client
// spent 300-700 µs of CPU per call on the 2-core bench machine (interceptors, metadata, a deadline
// timer per call) whether or not it encoded each request itself, more than calserve's side, so it
// was the row's limit; this loop spends 85-275 µs. The status of every call is read from its
// trailers (grpc-status), and one response in ten is decoded to check it answers the model with
// every output asked for. TCP_NODELAY is set on the connection, as grpc-js's transport sets it.
//
//   node --import tsx bench/lib/grpc-load.ts '<GrpcLoadInput as JSON>'
//
// The last line of stdout is `GRPCJSON {…}`: the window's counts, latency percentiles (ms) and the
// process's own CPU over its wall time, the fields of a wrk cell.
import { readFileSync } from 'node:fs'
import { connect, constants, type IncomingHttpHeaders, type IncomingHttpStatusHeader } from 'node:http2'
import { resolve } from 'node:path'
import { connect as netConnect } from 'node:net'
import { status } from '@grpc/grpc-js'
import { loadSync, type ServiceDefinition } from '@grpc/proto-loader'

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

const proto = resolve(import.meta.dirname, '../../proto/grpc_predict_v2.proto')
const PATH = '/inference.GRPCInferenceService/ModelInfer'
/** Responses decoded to check they are real answers (one in this many). */
const CHECK_EVERY = 10
/** How long past the window a call may still take before the connection is cut (and it counts as failed). */
const GRACE_MS = 30_000

/** A gRPC length-prefixed message: compressed flag 0, the length as uint32 big-endian, the bytes. */
function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.byteLength)
  out.writeUInt8(0, 0)
  out.writeUInt32BE(message.byteLength, 1)
  out.set(message, 5)
  return out
}

/** The latency at quantile q (0..1) of sorted values, nearest rank. */
function quantile(sorted: Float64Array, q: number): number | null {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

async function run(o: GrpcLoadInput): Promise<GrpcLoadResult> {
  const definition = loadSync(proto, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true })
  const method = (definition['inference.GRPCInferenceService'] as ServiceDefinition)['ModelInfer']!
  const file = readFileSync(o.samplesFile)
  const sampleBytes = o.sampleShape.reduce((a, b) => a * b, 1) * 4
  const bodies = Array.from({ length: file.byteLength / sampleBytes }, (_, k) =>
    frame(
      method.requestSerialize({
        model_name: o.model,
        inputs: [{ name: o.input, datatype: 'FP32', shape: [1, ...o.sampleShape] }],
        outputs: o.outputs.map((name) => ({ name })),
        raw_input_contents: [file.subarray(k * sampleBytes, (k + 1) * sampleBytes)],
      }),
    ),
  )
  /** What is wrong with a framed response, or null when it answers the model with every output asked for. */
  const wrongAnswer = (body: Buffer): string | null => {
    if (body.byteLength < 5 || body.readUInt32BE(1) !== body.byteLength - 5) return `a response body of ${body.byteLength} bytes is not one message`
    const res = method.responseDeserialize(body.subarray(5)) as { model_name: string; outputs: Array<{ name: string }>; raw_output_contents: Buffer[] }
    if (res.model_name !== o.model) return `model_name ${JSON.stringify(res.model_name)}`
    if (res.outputs.map((x) => x.name).join() !== o.outputs.join() || res.raw_output_contents.length !== o.outputs.length)
      return `outputs ${res.outputs.map((x) => x.name).join()} with ${res.raw_output_contents.length} raw_output_contents`
    return null
  }
  const [host, port] = [o.address.slice(0, o.address.lastIndexOf(':')), o.address.slice(o.address.lastIndexOf(':') + 1)]
  // TCP_NODELAY, as grpc-js's transport sets it: a small call's frames are not held back by Nagle.
  const session = connect(`http://${host}:${port}`, { createConnection: () => netConnect({ host, port: Number(port), noDelay: true }) })
  await new Promise<void>((res, rej) => {
    session.once('connect', () => res())
    session.once('error', rej)
  })
  const sessionErrors: string[] = []
  session.on('error', (err) => sessionErrors.push(err.message))
  const headers = {
    [constants.HTTP2_HEADER_METHOD]: 'POST',
    [constants.HTTP2_HEADER_PATH]: PATH,
    [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
    [constants.HTTP2_HEADER_TE]: 'trailers',
  }

  const latencies: number[] = []
  const failed: Record<string, number> = {}
  const fail = (why: string) => (failed[why] = (failed[why] ?? 0) + 1)
  let sent = 0
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const end = t0 + o.durationS * 1000
  const watchdog = setTimeout(() => session.destroy(new Error(`calls still open ${GRACE_MS} ms after the window`)), o.durationS * 1000 + GRACE_MS)
  await new Promise<void>((done) => {
    let running = o.connections
    const one = () => {
      // A lost connection (or the watchdog's cut) ends the loop; its calls counted as failed.
      if (performance.now() >= end || session.destroyed) {
        if (--running === 0) done()
        return
      }
      const started = performance.now()
      const call = sent++
      const stream = session.request(headers)
      let httpStatus = 0
      let grpcStatus: string | undefined
      // Trailers-only answers (every error) carry grpc-status in the headers, the others in the trailers.
      stream.on('response', (h: IncomingHttpHeaders & IncomingHttpStatusHeader) => {
        httpStatus = h[':status'] ?? 0
        grpcStatus = h['grpc-status'] as string | undefined
      })
      stream.on('trailers', (h: IncomingHttpHeaders) => (grpcStatus = h['grpc-status'] as string | undefined))
      const chunks: Buffer[] | null = call % CHECK_EVERY === 0 ? [] : null
      stream.on('data', (chunk: Buffer) => chunks?.push(chunk))
      stream.on('error', () => {})
      stream.on('close', () => {
        if (stream.rstCode !== constants.NGHTTP2_NO_ERROR) fail(`RST_STREAM ${stream.rstCode}`)
        else if (httpStatus !== 200) fail(`HTTP ${httpStatus}`)
        else if (grpcStatus !== '0') fail(grpcStatus === undefined ? 'no grpc-status' : (status[Number(grpcStatus)] ?? `grpc-status ${grpcStatus}`))
        else {
          const wrong = chunks ? wrongAnswer(Buffer.concat(chunks)) : null
          if (wrong !== null) fail(`wrong answer: ${wrong}`)
          else latencies.push(performance.now() - started)
        }
        one()
      })
      stream.end(bodies[call % bodies.length])
    }
    for (let k = 0; k < o.connections; k++) one()
  })
  clearTimeout(watchdog)
  const wall = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  session.close()
  for (const message of sessionErrors) fail(`connection: ${message}`)
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
