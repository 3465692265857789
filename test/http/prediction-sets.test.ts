// Conformal prediction sets at predict time (issue 15 §2) on the digits demo: the calibration is a
// real fit on the validation split with conformal (lac, aps, and lac by group), and the sets of
// v1 predict on the test split equal a brute force from the stored q̂, γ and T and the raw logits;
// REST v2 and gRPC answer the same sets as a prediction_set BYTES output, asked for by name.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { status } from '@grpc/grpc-js'
import onnxProto from 'onnx-proto'
import t, { type Test } from 'tap'
import { formatFixed6 } from '../../src/serving/v2-outputs.js'
import { call, failure, serve, type Served } from '../grpc/helper.js'
import { DEMO_MODELS } from '../helper.js'
import { binaryRequest, parseBinaryResponse, readBytes } from './v2/conformance.js'

const MODEL = 'digits-finetuned'
const DATA = join(import.meta.dirname, '../../examples/digits/data')
const VAL = readFileSync(join(DATA, 'val.ndjson'), 'utf8')
const TEST = readFileSync(join(DATA, 'test.ndjson'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as { input: number[]; label: string })
const N = TEST.length
const LABELS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
const ABSENT = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]

interface Conformal {
  alpha: number
  score: 'lac' | 'aps'
  by: 'marginal' | 'group'
  qhat?: number | null
  qhat_s?: number | null
  qhat_u?: number | null
}
interface Record_ {
  version: number
  gamma: number
  temperature: number
  conformal: Conformal | null
}
interface Scored {
  label: string
  index: number
  score: number
}
interface PredictAnswer {
  calibration: { version: number; conformal?: Conformal }
  predictions: Array<{ index: number; logits: number[]; prediction_set?: Scored[] }>
}

/** The set by the definition, from the raw logits, in float64, written independently of src/calibration. */
function bruteSet(z: number[], cal: Record_): Array<{ index: number; p: number }> {
  const conformal = cal.conformal!
  const w = z.map((v, j) => (v + (ABSENT[j] ? cal.gamma : 0)) / cal.temperature)
  const m = Math.max(...w)
  const e = w.map((v) => Math.exp(v - m))
  const sum = e.reduce((a, b) => a + b, 0)
  const p = e.map((v) => v / sum)
  const order = p.map((v, j) => ({ index: j, p: v })).sort((a, b) => b.p - a.p || a.index - b.index)
  const inf = (q: number | null | undefined) => (q === null || q === undefined ? Infinity : q)
  if (conformal.score === 'aps') {
    const out = []
    let cum = 0
    for (const o of order) {
      out.push(o)
      cum += o.p
      if (cum >= inf(conformal.qhat)) break
    }
    return out
  }
  return order.filter((o) => 1 - o.p <= inf(conformal.by === 'group' ? (ABSENT[o.index] ? conformal.qhat_u : conformal.qhat_s) : conformal.qhat))
}

async function fit(t: Test, s: Served, query: string): Promise<Record_> {
  const res = await s.app.inject({
    method: 'POST',
    url: `/v1/models/${MODEL}/calibration/fit?${query}`,
    headers: { 'content-type': 'application/x-ndjson' },
    payload: VAL,
  })
  t.equal(res.statusCode, 200, res.statusCode === 200 ? `fit ${query}` : res.body)
  const record = (await s.app.inject({ url: `/v1/models/${MODEL}/calibration` })).json() as Record_
  t.ok(record.conformal, `${query}: the record carries conformal params`)
  return record
}

async function predict(t: Test, s: Served, body: Record<string, unknown>): Promise<PredictAnswer> {
  const res = await s.app.inject({ method: 'POST', url: `/v1/models/${MODEL}/predict`, payload: { inputs: TEST.map((x) => x.input), ...body } })
  t.equal(res.statusCode, 200, res.statusCode === 200 ? 'predict' : res.body)
  return res.json() as PredictAnswer
}

/** One sample's set as the prediction_set output writes it. */
const joined = (set: Scored[]) => set.map((e) => `${formatFixed6(e.score)}:${e.index}:${e.label}`).join(',')

