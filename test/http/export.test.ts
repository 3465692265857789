// GET /v1/models/{name}/calibration/export.onnx on the digits demo: the exported model, run by
// onnxruntime-node over the demo's test split, gives calserve's calibrated logits (REST v2's
// calibrated output) bit for bit, divided by T in float32 when T ≠ 1, and predict's argmax.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import onnxProto from 'onnx-proto'
import t, { type Test } from 'tap'
import { build, DEMO_MODELS, tempDir } from '../helper.js'
import { binaryRequest, parseBinaryResponse } from './v2/conformance.js'

type App = Awaited<ReturnType<typeof build>>
// Onnxruntime sessions created in this process stall the event loop; load shedding would answer 503.
const CALM = { CALSERVE_MAX_EVENT_LOOP_DELAY_MS: '0' }
const MODEL = 'digits-finetuned'
const URL = `/v1/models/${MODEL}/calibration/export.onnx`
const SPLIT = join(import.meta.dirname, '../../examples/digits/data/test.ndjson')
const samples = readFileSync(SPLIT, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as { input: number[]; label: string })
const N = samples.length
const D = 64
const C = 10
const X = Float32Array.from(samples.flatMap((s) => s.input))
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length))

async function runOnnx(bytes: Uint8Array): Promise<{ inputNames: readonly string[]; outputNames: readonly string[]; out: Float32Array }> {
  const s = await ort.InferenceSession.create(bytes)
  try {
    const r = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', X, [N, D]) })
    return { inputNames: s.inputNames, outputNames: s.outputNames, out: Float32Array.from(r[s.outputNames[0]!]!.data as Float32Array) }
  } finally {
    await s.release()
  }
}

/** REST v2's logits output for the split, as binary float32 (the exact bits calserve serves). */
async function v2Logits(t: Test, app: App, calibrated: boolean): Promise<Float32Array> {
  const json = {
    inputs: [{ name: 'pixels', shape: [N, D], datatype: 'FP32', parameters: { binary_data_size: X.byteLength } }],
    outputs: [{ name: 'logits', parameters: { binary_data: true } }],
    parameters: { calibrated },
  }
  const res = await app.inject({
    method: 'POST',
    url: `/v2/models/${MODEL}/infer`,
    ...binaryRequest(json, [Buffer.from(X.buffer, X.byteOffset, X.byteLength)]),
  })
  t.equal(res.statusCode, 200, res.statusCode === 200 ? 'v2 infer' : res.body)
  const blob = parseBinaryResponse(t, res).blobs.get('logits')!
  return new Float32Array(blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength))
}

async function predictIndices(t: Test, app: App): Promise<number[]> {
  const res = await app.inject({
    method: 'POST',
    url: `/v1/models/${MODEL}/predict`,
    payload: { inputs: samples.map((s) => s.input) },
  })
  t.equal(res.statusCode, 200, res.statusCode === 200 ? 'v1 predict' : res.body)
  return (res.json() as { predictions: Array<{ index: number }> }).predictions.map((p) => p.index)
}

function argmax(z: Float32Array, i: number): number {
  let best = 0
  for (let j = 1; j < C; j++) if (z[i * C + j]! > z[i * C + best]!) best = j
  return best
}

async function exported(t: Test, app: App, query = '') {
  const res = await app.inject({ url: `${URL}${query}` })
  t.equal(res.statusCode, 200, res.statusCode === 200 ? '' : res.body)
  t.equal(res.headers['content-type'], 'application/octet-stream')
  return res
}

const props = (bytes: Uint8Array) => Object.fromEntries(onnxProto.onnx.ModelProto.decode(bytes).metadataProps.map((p) => [p.key, p.value]))

async function put(t: Test, app: App, body: Record<string, unknown>) {
  const res = await app.inject({ method: 'PUT', url: `/v1/models/${MODEL}/calibration`, payload: body })
  t.equal(res.statusCode, 200, res.body)
  return res.json() as { version: number; gamma: number; temperature: number }
}

