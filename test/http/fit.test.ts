// The fit endpoint on a real fixture model: what it stores is what predict applies, the sweep
// reaches the brute-force optimum, JSON and ndjson agree, jobs work, and bad input changes nothing.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, copyFixtures, FIXTURE_MODELS, linearLogits } from '../helper.js'

const weights = JSON.parse(readFileSync(join(FIXTURE_MODELS, 'tiny/weights.json'), 'utf8'))['2'] as { W: number[][]; b: number[] }
const LABELS = ['cat', 'dog', 'bird', 'fish']
const ABSENT = [false, false, true, true]

// A deterministic labelled set: inputs are multiples of 1/8 so onnxruntime's float32 logits equal
// the float64 x·W + b computed here exactly.
function makeSet(n: number, seed = 7, labelsFrom: number[] = [0, 1, 2, 3]) {
  let s = seed
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648
  const inputs: number[][] = []
  const labels: string[] = []
  for (let i = 0; i < n; i++) {
    inputs.push([0, 1, 2].map(() => Math.round((rand() * 4 - 2) * 8) / 8))
    labels.push(LABELS[labelsFrom[Math.floor(rand() * labelsFrom.length)]!]!)
  }
  return { inputs, labels }
}

/** The prediction of the calibration rule, computed independently: argmax of z + γ·1[absent], lowest index on ties. */
function predictWith(z: number[], gamma: number): number {
  let best = 0
  for (let c = 1; c < z.length; c++) if (z[c]! + (ABSENT[c] ? gamma : 0) > z[best]! + (ABSENT[best] ? gamma : 0)) best = c
  return best
}

function accuracyAt(set: { inputs: number[][]; labels: string[] }, gamma: number): number {
  let ok = 0
  set.inputs.forEach((x, i) => (ok += LABELS[predictWith(linearLogits(weights, x), gamma)] === set.labels[i] ? 1 : 0))
  return ok / set.inputs.length
}

/** Brute force: the best accuracy over every breakpoint midpoint and beyond both ends. */
function bruteBestAccuracy(set: { inputs: number[][]; labels: string[] }): number {
  const gaps = set.inputs.map((x) => {
    const z = linearLogits(weights, x)
    return Math.max(z[0]!, z[1]!) - Math.max(z[2]!, z[3]!)
  })
  const b = [...new Set(gaps)].sort((a, c) => a - c)
  const candidates = [b[0]! - 1, b[b.length - 1]! + 1, ...b.slice(1).map((v, i) => (v + b[i]!) / 2)]
  return Math.max(...candidates.map((g) => accuracyAt(set, g)))
}

const ndjson = (set: { inputs: number[][]; labels: (string | number)[] }) =>
  set.inputs.map((x, i) => JSON.stringify({ input: x, label: set.labels[i] })).join('\n') + '\n'

t.test('fit stores γ, and predict then applies exactly that γ', async (t) => {
  const app = await build(t)
  const set = makeSet(60)
  const res = await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: { ...set, note: 'first fit' } })
  t.equal(res.statusCode, 200, res.body)
  const fit = res.json()
  t.equal(fit.method, 'sweep')
  t.equal(fit.n_samples, 60)
  t.equal(fit.n_fine_tuning + fit.n_absent, 60)
  t.equal(fit.calibration.version, 1)
  t.equal(fit.calibration.gamma, fit.gamma)
  t.equal(fit.calibration.note, 'first fit')
  t.match(fit.calibration.digest, /^sha256:[0-9a-f]{64}$/)
  t.equal(fit.metrics.fitted.acc_y_y, accuracyAt(set, fit.gamma), 'fitted accuracy is the accuracy at γ, recomputed')
  t.equal(fit.metrics.fitted.acc_y_y, bruteBestAccuracy(set), 'sweep reaches the brute-force optimum')
  t.equal(fit.metrics.uncalibrated.acc_y_y, accuracyAt(set, 0))

  const pred = await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: set.inputs } })
  t.equal(pred.statusCode, 200)
  const body = pred.json()
  t.same(body.calibration, { applied: true, version: 1, gamma: fit.gamma, temperature: 1 })
  const expected = set.inputs.map((x) => LABELS[predictWith(linearLogits(weights, x), fit.gamma)])
  t.same(
    body.predictions.map((p: { label: string }) => p.label),
    expected,
  )
})

t.test('the same set as JSON and as ndjson gives the same γ and digest; labels by name or index', async (t) => {
  const app = await build(t)
  const set = makeSet(40, 11)
  const byIndex = { inputs: set.inputs, labels: set.labels.map((l) => LABELS.indexOf(l)) }
  const json = (await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: { ...set, dry_run: true } })).json()
  const nd = await app.inject({
    method: 'POST',
    url: '/v1/models/tiny/calibration/fit?dry_run=true',
    headers: { 'content-type': 'application/x-ndjson' },
    payload: ndjson(byIndex),
  })
  t.equal(nd.statusCode, 200, nd.body)
  t.equal(nd.json().gamma, json.gamma)
  t.same(nd.json().metrics, json.metrics)
  t.notOk(json.calibration, 'a dry run stores nothing')
  const history = await app.inject({ url: '/v1/models/tiny/calibration/history' })
  t.same(history.json().versions, [])

  const stored = (await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: set })).json()
  const storedNd = (
    await app.inject({
      method: 'POST',
      url: '/v1/models/tiny/calibration/fit',
      headers: { 'content-type': 'application/x-ndjson' },
      payload: ndjson(byIndex),
    })
  ).json()
  t.equal(storedNd.calibration.digest, stored.calibration.digest, 'the digest is of the data, not of its encoding')
  t.equal(storedNd.calibration.version, 2)
})

