// ModelInfer and the metadata methods over real loopback gRPC, against REST v2 on the same app:
// the same samples give the same logits bit for bit (typed and raw contents), the same calibration
// parameters and predictions; the classification extension; integer and FP64 contents converted as
// REST converts them.
import t, { type Test } from 'tap'
import { fixture, logitsOf } from '../http/expected.js'
import { call, serve, type Served } from './helper.js'

const tiny = fixture('tiny')
const GAMMA = 0.3125
const TEMPERATURE = 2.5
// Values that float32 rounds: the comparison with REST is about bits, not about exact inputs.
const SAMPLES = [
  [0.1, -0.7, 1.3],
  [2.2, 0.35, -1.9],
  [1, 0.5, 0.125],
  [-3.14159, 2.71828, 0.5772],
]
const N = SAMPLES.length

type Param = { parameter_choice: string } & Record<string, unknown>
interface Tensor {
  name: string
  datatype: string
  shape: number[]
  contents: Record<string, unknown[]> | null
}
interface InferResponse {
  model_name: string
  model_version: string
  id: string
  parameters: Record<string, Param>
  outputs: Tensor[]
  raw_output_contents: Buffer[]
}

const value = (p: Param | undefined) => (p ? p[p.parameter_choice] : undefined)
const params = (r: InferResponse) => Object.fromEntries(Object.entries(r.parameters).map(([k, p]) => [k, value(p)]))
const out = (r: InferResponse, name: string) => {
  const o = r.outputs.find((x) => x.name === name)
  if (!o) throw new Error(`no output ${name}`)
  return o
}
const f32 = (xs: number[][]) => Array.from(Float32Array.from(xs.flat()))
const rawOf = (xs: number[][]) => Buffer.from(Float32Array.from(xs.flat()).buffer)

async function calibrate(t: Test, s: Served) {
  const put = await s.app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: GAMMA, temperature: TEMPERATURE } })
  t.equal(put.statusCode, 200, put.body)
}

async function restJson(s: Served, body: unknown) {
  const res = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body as Record<string, unknown> })
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.json() as { parameters: Record<string, unknown>; outputs: Array<{ name: string; data: unknown[] }> }
}

t.test('typed contents: the same answer as REST v2 JSON, logits bit for bit', async (t) => {
  const s = await serve(t)
  await calibrate(t, s)
  const res = await call<InferResponse>(s.client, 'ModelInfer', {
    model_name: 'tiny',
    id: 'req-7',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [N, 3], contents: { fp32_contents: SAMPLES.flat() } }],
  })
  const rest = await restJson(s, { inputs: [{ name: 'x', shape: [N, 3], datatype: 'FP32', data: SAMPLES.flat() }] })
  t.equal(res.model_name, 'tiny')
  t.equal(res.model_version, '2')
  t.equal(res.id, 'req-7')
  t.strictSame(params(res), { calibrated: true, calibration_version: 1, gamma: GAMMA, temperature: TEMPERATURE })
  t.strictSame(params(res), rest.parameters, 'the same calibration parameters as REST')
  t.same(res.parameters['gamma']!.parameter_choice, 'double_param')
  t.same(res.parameters['calibration_version']!.parameter_choice, 'int64_param')
  t.same(
    res.outputs.map((o) => [o.name, o.datatype, o.shape]),
    [
      ['logits', 'FP32', [N, 4]],
      ['label', 'BYTES', [N]],
      ['score', 'FP32', [N]],
      ['class_index', 'INT64', [N]],
    ],
  )
  t.same(res.raw_output_contents, [], 'typed in, typed out')
  const logits = out(res, 'logits').contents!['fp32_contents'] as number[]
  const restLogits = rest.outputs.find((o) => o.name === 'logits')!.data as number[]
  t.equal(Buffer.compare(Buffer.from(Float32Array.from(logits).buffer), Buffer.from(Float32Array.from(restLogits).buffer)), 0, 'logits bit for bit')
  t.strictSame(logits, restLogits)
  t.strictSame((out(res, 'label').contents!['bytes_contents'] as Buffer[]).map(String), rest.outputs.find((o) => o.name === 'label')!.data)
  t.strictSame(out(res, 'class_index').contents!['int64_contents'], rest.outputs.find((o) => o.name === 'class_index')!.data)
  t.strictSame(out(res, 'score').contents!['fp32_contents'], rest.outputs.find((o) => o.name === 'score')!.data)
  // And against the fixture's weights, independently of both front-ends.
  const x = f32(SAMPLES)
  const want = SAMPLES.map((_, i) => logitsOf(tiny, 2, x.slice(i * 3, i * 3 + 3)).map((z, j) => Math.fround(Math.fround(z) + (tiny.absent[j] ? GAMMA : 0))))
  want.flat().forEach((w, i) => t.ok(Math.abs(w - logits[i]!) < 1e-5, `logit ${i}: ${logits[i]} ≈ ${w}`))
})

