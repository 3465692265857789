// Open Inference Protocol with Triton's binary tensor data extension: inputs as little-endian bytes
// after the JSON (Inference-Header-Content-Length, binary_data_size), outputs asked as binary data
// (binary_data, binary_data_output) parsed back byte for byte. The JSON parts of requests and
// responses are checked against the spec's schemas as the extension amends them.
import { activate } from '../../../src/serving/activate.js'
import t, { type Test } from 'tap'
import { build } from '../../helper.js'
import { expectedPrediction, fixture, logitsOf } from '../expected.js'
import { binaryRequest, conforms, f32, f64, i16, i64, parseBinaryResponse, readBytes, readF32, readI64, SCHEMA, u8, v2ErrorOf } from './conformance.js'

type App = Awaited<ReturnType<typeof build>>
const tiny = fixture('tiny')
const image = fixture('image')
const X = [
  [1, 0.5, 0.25],
  [0, 1, 2],
  [-1, 0.25, 1.5],
  [1, 0, 0.125],
]
const GAMMA = 0.3125
const TEMPERATURE = 2.5
const URL = '/v2/models/tiny/infer'

const calibrated = (info: typeof tiny, z: number[], gamma: number) => z.map((v, j) => v + (info.absent[j] ? gamma : 0))
function bytesOf(strings: string[]): Buffer {
  return Buffer.concat(
    strings.flatMap((s) => {
      const b = Buffer.from(s, 'utf8')
      const len = Buffer.alloc(4)
      len.writeUInt32LE(b.byteLength)
      return [len, b]
    }),
  )
}

async function calibrate(t: Test, app: App, body: Record<string, unknown> = { gamma: GAMMA, temperature: TEMPERATURE }) {
  const put = await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: body })
  t.equal(put.statusCode, 200, put.body)
}

/** Sends a binary request (its JSON part checked against the amended schema first). */
async function send(t: Test, app: App, json: Record<string, unknown>, blobs: Buffer[], url = URL) {
  conforms(t, 'x-binary-tensor-data/inference_request', json, 'the request’s JSON')
  return app.inject({ method: 'POST', url, ...binaryRequest(json, blobs) })
}

const fp32Input = (n: number, size: number) => ({ name: 'x', shape: [n, 3], datatype: 'FP32', parameters: { binary_data_size: size } })

t.test('the extension’s own examples conform to the amended schemas', async (t) => {
  for (const [i, e] of SCHEMA['x-examples']['binary_inference_request']!.entries())
    conforms(t, 'x-binary-tensor-data/inference_request', e, `request example ${i}`)
  for (const [i, e] of SCHEMA['x-examples']['binary_inference_response']!.entries())
    conforms(t, 'x-binary-tensor-data/inference_response', e, `response example ${i}`)
})

t.test('binary inputs, JSON outputs: the same answer as the JSON request', async (t) => {
  const app = await build(t)
  await calibrate(t, app)
  const json = await app.inject({ method: 'POST', url: URL, payload: { id: 'j', inputs: [{ name: 'x', shape: [4, 3], datatype: 'FP32', data: X }] } })
  t.equal(json.statusCode, 200, json.body)
  const bin = await send(t, app, { id: 'j', inputs: [fp32Input(4, 48)] }, [f32(X.flat())])
  t.equal(bin.statusCode, 200, bin.body)
  t.match(String(bin.headers['content-type']), /^application\/json/, 'no binary output asked: a JSON answer')
  t.notOk('inference-header-content-length' in bin.headers)
  conforms(t, 'definitions/inference_response', bin.json(), 'the response')
  t.same(bin.json(), json.json())

  // A request whose binary data starts at an odd offset, sent as application/json as some clients do.
  let id = 'j'
  while (Buffer.byteLength(JSON.stringify({ id, inputs: [fp32Input(4, 48)] })) % 4 === 0) id += 'j'
  const req = binaryRequest({ id, inputs: [fp32Input(4, 48)] }, [f32(X.flat())], 'application/json')
  t.not(Number(req.headers['inference-header-content-length']) % 4, 0, 'the data is not 4-byte aligned in the body')
  const res = await app.inject({ method: 'POST', url: URL, ...req })
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().id, id)
  t.same(res.json().outputs, json.json().outputs)
})