t.test('v1 predict return_sets: the sets of a brute force from the stored q̂, for lac, aps and lac by group', async (t) => {
  const s = await serve(t, { CALSERVE_MODEL_REPOSITORY: DEMO_MODELS })
  for (const query of ['conformal_alpha=0.1', 'conformal_alpha=0.1&conformal_score=aps', 'conformal_alpha=0.1&conformal_by=group']) {
    const cal = await fit(t, s, query)
    const answer = await predict(t, s, { return_sets: true, return_logits: true, top_k: 3 })
    t.same(answer.calibration.conformal, cal.conformal, `${query}: the response names the conformal calibration it used`)
    let covered = 0
    let size = 0
    let mismatches = 0
    let maxScoreError = 0
    answer.predictions.forEach((p, i) => {
      const want = bruteSet(p.logits, cal)
      const got = p.prediction_set!
      if (JSON.stringify(got.map((e) => e.index)) !== JSON.stringify(want.map((e) => e.index))) mismatches++
      got.forEach((e, k) => (maxScoreError = Math.max(maxScoreError, Math.abs(e.score - (want[k]?.p ?? NaN)))))
      for (const e of got) if (e.label !== LABELS[e.index]) mismatches++
      if (got.some((e) => e.label === TEST[i]!.label)) covered++
      size += got.length
    })
    t.equal(mismatches, 0, `${query}: every one of the ${N} sets is the brute force's, in its order`)
    t.ok(maxScoreError < 1e-12, `${query}: scores are the calibrated p (max |Δ| ${maxScoreError})`)
    t.comment(`${query}: q̂ ${JSON.stringify(cal.conformal)}; test-split coverage ${((100 * covered) / N).toFixed(1)}%, mean set size ${(size / N).toFixed(2)}`)
    const exported = await s.app.inject({ url: `/v1/models/${MODEL}/calibration/export.onnx` })
    t.equal(exported.statusCode, 200)
    const props = onnxProto.onnx.ModelProto.decode(exported.rawPayload).metadataProps
    t.same(JSON.parse(props.find((p) => p.key === 'calserve.conformal')?.value ?? 'null'), cal.conformal, `${query}: the export records the conformal params`)
    const plain = await predict(t, s, {})
    t.notOk('prediction_set' in plain.predictions[0]!, 'no sets unless asked')
    t.notOk('conformal' in plain.calibration)
  }

  // A binary body takes return_sets in the query string; the same sets.
  const json = await predict(t, s, { return_sets: true })
  const x = Float32Array.from(TEST.flatMap((r) => r.input))
  const bin = await s.app.inject({
    method: 'POST',
    url: `/v1/models/${MODEL}/predict?return_sets=true`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: Buffer.from(x.buffer),
  })
  t.equal(bin.statusCode, 200, bin.statusCode === 200 ? 'binary predict' : bin.body)
  t.same(
    (bin.json() as PredictAnswer).predictions.map((p) => p.prediction_set),
    json.predictions.map((p) => p.prediction_set),
    'return_sets=true in the query string: the same sets',
  )

  // REST v2: asked by name, the labels of each set as the classification extension writes classes.
  const sets = json.predictions.map((p) => joined(p.prediction_set!))
  const v2 = await s.app.inject({
    method: 'POST',
    url: `/v2/models/${MODEL}/infer`,
    payload: { inputs: [{ name: 'pixels', shape: [N, 64], datatype: 'FP32', data: Array.from(x) }], outputs: [{ name: 'label' }, { name: 'prediction_set' }] },
  })
  t.equal(v2.statusCode, 200, v2.statusCode === 200 ? 'v2 infer' : v2.body)
  const v2outs = (v2.json() as { outputs: Array<{ name: string; datatype: string; shape: number[]; data: unknown[] }> }).outputs
  t.same(
    v2outs.map((o) => [o.name, o.datatype, o.shape]),
    [
      ['label', 'BYTES', [N]],
      ['prediction_set', 'BYTES', [N]],
    ],
  )
  t.same(v2outs[1]!.data, sets, 'REST v2 prediction_set: v1’s sets, joined')
  t.match(sets[0], /^\d+\.\d{6}:\d+:\d(,\d+\.\d{6}:\d+:\d)*$|^$/, 'one element: "p:index:label" per class, comma-joined')
  const binOut = await s.app.inject({
    method: 'POST',
    url: `/v2/models/${MODEL}/infer`,
    ...binaryRequest(
      {
        inputs: [{ name: 'pixels', shape: [N, 64], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }],
        outputs: [{ name: 'prediction_set', parameters: { binary_data: true } }],
      },
      [Buffer.from(x.buffer)],
    ),
  })
  t.equal(binOut.statusCode, 200)
  t.same(readBytes(parseBinaryResponse(t, binOut).blobs.get('prediction_set')!), sets, 'as binary BYTES too')
  const defaults = await s.app.inject({
    method: 'POST',
    url: `/v2/models/${MODEL}/infer`,
    payload: { inputs: [{ name: 'pixels', shape: [1, 64], datatype: 'FP32', data: TEST[0]!.input }] },
  })
  t.same(
    (defaults.json() as { outputs: Array<{ name: string }> }).outputs.map((o) => o.name),
    ['logits', 'label', 'score', 'class_index'],
    'not among the default outputs',
  )
  const meta = (await s.app.inject({ url: `/v2/models/${MODEL}` })).json() as { outputs: Array<{ name: string; datatype: string; shape: number[] }> }
  t.same(
    meta.outputs.at(-1),
    { name: 'prediction_set', datatype: 'BYTES', shape: [-1] },
    'listed in the model metadata while the calibration has conformal params',
  )

  // gRPC: the same output through the same plan.
  const g = await call<{ outputs: Array<{ name: string; datatype: string; shape: number[]; contents: { bytes_contents: Buffer[] } }> }>(
    s.client,
    'ModelInfer',
    {
      model_name: MODEL,
      inputs: [{ name: 'pixels', datatype: 'FP32', shape: [N, 64], contents: { fp32_contents: Array.from(x) } }],
      outputs: [{ name: 'prediction_set' }],
    },
  )
  t.same(
    g.outputs.map((o) => [o.name, o.datatype, o.shape]),
    [['prediction_set', 'BYTES', [N]]],
  )
  t.same(
    g.outputs[0]!.contents.bytes_contents.map((b) => b.toString('utf8')),
    sets,
    'gRPC prediction_set: the same strings',
  )
  const gmeta = await call<{ outputs: Array<{ name: string }> }>(s.client, 'ModelMetadata', { name: MODEL })
  t.ok(
    gmeta.outputs.some((o) => o.name === 'prediction_set'),
    'gRPC metadata lists it',
  )
})

