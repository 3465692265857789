// POST /v1/models/{name}/predict on the real fixtures, every expected number computed in the test
// from weights.json.
import t from 'tap'
import { build } from '../helper.js'
import { breakpoint, checkPrediction, expectedPrediction, fixture, logitsOf, noTies, TINY_X } from './expected.js'

const tiny = fixture('tiny')
const image = fixture('image')
const twoOutputs = fixture('two_outputs')

const post = (app: Awaited<ReturnType<typeof build>>, name: string, payload: unknown) =>
  app.inject({ method: 'POST', url: `/v1/models/${name}/predict`, payload: payload as object })

t.test('tiny, uncalibrated: labels, indices, scores, top_k and raw logits', async (t) => {
  const app = await build(t)
  const res = await post(app, 'tiny', { inputs: TINY_X, top_k: 4, return_logits: true })
  t.equal(res.statusCode, 200, res.body)
  const body = res.json()
  t.equal(body.model, 'tiny')
  t.equal(body.model_version, 2, 'the highest version is served')
  t.same(body.calibration, { applied: true, version: 0, gamma: 0, temperature: 1 })
  t.equal(body.predictions.length, TINY_X.length)
  TINY_X.forEach((x, i) => {
    const z = logitsOf(tiny, 2, x)
    t.ok(noTies(tiny, z, 0), `sample ${i} has no ties`)
    checkPrediction(t, body.predictions[i], expectedPrediction(tiny, z, 0, 1, 4), `sample ${i}`)
    t.strictSame(body.predictions[i].logits, z, `sample ${i}: raw logits exactly`)
  })
})

t.test('top_k defaults to 1 and logits are only sent when asked', async (t) => {
  const app = await build(t)
  const res = await post(app, 'tiny', { inputs: TINY_X.slice(0, 2) })
  t.equal(res.statusCode, 200, res.body)
  const body = res.json()
  for (const [i, p] of body.predictions.entries()) {
    checkPrediction(t, p, expectedPrediction(tiny, logitsOf(tiny, 2, TINY_X[i]!), 0, 1, 1), `sample ${i}`)
    t.notOk('logits' in p, 'no logits unless return_logits')
  }
})

t.test('calibrated: γ on the absent classes and temperature, and calibrated=false ignores them', async (t) => {
  const app = await build(t)
  const gamma = 0.3125
  const temperature = 2.5
  const put = await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma, temperature } })
  t.equal(put.statusCode, 200, put.body)

  const res = await post(app, 'tiny', { inputs: TINY_X, top_k: 3, return_logits: true })
  t.equal(res.statusCode, 200, res.body)
  const body = res.json()
  t.same(body.calibration, { applied: true, version: 1, gamma, temperature })
  TINY_X.forEach((x, i) => {
    const z = logitsOf(tiny, 2, x)
    t.ok(noTies(tiny, z, gamma), `sample ${i} has no ties under γ`)
    checkPrediction(t, body.predictions[i], expectedPrediction(tiny, z, gamma, temperature, 3), `calibrated sample ${i}`)
    t.strictSame(body.predictions[i].logits, z, `sample ${i}: logits are raw, γ not added`)
  })

  const raw = (await post(app, 'tiny', { inputs: TINY_X, top_k: 3, calibrated: false })).json()
  t.same(raw.calibration, { applied: false, version: 1, gamma, temperature }, 'says which calibration it did not apply')
  TINY_X.forEach((x, i) => {
    checkPrediction(t, raw.predictions[i], expectedPrediction(tiny, logitsOf(tiny, 2, x), 0, 1, 3), `uncalibrated sample ${i}`)
  })
  // The test is only meaningful if calibration changes some score.
  t.not(body.predictions[0].score, raw.predictions[0].score, 'γ and T change the scores')
})

