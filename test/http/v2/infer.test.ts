// Open Inference Protocol inference with JSON bodies on the real fixtures. Every request sent is
// checked against the spec's inference_request and every answer against inference_response (or
// the error schemas); expected numbers come from weights.json (x·W + b, exact for the fixtures'
// multiples of 1/8), with γ added to the absent classes here, not by calserve's code.
import t, { type Test } from 'tap'
import { build } from '../../helper.js'
import { expectedPrediction, fixture, logitsOf, noTies, TINY_X as TINY_INPUTS } from '../expected.js'
import { conforms, SCHEMA, v2ErrorOf } from './conformance.js'

type App = Awaited<ReturnType<typeof build>>
const tiny = fixture('tiny')
const image = fixture('image')

const TINY_X = [
  ...TINY_INPUTS,
  [1, 0, 0.125], // its breakpoint is 0.21875 < γ: γ moves it from cat to bird
]
const N = TINY_X.length
const GAMMA = 0.3125
const TEMPERATURE = 2.5

interface Output {
  name: string
  shape: number[]
  datatype: string
  data: unknown[]
  parameters?: Record<string, unknown>
}

/** POSTs a valid request (checked against the schema first); returns the answer, checked too. */
async function infer(t: Test, app: App, body: Record<string, unknown>, url = '/v2/models/tiny/infer') {
  conforms(t, 'definitions/inference_request', body, 'the request')
  const res = await app.inject({ method: 'POST', url, payload: body })
  t.equal(res.statusCode, 200, res.body.slice(0, 500))
  t.match(String(res.headers['content-type']), /^application\/json/)
  const json = res.json() as { model_name: string; model_version: string; id?: string; parameters: Record<string, unknown>; outputs: Output[] }
  conforms(t, 'definitions/inference_response', json, 'the response')
  return json
}

const output = (res: { outputs: Output[] }, name: string) => {
  const o = res.outputs.find((x) => x.name === name)
  if (!o) throw new Error(`no output ${name} in ${JSON.stringify(res.outputs.map((x) => x.name))}`)
  return o
}

const calibrated = (info: typeof tiny, z: number[], gamma: number) => z.map((v, j) => v + (info.absent[j] ? gamma : 0))
const near = (a: number, b: number, tol = 2e-7) => Math.abs(a - b) <= tol

async function calibrate(t: Test, app: App, model = 'tiny') {
  const put = await app.inject({ method: 'PUT', url: `/v1/models/${model}/calibration`, payload: { gamma: GAMMA, temperature: TEMPERATURE } })
  t.equal(put.statusCode, 200, put.body)
}

t.test('the spec’s own request examples conform to the transcribed schema', async (t) => {
  for (const [i, example] of SCHEMA['x-examples']['inference_request']!.entries()) conforms(t, 'definitions/inference_request', example, `example ${i}`)
})

t.test('default outputs: calibrated logits, label, score, class_index; the response names the calibration', async (t) => {
  const app = await build(t)
  await calibrate(t, app)
  const res = await infer(t, app, { inputs: [{ name: 'x', shape: [N, 3], datatype: 'FP32', data: TINY_X.flat() }] })
  t.equal(res.model_name, 'tiny')
  t.equal(res.model_version, '2')
  t.notOk('id' in res, 'no id unless the request has one')
  t.same(res.parameters, { calibrated: true, calibration_version: 1, gamma: GAMMA, temperature: TEMPERATURE })
  t.same(
    res.outputs.map((o) => [o.name, o.datatype, o.shape]),
    [
      ['logits', 'FP32', [N, 4]],
      ['label', 'BYTES', [N]],
      ['score', 'FP32', [N]],
      ['class_index', 'INT64', [N]],
    ],
  )
  const want = TINY_X.map((x) => calibrated(tiny, logitsOf(tiny, 2, x), GAMMA))
  t.strictSame(output(res, 'logits').data, want.flat(), 'logits: the raw logits with γ on bird and fish, exactly')
  TINY_X.forEach((x, i) => {
    const z = logitsOf(tiny, 2, x)
    t.ok(noTies(tiny, z, GAMMA), `sample ${i} has no ties`)
    const p = expectedPrediction(tiny, z, GAMMA, TEMPERATURE, 1)
    t.equal(output(res, 'label').data[i], p.label, `sample ${i}: label`)
    t.equal(output(res, 'class_index').data[i], p.index, `sample ${i}: class_index`)
    const score = output(res, 'score').data[i] as number
    t.ok(near(score, p.score), `sample ${i}: score ${score} ≈ ${p.score} (softmax of the calibrated logits / T, in FP32)`)
  })

  // The same decision as v1 predict, to the float32 rounding of the score.
  const v1 = (await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: TINY_X } })).json()
  t.same(
    output(res, 'label').data,
    v1.predictions.map((p: { label: string }) => p.label),
  )
  t.same(
    output(res, 'score').data,
    v1.predictions.map((p: { score: number }) => Math.fround(p.score)),
  )
})

