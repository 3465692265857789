// The fit options of issue 15 on the wire, over JSON and over the query string: floors (numbers or
// "reference"), a reference model run over the same set, ALG's released variant and conformal sets.
// Real onnxruntime on the tiny fixture; the reference is tiny's version 1 served under another name
// with its labels in another order, so mapping its columns by label name is what makes it right.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { referenceMetrics } from '../../src/calibration/index.js'
import { build, copyFixtures, FIXTURE_MODELS, linearLogits, testConfig } from '../helper.js'

const allWeights = JSON.parse(readFileSync(join(FIXTURE_MODELS, 'tiny/weights.json'), 'utf8')) as Record<string, { W: number[][]; b: number[] }>
const weights = allWeights['2']!
const LABELS = ['cat', 'dog', 'bird', 'fish']
const ABSENT = Uint8Array.from([0, 0, 1, 1])
/** tiny-ref's labels: its output column k is named REF_LABELS[k]. */
const REF_LABELS = ['fish', 'dog', 'cat', 'bird']
const URL = '/v1/models/tiny/calibration/fit'

type App = Awaited<ReturnType<typeof build>>
type Set = { inputs: number[][]; labels: string[] }

/** A repository with tiny, tiny-ref (tiny v1, labels permuted) and tiny-other (other labels). */
function repository(t: Test): string {
  const dir = copyFixtures(t, ['tiny'])
  const add = (name: string, labels: string[], fine: string[]) => {
    mkdirSync(join(dir, name, '1'), { recursive: true })
    cpSync(join(FIXTURE_MODELS, 'tiny/1/model.onnx'), join(dir, name, '1/model.onnx'))
    writeFileSync(join(dir, name, 'model.json'), JSON.stringify({ labels, fine_tuning_classes: fine }))
  }
  add('tiny-ref', REF_LABELS, ['dog', 'cat'])
  add('tiny-other', ['cat', 'dog', 'bird', 'horse'], ['cat', 'dog'])
  return dir
}

async function app(t: Test): Promise<App> {
  return build(t, {}, testConfig(t, { CALSERVE_MODEL_REPOSITORY: repository(t) }))
}