t.test('binary outputs: the JSON header, then each output’s bytes, exactly', async (t) => {
  const app = await build(t)
  await calibrate(t, app)
  const res = await send(t, app, { id: 'b', parameters: { binary_data_output: true }, inputs: [fp32Input(4, 48)] }, [f32(X.flat())])
  t.equal(res.statusCode, 200, res.body.slice(0, 300))
  const { json, blobs } = parseBinaryResponse(t, res)
  conforms(t, 'x-binary-tensor-data/inference_response', json, 'the response’s JSON')
  t.equal(json['id'], 'b')
  t.same(json['parameters'], { calibrated: true, calibration_version: 1, gamma: GAMMA, temperature: TEMPERATURE })
  t.same(
    json.outputs.map((o) => [o.name, o.datatype, o.shape, 'data' in o]),
    [
      ['logits', 'FP32', [4, 4], false],
      ['label', 'BYTES', [4], false],
      ['score', 'FP32', [4], false],
      ['class_index', 'INT64', [4], false],
    ],
  )
  const z = X.map((x) => logitsOf(tiny, 2, x))
  const want = z.map((row) => expectedPrediction(tiny, row, GAMMA, TEMPERATURE, 1))
  t.ok(blobs.get('logits')!.equals(f32(z.flatMap((row) => calibrated(tiny, row, GAMMA)))), 'logits: the calibrated float32 bytes')
  t.ok(blobs.get('label')!.equals(bytesOf(want.map((p) => p.label))), 'label: 4-byte length and UTF-8, per element')
  t.ok(blobs.get('class_index')!.equals(i64(want.map((p) => p.index))), 'class_index: int64 little-endian')
  readF32(blobs.get('score')!).forEach((s, i) => t.ok(Math.abs(s - want[i]!.score) <= 2e-7, `score ${i}: ${s} ≈ ${want[i]!.score}`))
  t.same(
    readBytes(blobs.get('label')!),
    want.map((p) => p.label),
  )
  t.same(
    readI64(blobs.get('class_index')!),
    want.map((p) => p.index),
  )

  // The same request answered in JSON carries the same values.
  const asJson = (await app.inject({ method: 'POST', url: URL, payload: { inputs: [{ name: 'x', shape: [4, 3], datatype: 'FP32', data: X }] } })).json()
  t.same(readF32(blobs.get('logits')!), asJson.outputs[0].data)
  t.same(readF32(blobs.get('score')!), asJson.outputs[2].data)
})

t.test('binary_data on one output overrides binary_data_output; classification as binary BYTES', async (t) => {
  const app = await build(t)
  await calibrate(t, app)
  const data = X.flat()
  const mixed = await send(
    t,
    app,
    {
      parameters: { binary_data_output: true },
      inputs: [fp32Input(4, 48)],
      outputs: [{ name: 'label', parameters: { binary_data: false } }, { name: 'logits', parameters: { classification: 2 } }, { name: 'score' }],
    },
    [f32(data)],
  )
  t.equal(mixed.statusCode, 200, mixed.body.slice(0, 300))
  const { json, blobs } = parseBinaryResponse(t, mixed)
  conforms(t, 'x-binary-tensor-data/inference_response', json, 'mixed')
  const want = X.map((x) => expectedPrediction(tiny, logitsOf(tiny, 2, x), GAMMA, TEMPERATURE, 2))
  t.same(json.outputs[0], { name: 'label', shape: [4], datatype: 'BYTES', data: want.map((p) => p.label) }, 'label in the JSON')
  t.same(json.outputs[1]!.parameters, { binary_data_size: blobs.get('logits')!.byteLength })
  t.same(json.outputs[1]!.shape, [4, 2])
  t.same(
    readBytes(blobs.get('logits')!),
    X.flatMap((x, i) => {
      const u = calibrated(tiny, logitsOf(tiny, 2, x), GAMMA)
      return want[i]!.top_k.map((c) => `${u[c.index]!.toFixed(6)}:${c.index}:${c.label}`)
    }),
    'the classification strings',
  )
  t.equal(blobs.get('score')!.byteLength, 16)

  const one = await send(t, app, { inputs: [fp32Input(4, 48)], outputs: [{ name: 'class_index', parameters: { binary_data: true } }, { name: 'label' }] }, [
    f32(data),
  ])
  const parsed = parseBinaryResponse(t, one)
  conforms(t, 'x-binary-tensor-data/inference_response', parsed.json, 'one binary output')
  t.same([...parsed.blobs.keys()], ['class_index'])
  t.same(
    parsed.json.outputs[1]!.data,
    want.map((p) => p.label),
  )
})