t.test('calibrated: false gives the raw logits and the uncalibrated prediction', async (t) => {
  const app = await build(t)
  await calibrate(t, app)
  const res = await infer(t, app, {
    parameters: { calibrated: false },
    inputs: [{ name: 'x', shape: [N, 3], datatype: 'FP32', data: TINY_X }],
  })
  t.same(res.parameters, { calibrated: false, calibration_version: 1, gamma: GAMMA, temperature: TEMPERATURE })
  t.strictSame(
    output(res, 'logits').data,
    TINY_X.flatMap((x) => logitsOf(tiny, 2, x)),
    'the model’s logits exactly',
  )
  TINY_X.forEach((x, i) => {
    const p = expectedPrediction(tiny, logitsOf(tiny, 2, x), 0, 1, 1)
    t.equal(output(res, 'label').data[i], p.label, `sample ${i}: label`)
    t.ok(near(output(res, 'score').data[i] as number, p.score), `sample ${i}: score with T = 1`)
  })
  // There is a sample whose prediction γ changes, so the two answers really differ.
  const cal = await infer(t, app, { inputs: [{ name: 'x', shape: [N, 3], datatype: 'FP32', data: TINY_X }] })
  t.notSame(output(cal, 'label').data, output(res, 'label').data, 'γ changes at least one prediction')
})

t.test('flat and nested data give the same answer; a 4-D input', async (t) => {
  const app = await build(t)
  const flat = await infer(t, app, { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: TINY_X.slice(0, 2).flat() }] })
  const nested = await infer(t, app, { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: TINY_X.slice(0, 2) }] })
  t.same(nested.outputs, flat.outputs)

  await calibrate(t, app, 'image')
  const pixels = [
    [
      [
        [1, 0.5],
        [-0.25, 0.125],
      ],
    ],
    [
      [
        [0, 2],
        [1, -1],
      ],
    ],
  ]
  const res = await infer(
    t,
    app,
    { inputs: [{ name: 'pixels', shape: [2, 1, 2, 2], datatype: 'FP32', data: pixels }], outputs: [{ name: 'scores' }, { name: 'label' }] },
    '/v2/models/image/infer',
  )
  const want = pixels.map((p) => calibrated(image, logitsOf(image, 1, p.flat(2)), GAMMA))
  t.same(output(res, 'scores').shape, [2, 3])
  t.strictSame(output(res, 'scores').data, want.flat())
  t.same(
    output(res, 'label').data,
    pixels.map((p) => expectedPrediction(image, logitsOf(image, 1, p.flat(2)), GAMMA, TEMPERATURE, 1).label),
  )
})