function makeSet(n: number, seed = 7, labelsFrom: number[] = [0, 1, 2, 3]): Set {
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

const ndjson = (set: Set) => set.inputs.map((x, i) => JSON.stringify({ input: x, label: set.labels[i] })).join('\n') + '\n'
const fitJson = (a: App, payload: object) => a.inject({ method: 'POST', url: URL, payload })
const fitNdjson = (a: App, set: Set, query: string) =>
  a.inject({ method: 'POST', url: `${URL}?${query}`, headers: { 'content-type': 'application/x-ndjson' }, payload: ndjson(set) })
const fitBinary = (a: App, set: Set, query: string) =>
  a.inject({
    method: 'POST',
    url: `${URL}?labels=${set.labels.join(',')}&${query}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: Buffer.from(Float32Array.from(set.inputs.flat()).buffer),
  })
const versions = async (a: App) => (await a.inject({ url: '/v1/models/tiny/calibration/history' })).json().versions.length as number

/** metrics.reference computed independently: tiny-ref's own predict logits, mapped to tiny's class order by name. */
async function expectedReference(a: App, set: Set) {
  const res = await a.inject({ method: 'POST', url: '/v1/models/tiny-ref/predict', payload: { inputs: set.inputs, calibrated: false, return_logits: true } })
  const rows = (res.json().predictions as Array<{ logits: number[] }>).map((p) => LABELS.map((l) => p.logits[REF_LABELS.indexOf(l)]!))
  const data = Float32Array.from(rows.flat())
  return referenceMetrics(
    { data, n: set.inputs.length, c: 4 },
    Int32Array.from(set.labels, (l) => LABELS.indexOf(l)),
    ABSENT,
  )
}

t.test('a constrained fit with a reference model, over JSON: metrics, floors, record, curve mark, rollback', async (t) => {
  const a = await app(t)
  const set = makeSet(80)
  const ref = await expectedReference(a, set)
  // tiny-ref is tiny v1 with its columns renamed: by hand, its "cat" is v1's third output.
  const v1 = linearLogits(allWeights['1']!, set.inputs[0]!)
  const mapped = (await a.inject({ method: 'POST', url: '/v1/models/tiny-ref/predict', payload: { inputs: [set.inputs[0]], return_logits: true } })).json()
  t.same(mapped.predictions[0].logits, v1, 'tiny-ref serves tiny v1')

  const res = await fitJson(a, { ...set, reference_model: 'tiny-ref', constraints: { min_acc_u_y: 'reference' }, conformal: { alpha: 0.2 } })
  t.equal(res.statusCode, 200, res.body)
  const fit = res.json()
  t.same(fit.metrics.reference, ref, "metrics.reference is referenceMetrics of tiny-ref's own predict logits")
  t.same(fit.reference, { model: 'tiny-ref', version: 1 })
  t.same(fit.constraints, { min_acc_u_y: ref.acc_u_y }, '"reference" resolves to its Acc_U/Y on the set')
  t.ok(fit.metrics.fitted.acc_u_y >= ref.acc_u_y!, `fitted Acc_U/Y ${fit.metrics.fitted.acc_u_y} ≥ the reference's ${ref.acc_u_y}`)
  t.match(fit.conformal, { alpha: 0.2, score: 'lac', by: 'marginal', too_small: false })
  t.ok(fit.conformal.coverage.overall >= 0.8 - 1e-12, `coverage ${fit.conformal.coverage.overall}`)

  const record = fit.calibration
  t.same(record.reference, { model: 'tiny-ref', version: 1, metrics: ref })
  t.same(record.conformal, { alpha: 0.2, score: 'lac', by: 'marginal', qhat: fit.conformal.qhat })
  t.equal(record.alg_samples, null)
  t.same((await a.inject({ url: '/v1/models/tiny/calibration' })).json(), record, 'the active record carries them')

  const curve = (await a.inject({ url: '/v1/models/tiny/calibration/curve' })).json()
  t.same(
    curve.marks.find((m: { name: string }) => m.name === 'reference'),
    { name: 'reference', model: 'tiny-ref', gamma: 0, acc_s_y: ref.acc_s_y, acc_u_y: ref.acc_u_y },
  )
  const svg = await a.inject({ url: '/v1/models/tiny/calibration/curve.svg' })
  t.match(svg.body, /reference model tiny-ref/, 'curve.svg has a legend entry for the reference')

  const manual = (await a.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: 0.5 } })).json()
  t.match(manual, { version: 2, alg_samples: null, conformal: null, reference: null }, 'a manual version stores none of them')
  const rb = await a.inject({ method: 'POST', url: '/v1/models/tiny/calibration/rollback', payload: { version: 1 } })
  t.equal(rb.statusCode, 200, rb.body)
  t.match(rb.json(), { version: 3, method: 'rollback', source_version: 1, gamma: fit.gamma })
  t.same(rb.json().conformal, record.conformal, 'a rollback carries the restored conformal calibration')
  t.same(rb.json().reference, record.reference)
})

t.test('the same options in the query string (ndjson, binary) give what JSON gives', async (t) => {
  const a = await app(t)
  const set = makeSet(60, 13)
  const json = (
    await fitJson(a, {
      ...set,
      dry_run: true,
      reference_model: 'tiny-ref',
      constraints: { min_acc_u_y: 'reference', min_acc_s_y: 0.25 },
      conformal: { alpha: 0.25, score: 'aps' },
    })
  ).json()
  t.ok(json.conformal, JSON.stringify(json).slice(0, 300))
  const query = 'dry_run=true&reference_model=tiny-ref&min_acc_u_y=reference&min_acc_s_y=0.25&conformal_alpha=0.25&conformal_score=aps'
  for (const [name, res] of [
    ['ndjson', await fitNdjson(a, set, query)],
    ['binary', await fitBinary(a, set, query)],
  ] as const) {
    t.equal(res.statusCode, 200, `${name}: ${res.body.slice(0, 300)}`)
    const q = res.json()
    t.equal(q.gamma, json.gamma, `${name}: same γ`)
    t.same(q.constraints, json.constraints, `${name}: same floors`)
    t.same(q.metrics, json.metrics, `${name}: same metrics, reference included`)
    t.same(q.conformal, json.conformal, `${name}: same conformal fit`)
    t.same(q.reference, { model: 'tiny-ref', version: 1 })
  }

  const group = await fitNdjson(a, set, 'conformal_alpha=0.2&conformal_by=group')
  t.equal(group.statusCode, 200, group.body)
  const g = group.json()
  t.match(g.conformal, { alpha: 0.2, score: 'lac', by: 'group' })
  t.same(g.calibration.conformal, { alpha: 0.2, score: 'lac', by: 'group', qhat_s: g.conformal.qhat_s, qhat_u: g.conformal.qhat_u })
})

