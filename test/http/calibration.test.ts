// Set, history, rollback and optimistic concurrency of a model's calibration, over HTTP.
import t from 'tap'
import { build } from '../helper.js'
import { checkPrediction, errorOf, expectedPrediction, fixture, logitsOf } from './expected.js'

const tiny = fixture('tiny')
const X = [1, 0.5, 0.25]

type App = Awaited<ReturnType<typeof build>>
const put = (app: App, payload: object, name = 'tiny') => app.inject({ method: 'PUT', url: `/v1/models/${name}/calibration`, payload })
const rollback = (app: App, payload: object) => app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/rollback', payload })
const getCal = async (app: App, name = 'tiny') => (await app.inject({ url: `/v1/models/${name}/calibration` })).json()
const history = async (app: App) => (await app.inject({ url: '/v1/models/tiny/calibration/history' })).json().versions

t.test('an uncalibrated model is version 0, the identity, with no history', async (t) => {
  const app = await build(t)
  const cal = await getCal(app)
  t.match(cal, { model: 'tiny', model_version: 2, version: 0, gamma: 0, temperature: 1, method: 'none', source_version: null })
  t.same(await history(app), [])
  t.same((await app.inject({ url: '/v1/models/tiny' })).json().calibration, cal, 'GET /v1/models/tiny shows the same')
})

t.test('PUT twice, history newest first, rollback appends, predict follows', async (t) => {
  const app = await build(t)
  const g1 = 0.1 + 0.2 // not representable in short decimal: must round-trip bit-exactly
  const g2 = -0.75
  const r1 = await put(app, { gamma: g1, note: 'first' })
  t.equal(r1.statusCode, 200, r1.body)
  t.match(r1.json(), { model: 'tiny', model_version: 2, version: 1, temperature: 1, method: 'manual', note: 'first', source_version: null })
  t.ok(Object.is(r1.json().gamma, g1), 'γ round-trips bit-exactly')
  t.ok(!Number.isNaN(Date.parse(r1.json().created_at)), 'created_at is a timestamp')

  const r2 = await put(app, { gamma: g2, temperature: 2 })
  t.equal(r2.statusCode, 200, r2.body)
  t.match(r2.json(), { version: 2, gamma: g2, temperature: 2, method: 'manual', note: null })
  t.same(await getCal(app), r2.json(), 'GET answers the active version')

  const h = await history(app)
  t.same(
    h.map((r: { version: number; gamma: number }) => [r.version, r.gamma]),
    [
      [2, g2],
      [1, g1],
    ],
    'history newest first',
  )
  t.same(h[0], r2.json())
  t.same(h[1], r1.json())

  const rb = await rollback(app, { version: 1, note: 'back' })
  t.equal(rb.statusCode, 200, rb.body)
  t.match(rb.json(), { version: 3, method: 'rollback', source_version: 1, temperature: 1, note: 'back' })
  t.ok(Object.is(rb.json().gamma, g1), 'the rollback carries version 1’s γ')
  t.same(await getCal(app), rb.json())
  t.same(
    (await history(app)).map((r: { version: number; method: string }) => [r.version, r.method]),
    [
      [3, 'rollback'],
      [2, 'manual'],
      [1, 'manual'],
    ],
  )

  const pred = (await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: [X], top_k: 4 } })).json()
  t.same(pred.calibration, { applied: true, version: 3, gamma: g1, temperature: 1 })
  checkPrediction(t, pred.predictions[0], expectedPrediction(tiny, logitsOf(tiny, 2, X), g1, 1, 4), 'predict after rollback')

  // Other models are untouched.
  t.match(await getCal(app, 'image'), { version: 0, gamma: 0 })
})

t.test('expected_version is honoured on PUT and on rollback', async (t) => {
  const app = await build(t)
  const first = await put(app, { gamma: 1, expected_version: 0 })
  t.equal(first.statusCode, 200, first.body)
  t.equal(first.json().version, 1)

  const stale = await put(app, { gamma: 2, expected_version: 0 })
  const err = errorOf(t, stale, 409, 'CALSERVE_VERSION_CONFLICT', 'stale PUT')
  t.match(err.details, { expected_version: 0, active_version: 1 })

  const ok = await put(app, { gamma: 2, expected_version: 1 })
  t.equal(ok.statusCode, 200, ok.body)
  t.equal(ok.json().version, 2)

  const staleRb = await rollback(app, { version: 1, expected_version: 1 })
  t.match(errorOf(t, staleRb, 409, 'CALSERVE_VERSION_CONFLICT', 'stale rollback').details, { active_version: 2 })
  t.equal((await getCal(app)).version, 2, 'nothing written by the refused rollback')

  const rb = await rollback(app, { version: 1, expected_version: 2 })
  t.equal(rb.statusCode, 200, rb.body)
  t.match(rb.json(), { version: 3, gamma: 1, source_version: 1 })
  t.equal((await history(app)).length, 3)
})

t.test('a rollback of a rollback restores the same γ and names the version it restored', async (t) => {
  const app = await build(t)
  await put(app, { gamma: 0.5, temperature: 3 })
  await put(app, { gamma: -0.5 })
  await rollback(app, { version: 1 })
  await put(app, { gamma: 7 })
  const rb = (await rollback(app, { version: 3 })).json()
  t.match(rb, { version: 5, gamma: 0.5, temperature: 3, method: 'rollback', source_version: 3 })
})

t.test('calibration is per model', async (t) => {
  const app = await build(t)
  t.equal((await put(app, { gamma: 0.25 }, 'image')).json().version, 1)
  t.equal((await put(app, { gamma: 0.5 }, 'image')).json().version, 2)
  t.equal((await put(app, { gamma: 9 })).json().version, 1, 'tiny numbers its own versions')
  t.match(await getCal(app, 'image'), { model: 'image', model_version: 1, version: 2, gamma: 0.5 })
  t.match(await getCal(app, 'two_outputs'), { version: 0 })
})