t.test('other numeric datatypes are converted to the FP32 input', async (t) => {
  const app = await build(t)
  const ints = [
    [1, 0, 2],
    [-3, 4, 1],
  ]
  const asFp32 = await infer(t, app, { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: ints }] })
  for (const datatype of ['INT8', 'INT16', 'INT32', 'INT64', 'FP64']) {
    const res = await infer(t, app, { inputs: [{ name: 'x', shape: [2, 3], datatype, data: ints }] })
    t.same(res.outputs, asFp32.outputs, `${datatype} equals FP32`)
  }
  const unsigned = [
    [1, 0, 2],
    [3, 4, 1],
  ]
  const asFp32u = await infer(t, app, { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: unsigned }] })
  for (const datatype of ['UINT8', 'UINT16', 'UINT32', 'UINT64']) {
    const res = await infer(t, app, { inputs: [{ name: 'x', shape: [2, 3], datatype, data: unsigned }] })
    t.same(res.outputs, asFp32u.outputs, `${datatype} equals FP32`)
  }
  // FP64 values are rounded to float32, as the model takes them.
  const fp64 = await infer(t, app, {
    parameters: { calibrated: false },
    inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP64', data: [0.1, 0.2, 0.3] }],
    outputs: [{ name: 'logits' }],
  })
  const fp32 = await infer(t, app, {
    parameters: { calibrated: false },
    inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [Math.fround(0.1), Math.fround(0.2), Math.fround(0.3)] }],
    outputs: [{ name: 'logits' }],
  })
  t.same(fp64.outputs, fp32.outputs, 'FP64 0.1 is float32 0.1')
})

t.test('outputs by name, in the order asked; id echoed', async (t) => {
  const app = await build(t)
  await calibrate(t, app)
  const res = await infer(t, app, {
    id: 'request-42',
    inputs: [{ name: 'x', shape: [N, 3], datatype: 'FP32', data: TINY_X }],
    outputs: [{ name: 'class_index' }, { name: 'label' }],
  })
  t.equal(res.id, 'request-42')
  t.same(
    res.outputs.map((o) => o.name),
    ['class_index', 'label'],
  )
  const want = TINY_X.map((x) => expectedPrediction(tiny, logitsOf(tiny, 2, x), GAMMA, TEMPERATURE, 1))
  t.strictSame(
    output(res, 'class_index').data,
    want.map((p) => p.index),
  )
  t.strictSame(
    output(res, 'label').data,
    want.map((p) => p.label),
  )
  t.ok(want.some((p) => tiny.absent[p.index]) && want.some((p) => !tiny.absent[p.index]), 'the samples predict both absent and fine-tuning classes')
})

t.test('classification extension: the top k as "value:index:label" from the calibrated logits, as Triton does', async (t) => {
  const app = await build(t)
  await calibrate(t, app)
  for (const raw of [false, true]) {
    const gamma = raw ? 0 : GAMMA
    const res = await infer(t, app, {
      ...(raw ? { parameters: { calibrated: false } } : {}),
      inputs: [{ name: 'x', shape: [N, 3], datatype: 'FP32', data: TINY_X }],
      outputs: [{ name: 'logits', parameters: { classification: 3 } }, { name: 'label' }],
    })
    const out = output(res, 'logits')
    t.equal(out.datatype, 'BYTES')
    t.same(out.shape, [N, 3])
    const want = TINY_X.flatMap((x) => {
      const z = logitsOf(tiny, 2, x)
      const u = calibrated(tiny, z, gamma)
      t.ok(noTies(tiny, z, gamma), 'no ties')
      // printf("%f") of these multiples of 1/64 is exact, so toFixed(6) is the same string.
      return expectedPrediction(tiny, z, gamma, 1, 3).top_k.map((c) => `${u[c.index]!.toFixed(6)}:${c.index}:${c.label}`)
    })
    t.strictSame(out.data, want, `${raw ? 'raw' : 'calibrated'}: the strings exactly`)
    t.same(
      output(res, 'label').data,
      (out.data as string[]).filter((_, i) => i % 3 === 0).map((s) => s.split(':')[2]),
      'the first class is the label',
    )
  }
  const all = await infer(t, app, {
    inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: TINY_X[0] }],
    outputs: [{ name: 'logits', parameters: { classification: 10 } }],
  })
  t.same(output(all, 'logits').shape, [1, 4], 'k above the class count gives every class')
  t.same(output(all, 'logits').data, ['1.062500:0:cat', '0.937500:2:bird', '0.375000:3:fish', '0.187500:1:dog'], 'written out by hand once')
})