t.test('the export runs in onnxruntime and answers as calserve does, T = 1 and T ≠ 1', async (t) => {
  const app = await build(t, { ...CALM, CALSERVE_MODEL_REPOSITORY: DEMO_MODELS })
  // A γ that is not a float32 value and moves many test samples to the absent classes.
  const gamma = 8.84 + 1e-9
  const cal1 = await put(t, app, { gamma })

  const res1 = await exported(t, app)
  t.equal(res1.headers['content-disposition'], `attachment; filename="${MODEL}-v1-cal1.onnx"`)
  const bytes1 = res1.rawPayload
  const run1 = await runOnnx(bytes1)
  t.same(run1.outputNames, ['logits'], 'the output keeps its name')
  t.same(run1.inputNames, ['pixels'])
  const served1 = await v2Logits(t, app, true)
  t.same(bits(run1.out), bits(served1), `T = 1: the export's logits are REST v2's calibrated logits, bit for bit (${N} × ${C})`)
  const raw = await v2Logits(t, app, false)
  t.notSame(bits(served1), bits(raw), 'γ changed the logits')

  const indices1 = await predictIndices(t, app)
  const disagree1 = indices1.filter((p, i) => p !== argmax(run1.out, i)).length
  t.equal(disagree1, 0, `T = 1: the export's argmax is predict's on all ${N} samples (disagreements: ${disagree1})`)

  t.same(props(bytes1), {
    'calserve.model': MODEL,
    'calserve.model_version': '1',
    'calserve.calibration_version': String(cal1.version),
    'calserve.calibration_method': 'manual',
    'calserve.gamma': String(gamma),
    'calserve.temperature': '1',
    'calserve.output': 'logits',
    'calserve.fine_tuning_classes': JSON.stringify(['0', '1', '2', '3', '4']),
    'calserve.absent_classes': JSON.stringify(['5', '6', '7', '8', '9']),
  })

  const temperature = 2.7
  const cal2 = await put(t, app, { gamma: -1.5, temperature })
  const res2 = await exported(t, app)
  t.equal(res2.headers['content-disposition'], `attachment; filename="${MODEL}-v1-cal${cal2.version}.onnx"`)
  const run2 = await runOnnx(res2.rawPayload)
  t.same(run2.outputNames, ['logits'])
  const served2 = await v2Logits(t, app, true)
  // REST v2 serves z + γ; the export divides by T, one float32 division per entry.
  const t32 = Math.fround(temperature)
  const expected2 = served2.map((v) => Math.fround(v / t32))
  t.same(bits(run2.out), bits(expected2), 'T ≠ 1: the export gives (REST v2 calibrated logits) / T in float32, bit for bit')
  const indices2 = await predictIndices(t, app)
  const ties2: number[] = []
  indices2.forEach((p, i) => p !== argmax(run2.out, i) && ties2.push(i))
  // Dividing by T in float32 may round two logits of a row to one value (a tie the argmax breaks
  // by index) where predict still tells them apart; count them, and check each is such a tie.
  for (const i of ties2) t.equal(run2.out[i * C + indices2[i]!], run2.out[i * C + argmax(run2.out, i)], `sample ${i}: a float32 tie`)
  t.comment(`T = ${temperature}: argmax disagreements with predict on ${N} samples: ${ties2.length} (float32 ties)`)
  t.match(props(res2.rawPayload), {
    'calserve.temperature': String(temperature),
    'calserve.gamma': '-1.5',
    'calserve.calibration_version': String(cal2.version),
  })

  // ?version=N: a stored version other than the active one, byte for byte the export made while it was active.
  const again1 = await exported(t, app, `?version=${cal1.version}`)
  t.ok(Buffer.compare(again1.rawPayload, bytes1) === 0, '?version=1 is the same file as the export while version 1 was active')
  t.equal(again1.headers['content-disposition'], `attachment; filename="${MODEL}-v1-cal1.onnx"`)

  // ?version=0: the uncalibrated identity; the raw logits bit for bit (the Add of −0 keeps every bit).
  const zero = await exported(t, app, '?version=0')
  t.equal(zero.headers['content-disposition'], `attachment; filename="${MODEL}-v1-cal0.onnx"`)
  t.same(bits((await runOnnx(zero.rawPayload)).out), bits(raw), 'version 0: the raw logits, bit for bit')
})