t.test('raw contents: raw outputs equal REST v2 binary outputs byte for byte', async (t) => {
  const s = await serve(t)
  await calibrate(t, s)
  const res = await call<InferResponse>(s.client, 'ModelInfer', {
    model_name: 'tiny',
    model_version: '2',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [N, 3] }],
    raw_input_contents: [rawOf(SAMPLES)],
  })
  t.same(
    res.outputs.map((o) => [o.name, o.datatype, o.shape, o.contents]),
    [
      ['logits', 'FP32', [N, 4], null],
      ['label', 'BYTES', [N], null],
      ['score', 'FP32', [N], null],
      ['class_index', 'INT64', [N], null],
    ],
    'outputs described, their data in raw_output_contents',
  )
  t.equal(res.raw_output_contents.length, 4)
  const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [N, 3], datatype: 'FP32', parameters: { binary_data_size: N * 12 } }], parameters: { binary_data_output: true } }))
  const rest = await s.app.inject({
    method: 'POST',
    url: '/v2/models/tiny/infer',
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.byteLength) },
    payload: Buffer.concat([json, rawOf(SAMPLES)]),
  })
  t.equal(rest.statusCode, 200, rest.body.slice(0, 300))
  const headerLength = Number(rest.headers['inference-header-content-length'])
  const body = rest.rawPayload
  const header = JSON.parse(body.subarray(0, headerLength).toString()) as { parameters: unknown; outputs: Array<{ parameters: { binary_data_size: number } }> }
  let offset = headerLength
  const blobs = header.outputs.map((o) => {
    const b = body.subarray(offset, offset + o.parameters.binary_data_size)
    offset += o.parameters.binary_data_size
    return b
  })
  t.strictSame(params(res), header.parameters)
  res.raw_output_contents.forEach((b, i) => t.equal(Buffer.compare(b, blobs[i]!), 0, `output ${i} byte for byte`))
  // Raw BYTES as Triton lays them out: a 4-byte little-endian length, then the UTF-8 bytes.
  const labels = res.raw_output_contents[1]!
  t.equal(labels.readUInt32LE(0), labels.subarray(4, 4 + labels.readUInt32LE(0)).byteLength)
})

t.test('calibrated: false, asked outputs and the classification extension', async (t) => {
  const s = await serve(t)
  await calibrate(t, s)
  const raw = await call<InferResponse>(s.client, 'ModelInfer', {
    model_name: 'tiny',
    parameters: { calibrated: { bool_param: false } },
    inputs: [{ name: 'x', datatype: 'FP32', shape: [N, 3], contents: { fp32_contents: SAMPLES.flat() } }],
    outputs: [{ name: 'logits' }],
  })
  const rest = await restJson(s, { parameters: { calibrated: false }, inputs: [{ name: 'x', shape: [N, 3], datatype: 'FP32', data: SAMPLES.flat() }], outputs: [{ name: 'logits' }] })
  t.equal(value(raw.parameters['calibrated']), false)
  t.same(raw.outputs.map((o) => o.name), ['logits'])
  t.strictSame(out(raw, 'logits').contents!['fp32_contents'], rest.outputs[0]!.data, 'uncalibrated logits equal REST’s')

  const cls = await call<InferResponse>(s.client, 'ModelInfer', {
    model_name: 'tiny',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [N, 3], contents: { fp32_contents: SAMPLES.flat() } }],
    outputs: [{ name: 'logits', parameters: { classification: { int64_param: 2 } } }, { name: 'label' }],
  })
  const restCls = await restJson(s, {
    inputs: [{ name: 'x', shape: [N, 3], datatype: 'FP32', data: SAMPLES.flat() }],
    outputs: [{ name: 'logits', parameters: { classification: 2 } }, { name: 'label' }],
  })
  t.same(out(cls, 'logits').datatype, 'BYTES')
  t.same(out(cls, 'logits').shape, [N, 2])
  const strings = (out(cls, 'logits').contents!['bytes_contents'] as Buffer[]).map(String)
  t.strictSame(strings, restCls.outputs[0]!.data, 'the same "value:index:label" strings as REST')
  t.match(strings[0], /^-?\d+\.\d{6}:\d:(cat|dog|bird|fish)$/)
  t.equal(strings[0]!.split(':')[2], String((out(cls, 'label').contents!['bytes_contents'] as Buffer[])[0]), 'top 1 is the label')
})