t.test('binary inputs of other datatypes are converted; a 4-D input', async (t) => {
  const app = await build(t)
  const ints = [1, 0, 2, 3, 4, 1]
  const base = (await app.inject({ method: 'POST', url: URL, payload: { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: ints }] } })).json()
  const cases: Array<[string, Buffer]> = [
    ['FP64', f64(ints)],
    ['INT64', i64(ints)],
    ['INT16', i16(ints)],
    ['UINT8', u8(ints)],
  ]
  for (const [datatype, blob] of cases) {
    const res = await send(t, app, { inputs: [{ name: 'x', shape: [2, 3], datatype, parameters: { binary_data_size: blob.byteLength } }] }, [blob])
    t.equal(res.statusCode, 200, `${datatype}: ${res.body}`)
    t.same(res.json().outputs, base.outputs, `${datatype} equals FP32`)
  }
  const pixels = [1, 0.5, -0.25, 0.125]
  const res = await send(
    t,
    app,
    {
      parameters: { calibrated: false, binary_data_output: true },
      inputs: [{ name: 'pixels', shape: [1, 1, 2, 2], datatype: 'FP32', parameters: { binary_data_size: 16 } }],
      outputs: [{ name: 'scores' }],
    },
    [f32(pixels)],
    '/v2/models/image/infer',
  )
  const { blobs } = parseBinaryResponse(t, res)
  t.ok(blobs.get('scores')!.equals(f32(logitsOf(image, 1, pixels))), 'the raw scores of the image model, byte for byte')
})

t.test('a γ past the float32 range: binary logits carry ±Infinity, JSON refuses to lose them', async (t) => {
  const app = await build(t)
  // PUT refuses |γ| > 1e30 now; a record stored before that bound (or by another writer) is still
  // served exactly, so it goes into the store directly.
  const model = app.plane.model('tiny')
  await activate(app, { model: 'tiny', model_version: model.version, gamma: 1e39, temperature: 1, method: 'manual' })
  const res = await send(t, app, { parameters: { binary_data_output: true }, inputs: [fp32Input(1, 12)], outputs: [{ name: 'logits' }, { name: 'label' }] }, [
    f32(X[0]!),
  ])
  t.equal(res.statusCode, 200, res.body.slice(0, 300))
  const { blobs } = parseBinaryResponse(t, res)
  const z = readF32(blobs.get('logits')!)
  t.same(
    z.map((v, j) => (tiny.absent[j] ? v : 'finite')),
    ['finite', 'finite', Infinity, Infinity],
  )
  t.same(readBytes(blobs.get('label')!), ['bird'], 'the prediction itself is exact at any γ')
  const json = await app.inject({ method: 'POST', url: URL, payload: { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: X[0] }] } })
  t.match(v2ErrorOf(t, json, 400, 'JSON with Infinity'), /output 'logits' holds Infinity.*binary_data/)
  const raw = await app.inject({
    method: 'POST',
    url: URL,
    payload: { parameters: { calibrated: false }, inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: X[0] }] },
  })
  t.equal(raw.statusCode, 200, 'the raw logits are finite')
  // The classification extension writes the value as C's printf("%f") does (issue 18 item 20).
  const top = await app.inject({
    method: 'POST',
    url: URL,
    payload: { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: X[0] }], outputs: [{ name: 'logits', parameters: { classification: 2 } }] },
  })
  t.equal(top.statusCode, 200, top.body)
  const strings = top.json().outputs[0].data as string[]
  t.equal(strings.length, 2)
  t.ok(
    strings.every((s) => s.startsWith('inf:')),
    `the top two are absent classes at +inf: ${strings.join(', ')}`,
  )
  t.equal(strings[0], 'inf:2:bird', 'ties at +inf keep the exact rule’s order')
})