t.test('BAD CALL - sets without a conformal calibration, or from uncalibrated output: 400, on every protocol', async (t) => {
  const s = await serve(t, { CALSERVE_MODEL_REPOSITORY: DEMO_MODELS })
  const one = { inputs: [TEST[0]!.input] }
  const none = await s.app.inject({ method: 'POST', url: `/v1/models/${MODEL}/predict`, payload: { ...one, return_sets: true } })
  t.equal(none.statusCode, 400)
  t.match(none.json().error, {
    code: 'CALSERVE_BAD_INPUT',
    message: /calibration version 0 of model 'digits-finetuned' has no conformal calibration.*fit with conformal/,
    details: { field: 'return_sets' },
  })
  const binary = await s.app.inject({
    method: 'POST',
    url: `/v1/models/${MODEL}/predict?return_sets=1`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: Buffer.from(Float32Array.from(TEST[0]!.input).buffer),
  })
  t.equal(binary.statusCode, 400)
  t.match(binary.json().error.message, /no conformal calibration/)
  const badQuery = await s.app.inject({
    method: 'POST',
    url: `/v1/models/${MODEL}/predict?return_sets=yes`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: Buffer.from(Float32Array.from(TEST[0]!.input).buffer),
  })
  t.equal(badQuery.statusCode, 400, 'return_sets=yes is not a boolean')
  const v2 = await s.app.inject({
    method: 'POST',
    url: `/v2/models/${MODEL}/infer`,
    payload: { inputs: [{ name: 'pixels', shape: [1, 64], datatype: 'FP32', data: TEST[0]!.input }], outputs: [{ name: 'prediction_set' }] },
  })
  t.equal(v2.statusCode, 400)
  t.match(v2.json(), { error: /no conformal calibration/ })
  const meta = (await s.app.inject({ url: `/v2/models/${MODEL}` })).json() as { outputs: Array<{ name: string }> }
  t.notOk(
    meta.outputs.some((o) => o.name === 'prediction_set'),
    'not listed in the metadata without conformal params',
  )
  const err = await failure(
    call(s.client, 'ModelInfer', {
      model_name: MODEL,
      inputs: [{ name: 'pixels', datatype: 'FP32', shape: [1, 64], contents: { fp32_contents: TEST[0]!.input } }],
      outputs: [{ name: 'prediction_set' }],
    }),
  )
  t.equal(err.code, status.INVALID_ARGUMENT)
  t.match(err.details, /no conformal calibration/)

  // With a conformal calibration, asking for sets from the uncalibrated output is refused too.
  await fit(t, s, 'conformal_alpha=0.1')
  const raw = await s.app.inject({ method: 'POST', url: `/v1/models/${MODEL}/predict`, payload: { ...one, return_sets: true, calibrated: false } })
  t.equal(raw.statusCode, 400)
  t.match(raw.json().error.message, /prediction sets need the calibrated output/)
  const rawV2 = await s.app.inject({
    method: 'POST',
    url: `/v2/models/${MODEL}/infer`,
    payload: {
      inputs: [{ name: 'pixels', shape: [1, 64], datatype: 'FP32', data: TEST[0]!.input }],
      outputs: [{ name: 'prediction_set' }],
      parameters: { calibrated: false },
    },
  })
  t.equal(rawV2.statusCode, 400)
  const badParam = await s.app.inject({
    method: 'POST',
    url: `/v2/models/${MODEL}/infer`,
    payload: {
      inputs: [{ name: 'pixels', shape: [1, 64], datatype: 'FP32', data: TEST[0]!.input }],
      outputs: [{ name: 'prediction_set', parameters: { classification: 2 } }],
    },
  })
  t.equal(badParam.statusCode, 400, 'classification applies to the logits only')
  // A manual PUT stores no conformal params: sets are refused again.
  const put = await s.app.inject({ method: 'PUT', url: `/v1/models/${MODEL}/calibration`, payload: { gamma: 1 } })
  t.equal(put.statusCode, 200)
  const after = await s.app.inject({ method: 'POST', url: `/v1/models/${MODEL}/predict`, payload: { ...one, return_sets: true } })
  t.equal(after.statusCode, 400)
  t.match(after.json().error.message, /calibration version \d+ of model 'digits-finetuned' has no conformal calibration/)
})