t.test('integer and FP64 contents are converted as REST converts them', async (t) => {
  const s = await serve(t)
  const ints = [
    [1, 0, -2],
    [3, 4, 5],
  ]
  const restOf = async (datatype: string, data: number[]) =>
    (await restJson(s, { inputs: [{ name: 'x', shape: [2, 3], datatype, data }], outputs: [{ name: 'logits' }] })).outputs[0]!.data
  const cases: Array<[string, string, number[]]> = [
    ['INT32', 'int_contents', ints.flat()],
    ['INT8', 'int_contents', ints.flat()],
    ['INT64', 'int64_contents', ints.flat()],
    ['UINT8', 'uint_contents', [1, 0, 2, 3, 4, 5]],
    ['UINT64', 'uint64_contents', [1, 0, 2, 3, 4, 5]],
    ['FP64', 'fp64_contents', [0.1, -0.7, 1.3, 2.2, 0.35, -1.9]],
  ]
  for (const [datatype, field, data] of cases) {
    const res = await call<InferResponse>(s.client, 'ModelInfer', {
      model_name: 'tiny',
      inputs: [{ name: 'x', datatype, shape: [2, 3], contents: { [field]: data } }],
      outputs: [{ name: 'logits' }],
    })
    t.strictSame(out(res, 'logits').contents!['fp32_contents'], await restOf(datatype, data), `${datatype} in ${field}`)
  }
  const fp64raw = Buffer.alloc(6 * 8)
  ;[0.1, -0.7, 1.3, 2.2, 0.35, -1.9].forEach((v, i) => fp64raw.writeDoubleLE(v, i * 8))
  const raw = await call<InferResponse>(s.client, 'ModelInfer', {
    model_name: 'tiny',
    inputs: [{ name: 'x', datatype: 'FP64', shape: [2, 3] }],
    outputs: [{ name: 'logits' }],
    raw_input_contents: [fp64raw],
  })
  const blob = raw.raw_output_contents[0]!
  t.strictSame(Array.from(new Float32Array(blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength))), await restOf('FP64', [0.1, -0.7, 1.3, 2.2, 0.35, -1.9]), 'raw FP64')
})

t.test('server and model metadata, liveness and readiness', async (t) => {
  const s = await serve(t)
  t.same(await call(s.client, 'ServerLive', {}), { live: true })
  t.same(await call(s.client, 'ServerReady', {}), { ready: true })
  t.same(await call(s.client, 'ModelReady', { name: 'tiny' }), { ready: true })
  t.same(await call(s.client, 'ModelReady', { name: 'tiny', version: '2' }), { ready: true })
  const server = await call<{ name: string; version: string; extensions: string[] }>(s.client, 'ServerMetadata', {})
  const rest = (await s.app.inject({ url: '/v2' })).json()
  t.same(server, rest, 'the same server metadata as REST')
  const meta = await call(s.client, 'ModelMetadata', { name: 'tiny' })
  const restMeta = (await s.app.inject({ url: '/v2/models/tiny' })).json() as Record<string, unknown>
  t.same(meta, { name: 'tiny', versions: ['2'], platform: 'onnxruntime_onnx', inputs: restMeta['inputs'], outputs: restMeta['outputs'] })
  t.same(meta, {
    name: 'tiny',
    versions: ['2'],
    platform: 'onnxruntime_onnx',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }],
    outputs: [
      { name: 'logits', datatype: 'FP32', shape: [-1, 4] },
      { name: 'label', datatype: 'BYTES', shape: [-1] },
      { name: 'score', datatype: 'FP32', shape: [-1] },
      { name: 'class_index', datatype: 'INT64', shape: [-1] },
    ],
  })
  const { parameters: _, ...image } = (await s.app.inject({ url: '/v2/models/image/versions/1' })).json() as Record<string, unknown>
  t.same(await call(s.client, 'ModelMetadata', { name: 'image', version: '1' }), image, 'image, by version: REST’s metadata but its parameters (no such field in the message)')
})