t.test('bad binary requests are 400 with the reason', async (t) => {
  const app = await build(t)
  const good = f32([1, 2, 3])
  const json = (over: Record<string, unknown> = {}) => ({ inputs: [{ ...fp32Input(1, 12), ...over }] })
  const post = (headers: Record<string, string>, payload: Buffer) =>
    app.inject({ method: 'POST', url: URL, headers: { 'content-type': 'application/octet-stream', ...headers }, payload })
  const framed = (j: unknown, blobs: Buffer[]) => {
    const r = binaryRequest(j, blobs)
    return post(r.headers, r.payload)
  }
  const header = Buffer.from(JSON.stringify(json()))
  const cases: Array<[string, () => ReturnType<typeof post>, RegExp]> = [
    [
      'a header length that is not a number',
      () => post({ 'inference-header-content-length': 'twelve' }, Buffer.concat([header, good])),
      /Inference-Header-Content-Length is "twelve", not a byte count/,
    ],
    [
      'a header length past the body',
      () => post({ 'inference-header-content-length': '100000' }, Buffer.concat([header, good])),
      /Inference-Header-Content-Length is 100000 but the body holds/,
    ],
    ['a header length of 0', () => post({ 'inference-header-content-length': '0' }, Buffer.concat([header, good])), /Inference-Header-Content-Length is 0/],
    [
      'a header length that cuts the JSON',
      () => post({ 'inference-header-content-length': String(header.byteLength - 3) }, Buffer.concat([header, good])),
      /are not valid JSON/,
    ],
    [
      'binary data but no header length',
      () => post({}, Buffer.concat([header, good])),
      /not valid JSON \(binary tensor data needs the Inference-Header-Content-Length header\)/,
    ],
    [
      'binary_data_size but no header length',
      () => post({ 'content-type': 'application/json' }, header),
      /binary_data_size but the request has no Inference-Header-Content-Length header/,
    ],
    [
      'binary_data_size that is not the shape’s',
      () => framed(json({ parameters: { binary_data_size: 8 } }), [f32([1, 2])]),
      /binary_data_size 8; shape \[1, 3\] of FP32 takes 12 bytes/,
    ],
    ['binary_data_size past the body', () => framed(json({ parameters: { binary_data_size: 24 } }), [good]), /binary_data_size 24 but only 12 bytes/],
    ['bytes after the last input', () => framed(json(), [good, Buffer.from([0, 0])]), /2 bytes after the JSON header/],
    ['binary_data_size and data', () => framed(json({ data: [1, 2, 3] }), [good]), /has both data and parameters.binary_data_size/],
    ['binary_data_size negative', () => framed(json({ parameters: { binary_data_size: -12 } }), [good]), /binary_data_size must be a byte count/],
    ['binary_data_size a string', () => framed(json({ parameters: { binary_data_size: '12' } }), [good]), /binary_data_size must be a byte count/],
    [
      'NaN',
      () => framed(json({ shape: [2, 3], parameters: { binary_data_size: 24 } }), [f32([1, 2, 3, 4, Number.NaN, 6])]),
      /input 'x' sample 1 contains NaN: only finite numbers are accepted/,
    ],
    ['Infinity', () => framed(json(), [f32([1, -Infinity, 3])]), /input 'x' sample 0 contains -Infinity/],
    [
      'FP64 past float32',
      () => framed(json({ datatype: 'FP64', parameters: { binary_data_size: 24 } }), [f64([1, 1e39, 3])]),
      /input 'x' sample 0 contains 1e\+39, outside the float32 range/,
    ],
    [
      'BOOL',
      () => framed(json({ datatype: 'BOOL', parameters: { binary_data_size: 3 } }), [u8([1, 0, 1])]),
      /input 'x' has datatype BOOL, which calserve does not convert/,
    ],
    ['FP16', () => framed(json({ datatype: 'FP16', parameters: { binary_data_size: 6 } }), [Buffer.alloc(6)]), /input 'x' has datatype FP16/],
  ]
  for (const [what, run, message] of cases) t.match(v2ErrorOf(t, await run(), 400, what), message, what)
})