t.test('alg works on a set with fine-tuning classes only, and ignores absent samples', async (t) => {
  const app = await build(t)
  const sOnly = makeSet(30, 3, [0, 1])
  const res = await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: { ...sOnly, method: 'alg' } })
  t.equal(res.statusCode, 200, res.body)
  const fit = res.json()
  // ALG by hand: mean over samples of (the other S logit) minus mean over samples of (mean of U logits).
  let nonGt = 0
  let u = 0
  sOnly.inputs.forEach((x, i) => {
    const z = linearLogits(weights, x)
    nonGt += sOnly.labels[i] === 'cat' ? z[1]! : z[0]!
    u += (z[2]! + z[3]!) / 2
  })
  t.ok(Math.abs(fit.gamma - (nonGt - u) / sOnly.inputs.length) < 1e-12, `alg γ ${fit.gamma}`)
  t.equal(fit.metrics.fitted.acc_u_y, null, 'no absent samples: Acc_U/Y is null, not 0')
  t.equal(fit.n_absent, 0)

  const mixed = makeSet(30, 5)
  const m = (await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: { ...mixed, method: 'alg', dry_run: true } })).json()
  t.equal(m.n_ignored, m.n_absent, 'alg ignores and counts absent-class samples')
})

t.test('fit_temperature stores T and predict scores use it', async (t) => {
  const app = await build(t)
  const set = makeSet(80, 21)
  const fit = (await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: { ...set, fit_temperature: true } })).json()
  t.ok(fit.temperature > 0 && fit.temperature !== 1, `T = ${fit.temperature}`)
  t.equal(fit.calibration.temperature, fit.temperature)
  t.type(fit.metrics.fitted.nll, 'number')
  t.type(fit.metrics.uncalibrated.ece, 'number')
  t.ok(fit.metrics.fitted.nll <= fit.metrics.uncalibrated.nll + 1e-12, 'the fitted NLL is not worse')
  const x = set.inputs[0]!
  const pred = (await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: [x] } })).json()
  const z = linearLogits(weights, x).map((v, c) => (v + (ABSENT[c] ? fit.gamma : 0)) / fit.temperature)
  const max = Math.max(...z)
  const sum = z.reduce((a, v) => a + Math.exp(v - max), 0)
  const top = pred.predictions[0]
  t.ok(Math.abs(top.score - Math.exp(z[top.index]! - max) / sum) < 1e-12, 'score = softmax((z + γ)/T)')
})

t.test('large sets and async: true run as a job that any poll can follow', async (t) => {
  const app = await build(t, { CALSERVE_FIT_SYNC_MAX_SAMPLES: '50' })
  const set = makeSet(120, 9)
  const dry = (await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: { ...set, dry_run: true, async: false } })).json()
  t.type(dry.job_id, 'string', 'a set above the sync limit runs as a job even with async: false')
  const res = await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: set })
  t.equal(res.statusCode, 202, res.body)
  const { job_id, location } = res.json()
  t.equal(res.headers.location, location)
  let job
  for (let i = 0; i < 200; i++) {
    job = (await app.inject({ url: location })).json()
    if (job.state === 'succeeded' || job.state === 'failed') break
    await new Promise((r) => setTimeout(r, 10))
  }
  t.equal(job.state, 'succeeded', JSON.stringify(job.error))
  t.equal(job.id, job_id)
  t.same(job.progress, { done: 120, total: 120 })
  t.equal(job.result.calibration.version, 1)
  t.equal(job.result.metrics.fitted.acc_y_y, bruteBestAccuracy(set))
  const active = (await app.inject({ url: '/v1/models/tiny/calibration' })).json()
  t.equal(active.gamma, job.result.gamma)

  const small = makeSet(10, 2)
  const asyncSmall = await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: { ...small, async: true, dry_run: true } })
  t.equal(asyncSmall.statusCode, 202)

  const missing = await app.inject({ url: '/v1/jobs/nope' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error.code, 'CALSERVE_JOB_NOT_FOUND')

  const bad = { ...makeSet(60, 4) }
  bad.inputs[57] = [1, 2]
  const refused = await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: bad })
  t.equal(refused.statusCode, 400, 'a job refuses bad samples before it is accepted')
  t.match(refused.json().error.message, /inputs\[57\]/)
})

