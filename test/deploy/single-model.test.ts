// KServe's storage initializer leaves the model folder itself in /mnt/models (model.json and
// 1/model.onnx, no <name>/ level above them): such a repository is one model, named by
// CALSERVE_MODEL_NAME (the ServingRuntime passes the InferenceService's name) or by the folder.
import { join } from 'node:path'
import t from 'tap'
import { build, FIXTURE_MODELS } from '../helper.js'
import { fixture, TINY_X } from '../http/expected.js'

const tiny = fixture('tiny')
// Event-loop shedding off: on a loaded machine it can refuse the requests these tests make.
const QUIET = { CALSERVE_MAX_EVENT_LOOP_DELAY_MS: '0' }

t.test('a repository that holds model.json serves that one model under CALSERVE_MODEL_NAME', async (t) => {
  const app = await build(t, { ...QUIET, CALSERVE_MODEL_REPOSITORY: join(FIXTURE_MODELS, 'tiny'), CALSERVE_MODEL_NAME: 'digits' })
  const ready = await app.inject({ url: '/health/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json().models, { digits: 'READY' }, 'one model, under the configured name; its version folders are not models')
  const ready2 = await app.inject({ url: '/v2/models/digits/ready' })
  t.equal(ready2.statusCode, 200)
  const res = await app.inject({
    method: 'POST',
    url: '/v2/models/digits/infer',
    payload: { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: TINY_X[0] }], outputs: [{ name: 'label' }] },
  })
  t.equal(res.statusCode, 200, res.body.slice(0, 300))
  t.equal(res.json().model_version, '2', 'the highest version folder serves')
  t.ok(tiny.labels.includes(res.json().outputs[0].data[0]), 'a label of the model')
  const load = await app.inject({ method: 'POST', url: '/v2/repository/models/digits/load' })
  t.equal(load.statusCode, 200, 'a repository load reloads it from the same folder')
  t.match(load.json(), { name: 'digits', version: '2', state: 'READY' })
  const other = await app.inject({ method: 'POST', url: '/v2/repository/models/1/load' })
  t.equal(other.statusCode, 404, 'a version folder is not a model of its own')
})

t.test('without CALSERVE_MODEL_NAME the folder name names the model', async (t) => {
  const app = await build(t, { ...QUIET, CALSERVE_MODEL_REPOSITORY: join(FIXTURE_MODELS, 'tiny') })
  const ready = await app.inject({ url: '/health/ready' })
  t.same(ready.json().models, { tiny: 'READY' })
})

t.test('a repository of model folders is unchanged by CALSERVE_MODEL_NAME', async (t) => {
  const app = await build(t, { ...QUIET, CALSERVE_MODEL_NAME: 'ignored' })
  const ready = await app.inject({ url: '/health/ready' })
  t.same(Object.keys(ready.json().models).sort(), ['image', 'tiny', 'two_outputs'])
})
