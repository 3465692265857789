// Open Inference Protocol: server and model metadata, health and readiness, and their errors, each
// response checked against the published schemas (oip-schema.json).
import { cpSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, copyFixtures } from '../../helper.js'
import { conforms, v2ErrorOf } from './conformance.js'

t.test('server metadata names calserve, its version and the extensions it supports', async (t) => {
  const app = await build(t)
  for (const url of ['/v2', '/v2/']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, `${url}: ${res.body}`)
    const body = res.json()
    conforms(t, 'definitions/metadata_server_response', body, url)
    t.same(body, { name: 'calserve', version: '0.1.0', extensions: ['binary_tensor_data', 'classification', 'model_repository', 'calibration'] })
  }
})

t.test('health: live and ready answer 200 with an empty body; ready is 503 while draining', async (t) => {
  const app = await build(t)
  for (const url of ['/v2/health/live', '/v2/health/ready']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, url)
    t.equal(res.body, '', `${url}: empty body`)
  }
  app.lifecycle.draining = true
  const res = await app.inject({ url: '/v2/health/ready' })
  t.match(v2ErrorOf(t, res, 503, 'draining'), /shutting down/)
  t.equal((await app.inject({ url: '/v2/health/live' })).statusCode, 200, 'still live while draining')
  app.lifecycle.draining = false
})

t.test('model metadata: inputs with a -1 batch axis, the logits and the extra outputs, the calibration in parameters', async (t) => {
  const app = await build(t)
  const put = await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: 0.75, temperature: 2 } })
  t.equal(put.statusCode, 200, put.body)
  for (const url of ['/v2/models/tiny', '/v2/models/tiny/versions/2']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, `${url}: ${res.body}`)
    const body = res.json()
    conforms(t, 'definitions/metadata_model_response', body, url)
    t.same(body, {
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
      parameters: { classes: 4, absent_classes: 2, calibration_version: 1, calibration_method: 'manual', gamma: 0.75, temperature: 2 },
    })
  }
  const image = await app.inject({ url: '/v2/models/image' })
  conforms(t, 'definitions/metadata_model_response', image.json(), 'image')
  t.same(image.json().inputs, [{ name: 'pixels', datatype: 'FP32', shape: [-1, 1, 2, 2] }], 'a multi-dimensional input')
  t.same(image.json().outputs[0], { name: 'scores', datatype: 'FP32', shape: [-1, 3] }, 'the output the manifest names')
  const two = await app.inject({ url: '/v2/models/two_outputs' })
  t.same(
    two.json().outputs.map((o: { name: string }) => o.name),
    ['logits', 'label', 'score', 'class_index'],
    'only the output calserve serves, not the model’s other one (probs)',
  )
})

t.test('model readiness: 200 with an empty body, per version too', async (t) => {
  const app = await build(t)
  for (const url of ['/v2/models/tiny/ready', '/v2/models/tiny/versions/2/ready', '/v2/models/image/ready']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, `${url}: ${res.body}`)
    t.equal(res.body, '', `${url}: empty body`)
  }
})

t.test('errors: unknown model and version 404, a model that failed to load 503, all as {"error": "…"}', async (t) => {
  const repo = copyFixtures(t, ['tiny'])
  const broken = join(repo, 'broken')
  cpSync(join(repo, 'tiny'), broken, { recursive: true })
  writeFileSync(join(broken, '2', 'model.onnx'), 'not an onnx file')
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo })

  for (const url of ['/v2/models/nope', '/v2/models/nope/ready', '/v2/models/nope/versions/1', '/v2/models/nope/versions/1/ready'])
    t.match(v2ErrorOf(t, await app.inject({ url }), 404, url), /model 'nope' is not in the repository/)
  for (const url of ['/v2/models/tiny/versions/1', '/v2/models/tiny/versions/1/ready', '/v2/models/tiny/versions/two'])
    t.match(v2ErrorOf(t, await app.inject({ url }), 404, url), /model 'tiny' has no version '(1|two)'; version 2 is served/)
  for (const url of ['/v2/models/broken', '/v2/models/broken/ready', '/v2/models/broken/versions/2/ready'])
    t.match(v2ErrorOf(t, await app.inject({ url }), 503, url), /model 'broken' is FAILED/)
  const infer = await app.inject({
    method: 'POST',
    url: '/v2/models/broken/infer',
    payload: { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] },
  })
  t.match(v2ErrorOf(t, infer, 503, 'infer on a failed model'), /model 'broken' is FAILED/)
  t.equal((await app.inject({ url: '/v2/health/ready' })).statusCode, 200, 'the server is ready: every model finished loading, as /health/ready')
})

t.test('auth: /v2/health is public, the rest needs a read token, and refusals use the protocol’s error body', async (t) => {
  const app = await build(t, { CALSERVE_API_TOKENS: 'app:v2-reader-secret' })
  t.equal((await app.inject({ url: '/v2/health/live' })).statusCode, 200)
  t.equal((await app.inject({ url: '/v2/health/ready' })).statusCode, 200)
  const none = await app.inject({ url: '/v2/models/tiny' })
  t.match(v2ErrorOf(t, none, 401, 'no token'), /Authorization: Bearer/)
  t.equal(none.headers['www-authenticate'], 'Bearer realm="calserve"')
  t.match(v2ErrorOf(t, await app.inject({ url: '/v2/models/tiny/ready', headers: { authorization: 'Bearer wrong' } }), 403, 'wrong token'), /not accepted/)
  const ok = await app.inject({ url: '/v2/models/tiny', headers: { authorization: 'Bearer v2-reader-secret' } })
  t.equal(ok.statusCode, 200, ok.body)
  const infer = await app.inject({
    method: 'POST',
    url: '/v2/models/tiny/infer',
    headers: { authorization: 'Bearer v2-reader-secret' },
    payload: { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] },
  })
  t.equal(infer.statusCode, 200, infer.body)
})