t.test('a γ past a sample’s breakpoint flips it to an absent class', async (t) => {
  const app = await build(t)
  const x = TINY_X[0]!
  const z = logitsOf(tiny, 2, x)
  const before = expectedPrediction(tiny, z, 0, 1, 1)
  t.equal(before.absent, false, 'uncalibrated, a fine-tuning class wins')
  const gamma = breakpoint(tiny, z) + 0.125
  const after = expectedPrediction(tiny, z, gamma, 1, 4)
  t.equal(after.absent, true, 'past the breakpoint an absent class wins')

  t.equal((await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma } })).statusCode, 200)
  const res = (await post(app, 'tiny', { inputs: [x], top_k: 4 })).json()
  t.equal(res.calibration.gamma, gamma)
  checkPrediction(t, res.predictions[0], after, 'flipped')
  t.equal(res.predictions[0].label, after.label)
  t.not(res.predictions[0].label, before.label)

  // Just short of the breakpoint the fine-tuning class keeps it.
  const short = breakpoint(tiny, z) - 0.125
  t.equal((await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: short } })).statusCode, 200)
  const kept = (await post(app, 'tiny', { inputs: [x], top_k: 4 })).json()
  checkPrediction(t, kept.predictions[0], expectedPrediction(tiny, z, short, 1, 4), 'not flipped')
  t.equal(kept.predictions[0].label, before.label)

  // A negative γ pushes the absent classes down.
  const down = -1000
  t.equal((await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: down } })).statusCode, 200)
  const neg = (await post(app, 'tiny', { inputs: TINY_X, top_k: 4 })).json()
  TINY_X.forEach((xi, i) => {
    checkPrediction(t, neg.predictions[i], expectedPrediction(tiny, logitsOf(tiny, 2, xi), down, 1, 4), `γ=${down} sample ${i}`)
    t.equal(neg.predictions[i].absent, false)
  })
})

t.test('image: nested [1][2][2] samples and the same samples flat', async (t) => {
  const app = await build(t)
  const flat = [
    [1, 0.5, -0.25, 2],
    [0.125, 1, 1.5, -0.5],
    [-1, 0, 0.75, 0.25],
  ]
  // pixels[n][0][i][j] is feature 2*i + j.
  const nested = flat.map((f) => [
    [
      [f[0]!, f[1]!],
      [f[2]!, f[3]!],
    ],
  ])
  const gamma = 0.1875
  t.equal((await app.inject({ method: 'PUT', url: '/v1/models/image/calibration', payload: { gamma } })).statusCode, 200)

  const a = await post(app, 'image', { inputs: nested, top_k: 3, return_logits: true })
  const b = await post(app, 'image', { inputs: flat, top_k: 3, return_logits: true })
  t.equal(a.statusCode, 200, a.body)
  t.equal(b.statusCode, 200, b.body)
  const nestedBody = a.json()
  t.equal(nestedBody.model_version, 1)
  t.equal(nestedBody.calibration.gamma, gamma)
  flat.forEach((x, i) => {
    const z = logitsOf(image, 1, x)
    t.ok(noTies(image, z, gamma))
    checkPrediction(t, nestedBody.predictions[i], expectedPrediction(image, z, gamma, 1, 3), `nested sample ${i}`)
    t.strictSame(nestedBody.predictions[i].logits, z, `nested sample ${i}: logits`)
  })
  t.strictSame(b.json(), nestedBody, 'flat and nested samples answer the same')
})

t.test('two_outputs: the manifest’s output (logits, not probs) is what is served', async (t) => {
  const app = await build(t)
  const xs = [
    [1, 0.5],
    [-0.5, 2],
  ]
  const res = await post(app, 'two_outputs', { inputs: xs, top_k: 3, return_logits: true })
  t.equal(res.statusCode, 200, res.body)
  const body = res.json()
  xs.forEach((x, i) => {
    const z = logitsOf(twoOutputs, 1, x)
    t.strictSame(body.predictions[i].logits, z, `sample ${i}: the logits output`)
    checkPrediction(t, body.predictions[i], expectedPrediction(twoOutputs, z, 0, 1, 3), `sample ${i}`)
  })
})

t.test('one sample among many in a batch is answered in order', async (t) => {
  const app = await build(t)
  const xs = Array.from({ length: 40 }, (_, i) => [(i % 7) / 8 - 0.375, ((i * 3) % 5) / 4 - 0.5, ((i * 5) % 9) / 8 - 0.5])
  const body = (await post(app, 'tiny', { inputs: xs, top_k: 2 })).json()
  t.equal(body.predictions.length, xs.length)
  xs.forEach((x, i) => {
    const z = logitsOf(tiny, 2, x)
    if (noTies(tiny, z, 0)) checkPrediction(t, body.predictions[i], expectedPrediction(tiny, z, 0, 1, 2), `sample ${i}`)
  })
})