t.test('bad requests are 400 with a message that names the problem', async (t) => {
  const app = await build(t, { CALSERVE_MAX_PREDICT_SAMPLES: '4' })
  const input = (over: Record<string, unknown> = {}) => ({ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3], ...over })
  const cases: Array<[string, unknown, RegExp]> = [
    ['shape of the wrong width', { inputs: [input({ shape: [1, 4], data: [1, 2, 3, 4] })] }, /input 'x' has shape \[1, 4\]; the model takes \[N, 3\]/],
    ['shape without the batch axis', { inputs: [input({ shape: [3] })] }, /input 'x' has shape \[3\]; the model takes \[N, 3\]/],
    ['no samples', { inputs: [input({ shape: [0, 3], data: [] })] }, /at least one sample/],
    ['too many samples', { inputs: [input({ shape: [N, 3], data: TINY_X })] }, /input 'x' holds 6 samples; at most 4 in one request/],
    ['fewer values than the shape', { inputs: [input({ shape: [2, 3] })] }, /input 'x' data holds 3 values; shape \[2, 3\] has 6/],
    ['more values than the shape', { inputs: [input({ data: [1, 2, 3, 4] })] }, /input 'x' data holds more than 3 values/],
    ['a string in the data', { inputs: [input({ data: [1, 'two', 3] })] }, /input 'x' data contains the string "two"/],
    ['a number outside float32', { inputs: [input({ data: [1, 1e39, 3] })] }, /input 'x' data contains 1e\+39, outside the float32 range/],
    ['INT8 out of range', { inputs: [input({ datatype: 'INT8', data: [1, 200, 3] })] }, /contains 200, not a INT8 value/],
    ['INT64 not an integer', { inputs: [input({ datatype: 'INT64', data: [1, 1.5, 3] })] }, /contains 1.5, not a INT64 value/],
    ['UINT8 negative', { inputs: [input({ datatype: 'UINT8', data: [1, -1, 3] })] }, /contains -1, not a UINT8 value/],
    [
      'BOOL',
      { inputs: [input({ datatype: 'BOOL', data: [true, false, true] })] },
      /input 'x' has datatype BOOL, which calserve does not convert to the model's FP32 input/,
    ],
    ['BYTES', { inputs: [input({ datatype: 'BYTES', data: ['a', 'b', 'c'] })] }, /input 'x' has datatype BYTES/],
    ['FP16', { inputs: [input({ datatype: 'FP16' })] }, /input 'x' has datatype FP16/],
    ['an unknown datatype', { inputs: [input({ datatype: 'float32' })] }, /"float32", which is not a datatype of the protocol/],
    ['an unknown input', { inputs: [input({ name: 'y' })] }, /unknown input 'y'; the model's input is 'x'/],
    ['two inputs', { inputs: [input(), input({ name: 'z' })] }, /the model takes one input, 'x'; the request has 2/],
    ['no data', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32' }] }, /input 'x' has neither data nor parameters.binary_data_size/],
    ['no inputs', { outputs: [{ name: 'label' }] }, /^inputs: /],
    ['empty inputs', { inputs: [] }, /^inputs: /],
    ['a shape of strings', { inputs: [input({ shape: ['1', '3'] })] }, /^inputs\[0\]\.shape\[0\]: /],
    ['an id that is a number', { id: 42, inputs: [input()] }, /^id: /],
    ['a parameter that is an object', { parameters: { calibrated: { yes: true } }, inputs: [input()] }, /^parameters\.calibrated: /],
    ['calibrated not a boolean', { parameters: { calibrated: 'false' }, inputs: [input()] }, /parameters.calibrated must be true or false/],
    ['binary_data_output not a boolean', { parameters: { binary_data_output: 1 }, inputs: [input()] }, /parameters.binary_data_output must be true or false/],
    [
      'an unknown output',
      { inputs: [input()], outputs: [{ name: 'probs' }] },
      /unknown output 'probs'; the model's outputs are 'logits', 'label', 'score', 'class_index'/,
    ],
    ['an output asked twice', { inputs: [input()], outputs: [{ name: 'label' }, { name: 'label' }] }, /output 'label' is asked for twice/],
    [
      'classification on label',
      { inputs: [input()], outputs: [{ name: 'label', parameters: { classification: 2 } }] },
      /classification applies to the logits output 'logits'/,
    ],
    ['classification 0', { inputs: [input()], outputs: [{ name: 'logits', parameters: { classification: 0 } }] }, /classification must be a positive integer/],
    [
      'classification 1.5',
      { inputs: [input()], outputs: [{ name: 'logits', parameters: { classification: 1.5 } }] },
      /classification must be a positive integer/,
    ],
    [
      'binary_data not a boolean',
      { inputs: [input()], outputs: [{ name: 'logits', parameters: { binary_data: 'yes' } }] },
      /outputs\[0\].parameters.binary_data must be true or false/,
    ],
  ]
  for (const [what, payload, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: payload as object })
    t.match(v2ErrorOf(t, res, 400, what), message, what)
  }
  const raw: Array<[string, string, RegExp]> = [
    ['not JSON', '{"inputs": [', /not valid JSON/],
    [
      'a __proto__ key',
      '{"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}], "parameters": {"__proto__": {"calibrated": false}}}',
      /not valid JSON/,
    ],
    ['a JSON array', '[1, 2, 3]', /^body: /],
  ]
  for (const [what, payload, message] of raw) {
    const res = await app.inject({ method: 'POST', url: '/v2/models/tiny/infer', headers: { 'content-type': 'application/json' }, payload })
    t.match(v2ErrorOf(t, res, 400, what), message, what)
  }
  t.match(v2ErrorOf(t, await app.inject({ method: 'POST', url: '/v2/models/tiny/infer' }), 400, 'no body'), /the body is empty/)
})