t.test('BAD CALL - unknown model, unknown version, bad query, model not ready', async (t) => {
  const app = await build(t, CALM)
  const missing = await app.inject({ url: '/v1/models/nope/calibration/export.onnx' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error.code, 'CALSERVE_MODEL_NOT_FOUND')
  const version = await app.inject({ url: '/v1/models/tiny/calibration/export.onnx?version=7' })
  t.equal(version.statusCode, 404)
  t.match(version.json().error, { code: 'CALSERVE_VERSION_NOT_FOUND', message: /calibration version 7 of model 'tiny'/ })
  for (const q of ['version=-1', 'version=x', 'version=1.5', 'other=1']) {
    const bad = await app.inject({ url: `/v1/models/tiny/calibration/export.onnx?${q}` })
    t.equal(bad.statusCode, 400, `?${q}: ${bad.body}`)
    t.equal(bad.json().error.code, 'CALSERVE_BAD_INPUT')
  }
  // Unloaded by an operator: 503 as every route answers.
  const unload = await app.inject({ method: 'POST', url: '/v2/repository/models/tiny/unload' })
  t.equal(unload.statusCode, 200, unload.body)
  const notReady = await app.inject({ url: '/v1/models/tiny/calibration/export.onnx' })
  t.equal(notReady.statusCode, 503)
  t.equal(notReady.json().error.code, 'CALSERVE_MODEL_NOT_READY')
})

t.test('a read route: an API token may export, no token may not', async (t) => {
  const app = await build(t, { ...CALM, CALSERVE_API_TOKENS: 'app:reader-token-1', CALSERVE_ADMIN_TOKENS: 'ops:admin-token-1' })
  t.equal(app.routeTable.find((r) => r.url === '/v1/models/:name/calibration/export.onnx')?.access, 'read', 'declares read access')
  const none = await app.inject({ url: '/v1/models/tiny/calibration/export.onnx' })
  t.equal(none.statusCode, 401)
  for (const token of ['reader-token-1', 'admin-token-1']) {
    const ok = await app.inject({ url: '/v1/models/tiny/calibration/export.onnx', headers: { authorization: `Bearer ${token}` } })
    t.equal(ok.statusCode, 200, `token ${token}`)
  }
  const wrong = await app.inject({ url: '/v1/models/tiny/calibration/export.onnx', headers: { authorization: 'Bearer not-a-token' } })
  t.equal(wrong.statusCode, 403)
})

t.test('BAD CALL - a graph the rewrite cannot take is 409 CALSERVE_NOT_EXPORTABLE', async (t) => {
  // A model whose logits output is its input passed straight through: onnxruntime serves it, but no
  // node produces the output, so there is no edge to put the Add on.
  const { onnx } = onnxProto
  const vi = (name: string) => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 3 }] } } } })
  const graph = onnx.GraphProto.create({ name: 'passthrough', input: [vi('z')], output: [vi('z')] })
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], graph })).finish()
  const dir = tempDir(t)
  mkdirSync(join(dir, 'passthrough', '1'), { recursive: true })
  writeFileSync(join(dir, 'passthrough', '1', 'model.onnx'), bytes)
  writeFileSync(join(dir, 'passthrough', 'model.json'), JSON.stringify({ labels: ['a', 'b', 'c'], fine_tuning_classes: ['a'] }))
  const app = await build(t, { ...CALM, CALSERVE_MODEL_REPOSITORY: dir })
  const before = await app.inject({ method: 'POST', url: '/v1/models/passthrough/predict', payload: { inputs: [[1, 2, 3]] } })
  t.equal(before.statusCode, 200, before.body)
  const res = await app.inject({ url: '/v1/models/passthrough/calibration/export.onnx' })
  t.equal(res.statusCode, 409, res.body)
  t.match(res.json().error, { code: 'CALSERVE_NOT_EXPORTABLE', message: /model 'passthrough' version 1 cannot be exported.*not produced by a node/ })
})