t.test('alg_samples "all": the released ALG, over JSON and query, stored in the record', async (t) => {
  const a = await app(t)
  const set = makeSet(50, 29)
  // γ = mean over all samples of (mean of the S logits other than the label's) − mean over all samples of (mean of the U logits).
  let s = 0
  let u = 0
  set.inputs.forEach((x, i) => {
    const z = linearLogits(weights, x)
    const y = LABELS.indexOf(set.labels[i]!)
    const others = [0, 1].filter((j) => j !== y)
    s += others.reduce((acc, j) => acc + z[j]!, 0) / others.length
    u += (z[2]! + z[3]!) / 2
  })
  const expected = (s - u) / set.inputs.length
  const res = await fitJson(a, { ...set, method: 'alg', alg_samples: 'all' })
  t.equal(res.statusCode, 200, res.body)
  const fit = res.json()
  t.ok(Math.abs(fit.gamma - expected) < 1e-12, `γ ${fit.gamma} vs ${expected}`)
  t.equal(fit.alg_samples, 'all')
  t.equal(fit.n_ignored, 0, 'every sample is used')
  t.equal(fit.calibration.alg_samples, 'all')
  const q = await fitNdjson(a, set, 'method=alg&alg_samples=all')
  t.equal(q.statusCode, 200, q.body)
  t.equal(q.json().gamma, fit.gamma)
  t.equal(q.json().calibration.alg_samples, 'all')
  const plain = (await fitJson(a, { ...set, method: 'alg' })).json()
  t.equal(plain.alg_samples, 'fine_tuning', 'the default is the paper text’s ALG')
  t.equal(plain.calibration.alg_samples, 'fine_tuning')
})