t.test('errors of the URL: unknown model 404, another version 404; the served version infers', async (t) => {
  const app = await build(t)
  const payload = { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }
  t.match(
    v2ErrorOf(t, await app.inject({ method: 'POST', url: '/v2/models/nope/infer', payload }), 404, 'unknown model'),
    /model 'nope' is not in the repository/,
  )
  t.match(
    v2ErrorOf(t, await app.inject({ method: 'POST', url: '/v2/models/tiny/versions/1/infer', payload }), 404, 'another version'),
    /model 'tiny' has no version '1'; version 2 is served/,
  )
  const res = await infer(t, app, payload, '/v2/models/tiny/versions/2/infer')
  t.equal(res.model_version, '2')
})

t.test('a request is answered as JSON or octet-stream; the types a cross-site page can send are 415', async (t) => {
  const app = await build(t)
  const payload = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }], outputs: [{ name: 'label' }] })
  for (const type of ['application/json', 'application/json; charset=utf-8', 'application/octet-stream']) {
    const res = await app.inject({ method: 'POST', url: '/v2/models/tiny/infer', headers: { 'content-type': type }, payload })
    t.equal(res.statusCode, 200, `${type}: ${res.body}`)
    conforms(t, 'definitions/inference_response', res.json(), String(type))
  }
  // Issue 18 item 12: text/plain, a form and no type at all used to be inferred too.
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
    const res = await app.inject({ method: 'POST', url: '/v2/models/tiny/infer', headers: type ? { 'content-type': type } : {}, payload })
    t.equal(res.statusCode, 415, `${type}: ${res.body}`)
    t.match(res.json().error, /application\/json/, 'the answer names the accepted types')
  }
})

t.test('a JSON body past the JSON predict limit is 413, in the protocol’s error body', async (t) => {
  const app = await build(t, { CALSERVE_PREDICT_JSON_BODY_LIMIT_BYTES: '1024' })
  const data = Array.from({ length: 200 }, () => [0.125, 0.25, 0.5])
  const res = await app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: { inputs: [{ name: 'x', shape: [200, 3], datatype: 'FP32', data }] } })
  t.match(v2ErrorOf(t, res, 413, 'too large'), /larger than 1024 bytes \(CALSERVE_PREDICT_JSON_BODY_LIMIT_BYTES\)/)
})
