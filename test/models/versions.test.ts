// Model versions: the highest version folder is served, and calibrations are kept per model
// version, so a newly added version starts uncalibrated.
import { cpSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { FIXTURE_MODELS, build, copyFixtures, tempDir } from '../helper.js'
import { fixture, logitsOf } from '../http/expected.js'

const tiny = fixture('tiny')
const X = [[1, 0.5, 0.25], [0, 1, 2]]

type App = Awaited<ReturnType<typeof build>>
const logits = async (app: App) => {
  const res = await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: X, return_logits: true } })
  return res.json() as { model_version: number; calibration: { version: number; gamma: number }; predictions: Array<{ logits: number[] }> }
}

t.test('of versions 1 and 2, version 2 is served', async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ url: '/v1/models/tiny' })).json().version, 2)
  const body = await logits(app)
  t.equal(body.model_version, 2)
  X.forEach((x, i) => {
    t.strictSame(body.predictions[i]!.logits, logitsOf(tiny, 2, x), `sample ${i}: version 2’s logits`)
    t.notSame(body.predictions[i]!.logits, logitsOf(tiny, 1, x), `sample ${i}: not version 1’s`)
  })
})

t.test('a new version folder starts uncalibrated; the old version keeps its calibration', async (t) => {
  const repo = copyFixtures(t, ['tiny'])
  const storeUrl = `sqlite:${join(tempDir(t), 'shared.db')}`
  const env = { CALSERVE_MODEL_REPOSITORY: repo, CALSERVE_STORE_URL: storeUrl }

  // Only version 1 in the repository: it is served, and gets a γ.
  rmSync(join(repo, 'tiny', '2'), { recursive: true })
  const v1 = await build(t, env)
  const one = await logits(v1)
  t.equal(one.model_version, 1)
  X.forEach((x, i) => t.strictSame(one.predictions[i]!.logits, logitsOf(tiny, 1, x), `v1 sample ${i}`))
  const put = await v1.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: 1.5 } })
  t.match(put.json(), { model_version: 1, version: 1, gamma: 1.5 })
  await v1.close()

  // Version 3 appears (a copy of version 2's model): served, uncalibrated.
  mkdirSync(join(repo, 'tiny', '3'))
  cpSync(join(FIXTURE_MODELS, 'tiny', '2', 'model.onnx'), join(repo, 'tiny', '3', 'model.onnx'))
  const app = await build(t, env)
  t.equal((await app.inject({ url: '/v1/models/tiny' })).json().version, 3)
  t.match((await app.inject({ url: '/v1/models/tiny/calibration' })).json(), { model: 'tiny', model_version: 3, version: 0, gamma: 0, method: 'none' })
  t.same((await app.inject({ url: '/v1/models/tiny/calibration/history' })).json(), { versions: [], next: null })
  const three = await logits(app)
  t.equal(three.model_version, 3)
  t.match(three.calibration, { version: 0, gamma: 0 })
  X.forEach((x, i) => t.strictSame(three.predictions[i]!.logits, logitsOf(tiny, 2, x), `v3 (= v2’s weights) sample ${i}`))

  // The same store still holds version 1's calibration, under model version 1.
  const kept = await app.store.history('tiny', 1)
  t.equal(kept.length, 1)
  t.match(kept[0], { model_version: 1, version: 1, gamma: 1.5 })

  // Writing to version 3 numbers from 1 again.
  const p3 = await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: -2 } })
  t.match(p3.json(), { model_version: 3, version: 1, gamma: -2 })
  t.equal((await app.store.history('tiny', 1)).length, 1, 'version 1’s history untouched')
})

t.test('a version folder without model.onnx is passed over', async (t) => {
  const repo = copyFixtures(t, ['tiny'])
  mkdirSync(join(repo, 'tiny', '7'))
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo })
  t.equal((await logits(app)).model_version, 2)
})