t.test('bad input is a 400 naming the problem, and stores nothing', async (t) => {
  const a = await app(t)
  const set = makeSet(40, 3)
  const sOnly = makeSet(30, 5, [0, 1])
  const cases: Array<[string, () => ReturnType<typeof fitJson>, RegExp, string?]> = [
    ['alpha 0', () => fitJson(a, { ...set, conformal: { alpha: 0 } }), /alpha/],
    ['alpha 1', () => fitJson(a, { ...set, conformal: { alpha: 1 } }), /alpha/],
    ['alpha 1.5 in the query', () => fitNdjson(a, set, 'conformal_alpha=1.5'), /conformal_alpha/],
    ['alpha -0.1 in the query', () => fitNdjson(a, set, 'conformal_alpha=-0.1'), /conformal_alpha/],
    ['unknown score', () => fitJson(a, { ...set, conformal: { alpha: 0.1, score: 'raps' } }), /score/],
    ['unknown score in the query', () => fitNdjson(a, set, 'conformal_alpha=0.1&conformal_score=raps'), /conformal_score/],
    ['by group with aps', () => fitJson(a, { ...set, conformal: { alpha: 0.1, score: 'aps', by: 'group' } }), /group.*lac/],
    ['by group with aps in the query', () => fitNdjson(a, set, 'conformal_alpha=0.1&conformal_score=aps&conformal_by=group'), /group.*lac/],
    ['a score without alpha in the query', () => fitNdjson(a, set, 'conformal_score=aps'), /needs conformal_alpha/],
    ['an unknown conformal field', () => fitJson(a, { ...set, conformal: { alpha: 0.1, beta: 1 } }), /beta|unrecognized/i],
    ['a reference with other labels', () => fitJson(a, { ...set, reference_model: 'tiny-other' }), /other labels.*lacks fish.*has horse/],
    ['a reference with other labels in the query', () => fitNdjson(a, set, 'reference_model=tiny-other'), /other labels/],
    [
      'a reference with other labels, as a job: refused before any job or inference',
      () => fitJson(a, { ...set, async: true, reference_model: 'tiny-other' }),
      /other labels/,
    ],
    ['a reference that is not served', () => fitJson(a, { ...set, reference_model: 'nope' }), /reference_model 'nope'.*not in the repository/],
    ['a floor on a side the set has no samples of', () => fitJson(a, { ...sOnly, constraints: { min_acc_u_y: 0.5 } }), /no samples labelled/],
    [
      'a reference floor on a side the set has no samples of',
      () => fitNdjson(a, sOnly, 'reference_model=tiny-ref&min_acc_u_y=reference'),
      /no samples labelled in an absent class/,
    ],
    ['"reference" without reference_model', () => fitJson(a, { ...set, constraints: { min_acc_s_y: 'reference' } }), /needs reference_model/],
    ['"reference" without reference_model in the query', () => fitNdjson(a, set, 'min_acc_u_y=reference'), /needs reference_model/],
    ['a floor above 1', () => fitJson(a, { ...set, constraints: { min_acc_s_y: 1.5 } }), /min_acc_s_y/],
    ['a floor that is not a number in the query', () => fitNdjson(a, set, 'min_acc_s_y=high'), /min_acc_s_y/],
    ['an unknown floor', () => fitJson(a, { ...set, constraints: { min_acc_y_y: 0.5 } }), /min_acc_y_y|unrecognized/i],
    ['constraints with alg', () => fitJson(a, { ...set, method: 'alg', constraints: { min_acc_s_y: 0.5 } }), /sweep/],
    ['alg_samples with sweep', () => fitNdjson(a, set, 'alg_samples=all'), /alg_samples/],
    ['an unknown alg_samples', () => fitJson(a, { ...set, method: 'alg', alg_samples: 'some' }), /alg_samples/],
    ['infeasible floors', () => fitJson(a, { ...set, constraints: { min_acc_s_y: 1, min_acc_u_y: 1 } }), /no γ meets/, 'CALSERVE_INFEASIBLE'],
  ]
  for (const [name, send, message, code = 'CALSERVE_BAD_INPUT'] of cases) {
    const res = await send()
    t.equal(res.statusCode, 400, `${name}: ${res.body.slice(0, 300)}`)
    t.equal(res.json().error.code, code, name)
    t.match(res.json().error.message, message, name)
  }
  t.equal(await versions(a), 0, 'nothing was stored')
})

t.test('an infeasible floor names the floor and the best attainable value; a reference floor says so', async (t) => {
  const a = await app(t)
  const set = makeSet(40, 3)
  const res = await fitJson(a, { ...set, constraints: { min_acc_s_y: 1, min_acc_u_y: 1 } })
  t.equal(res.statusCode, 400)
  const { error } = res.json()
  t.equal(error.code, 'CALSERVE_INFEASIBLE')
  t.match(error.details, { field: /^constraints\.min_acc_[su]_y$/, floor: /^min_acc_[su]_y$/, value: 1 })
  t.ok(error.details.best < 1, `best attainable ${error.details.best}`)
  t.match(error.message, new RegExp(`${error.details.floor} = 1.*best.*${String(error.details.best).slice(0, 6)}`))
  t.equal(await versions(a), 0)
})

t.test('as a job: the reference runs beside the fit model, and the job result carries its metrics', async (t) => {
  const a = await app(t)
  const set = makeSet(50, 17)
  const ref = await expectedReference(a, set)
  const res = await fitJson(a, { ...set, async: true, reference_model: 'tiny-ref', conformal: { alpha: 0.2 } })
  t.equal(res.statusCode, 202, res.body)
  let job: { state: string; result?: { metrics: { reference: unknown }; calibration: { reference: unknown; conformal: unknown } } }
  do {
    await new Promise((r) => setTimeout(r, 20))
    job = (await a.inject({ url: res.json().location })).json()
  } while (job.state === 'queued' || job.state === 'running')
  t.equal(job.state, 'succeeded', JSON.stringify(job).slice(0, 300))
  t.same(job.result!.metrics.reference, ref)
  t.same(job.result!.calibration.reference, { model: 'tiny-ref', version: 1, metrics: ref })
  t.match(job.result!.calibration.conformal, { alpha: 0.2, score: 'lac', by: 'marginal' })
})