t.test('bad fit input: the named 400 and no change', async (t) => {
  const app = await build(t)
  const set = makeSet(20, 1)
  const first = await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: 0.5 } })
  t.equal(first.statusCode, 200)
  const before = (await app.inject({ url: '/v1/models/tiny/calibration/history' })).json()

  const cases: Array<[string, { headers?: Record<string, string>; url?: string; payload: unknown }, number, RegExp, string]> = [
    [
      'unknown label',
      { payload: { inputs: set.inputs, labels: set.labels.map((l, i) => (i === 3 ? 'zebra' : l)) } },
      400,
      /labels\[3\].*zebra/,
      'CALSERVE_BAD_INPUT',
    ],
    [
      'label index out of range',
      { payload: { inputs: set.inputs, labels: set.labels.map((l, i) => (i === 2 ? 9 : l)) } },
      400,
      /labels\[2\]/,
      'CALSERVE_BAD_INPUT',
    ],
    ['length mismatch', { payload: { inputs: set.inputs, labels: set.labels.slice(1) } }, 400, /20 samples but labels has 19/, 'CALSERVE_BAD_INPUT'],
    ['empty set', { payload: { inputs: [], labels: [] } }, 400, /empty/, 'CALSERVE_BAD_INPUT'],
    ['sweep on fine-tuning samples only', { payload: makeSet(20, 1, [0, 1]) }, 400, /absent.*alg|alg.*absent/i, 'CALSERVE_BAD_INPUT'],
    ['sweep on absent samples only', { payload: makeSet(20, 1, [2, 3]) }, 400, /fine-tuning/i, 'CALSERVE_BAD_INPUT'],
    ['bad sample', { payload: { inputs: [[1, 2, 'x']], labels: ['cat'] } }, 400, /inputs\[0\]/, 'CALSERVE_BAD_INPUT'],
    ['unknown method', { payload: { ...set, method: 'grid' } }, 400, /method/, 'CALSERVE_BAD_INPUT'],
    ['stale expected_version', { payload: { ...set, expected_version: 0 } }, 409, /expected_version 0/, 'CALSERVE_VERSION_CONFLICT'],
    [
      'malformed ndjson line',
      { headers: { 'content-type': 'application/x-ndjson' }, payload: '{"input":[1,2,3],"label":"cat"}\n{"input":[1,2,3],"label":\n' },
      400,
      /line 2/,
      'CALSERVE_BAD_INPUT',
    ],
    [
      'ndjson line without label',
      { headers: { 'content-type': 'application/x-ndjson' }, payload: '{"input":[1,2,3],"label":"cat"}\n\n{"input":[1,2,3]}\n' },
      400,
      /line 3/,
      'CALSERVE_BAD_INPUT',
    ],
    ['empty ndjson', { headers: { 'content-type': 'application/x-ndjson' }, payload: '\n' }, 400, /empty/, 'CALSERVE_BAD_INPUT'],
    [
      'ndjson bad query option',
      { headers: { 'content-type': 'application/x-ndjson' }, url: '?dry_run=maybe', payload: ndjson(set) },
      400,
      /dry_run/,
      'CALSERVE_BAD_INPUT',
    ],
    ['wrong content type', { headers: { 'content-type': 'text/csv' }, payload: 'a,b\n' }, 415, /text\/csv|Unsupported/i, 'CALSERVE_UNSUPPORTED_MEDIA_TYPE'],
  ]
  for (const [name, req, status, message, code] of cases) {
    const res = await app.inject({
      method: 'POST',
      url: `/v1/models/tiny/calibration/fit${req.url ?? ''}`,
      headers: req.headers,
      payload: req.payload as string,
    })
    t.equal(res.statusCode, status, `${name}: ${res.body}`)
    t.equal(res.json().error?.code, code, name)
    t.match(res.json().error?.message, message, name)
  }
  const after = (await app.inject({ url: '/v1/models/tiny/calibration/history' })).json()
  t.same(after, before, 'no rejected fit changed the history')
})

t.test('a model with no absent classes refuses a fit', async (t) => {
  const repo = copyFixtures(t, ['tiny'])
  const manifest = JSON.parse(readFileSync(join(repo, 'tiny/model.json'), 'utf8'))
  manifest.fine_tuning_classes = LABELS
  writeFileSync(join(repo, 'tiny/model.json'), JSON.stringify(manifest))
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo })
  const res = await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: makeSet(10) })
  t.equal(res.statusCode, 400)
  t.match(res.json().error.message, /no absent classes/)
})

t.test('curve.svg shows the last fit', async (t) => {
  const app = await build(t)
  const none = await app.inject({ url: '/v1/models/tiny/calibration/curve.svg' })
  t.equal(none.statusCode, 404)
  const fit = (await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: makeSet(50, 13) })).json()
  const svg = await app.inject({ url: '/v1/models/tiny/calibration/curve.svg' })
  t.equal(svg.statusCode, 200)
  t.match(svg.headers['content-type'], /image\/svg\+xml/)
  t.match(svg.body, /^<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  t.match(svg.body, /Acc_S\/Y/)
  t.match(svg.body, /Acc_U\/Y/)
  t.match(svg.body, new RegExp(`AUSUC ${fit.metrics.fitted.ausuc.toFixed(3)}`))
})
