import t from 'tap'
import { ece, fitCalibration, fitConformal, metricsAt, nll, prepare } from '../../src/calibration/index.js'
import { ex, L, labelsOf, mask, throwsField } from './fixtures/helpers.js'

const opts = { method: 'sweep', objective: 'accuracy', fitTemperature: false, active: { gamma: 0, temperature: 1 } } as const

t.test('sweep report on the running example', async (t) => {
  const r = fitCalibration(ex.logits, ex.labels, ex.absent, { ...opts, active: { gamma: 1.5, temperature: 1 } })
  const p = prepare(ex.logits, ex.labels, ex.absent)
  t.equal(r.gamma, 0.5) // see fit.test.ts
  t.equal(r.temperature, 1)
  t.same(
    { m: r.method, o: r.objective, n: r.n_samples, s: r.n_fine_tuning, u: r.n_absent, i: r.n_ignored },
    { m: 'sweep', o: 'accuracy', n: 5, s: 3, u: 2, i: 0 },
  )
  t.same(r.metrics.uncalibrated, metricsAt(p, 0))
  t.same(r.metrics.active, metricsAt(p, 1.5))
  t.same(r.metrics.fitted, metricsAt(p, 0.5))
  t.equal(r.metrics.fitted.nll, undefined)
  t.equal(r.curve.length, 5)
})

t.test('nll/ece appear when a temperature is fitted or active', async (t) => {
  const r = fitCalibration(ex.logits, ex.labels, ex.absent, { ...opts, fitTemperature: true })
  t.ok(r.temperature > 0 && r.temperature !== 1)
  const cal = { gamma: r.gamma, temperature: r.temperature }
  t.equal(r.metrics.fitted.nll, nll(prepare(ex.logits, ex.labels, ex.absent), cal))
  t.equal(r.metrics.fitted.ece, ece(prepare(ex.logits, ex.labels, ex.absent), cal))
  t.equal(r.metrics.uncalibrated.nll, nll(prepare(ex.logits, ex.labels, ex.absent), { gamma: 0, temperature: 1 }))
  t.type(r.metrics.active.ece, 'number')
  // fitted T minimises NLL at the fitted γ: beats T = 1
  t.ok(r.metrics.fitted.nll! <= nll(prepare(ex.logits, ex.labels, ex.absent), { gamma: r.gamma, temperature: 1 }))
  const s = fitCalibration(ex.logits, ex.labels, ex.absent, { ...opts, active: { gamma: 0, temperature: 2 } })
  t.equal(s.temperature, 1)
  t.type(s.metrics.active.nll, 'number')
  t.type(s.metrics.fitted.ece, 'number')
})

t.test('alg report counts ignored samples and works without U labels', async (t) => {
  const r = fitCalibration(ex.logits, ex.labels, ex.absent, { ...opts, method: 'alg' })
  // S-labelled A, B, E: other-S logit means 0, 0, 1 → 1/3; U means 0.5, 0.5, 1.5 → 5/6; γ = −1/2
  t.ok(Math.abs(r.gamma - (1 / 3 - 5 / 6)) < 1e-15)
  t.equal(r.n_ignored, 2)
  t.equal(r.method, 'alg')
  const onlyS = fitCalibration(L([[3, 0, 1, 0], [0, 2, 0, 1]]), labelsOf([0, 1]), ex.absent, { ...opts, method: 'alg' })
  t.equal(onlyS.n_absent, 0)
  t.equal(onlyS.metrics.fitted.acc_u_y, null)
  t.equal(onlyS.metrics.fitted.ausuc, null)
})

t.test('report errors', async (t) => {
  throwsField(t, () => fitCalibration(ex.logits, ex.labels, ex.absent, { ...opts, method: 'grid' as never }), 'method')
  throwsField(t, () => fitCalibration(ex.logits, ex.labels, ex.absent, { ...opts, objective: 'f1' as never }), 'objective')
  throwsField(t, () => fitCalibration(L([[1, 0]]), labelsOf([0]), mask([0, 0]), { ...opts, method: 'alg' }), 'model')
  throwsField(t, () => fitCalibration(L([[3, 0, 1, 0]]), labelsOf([0]), ex.absent, opts), 'labels', /absent classes \(U\)/)
  t.throws(() => fitCalibration(ex.logits, ex.labels, ex.absent, { ...opts, active: { gamma: 0, temperature: -1 } }), RangeError)
})

t.test('optional parts of the report appear only when asked for', async (t) => {
  const plain = fitCalibration(ex.logits, ex.labels, ex.absent, opts)
  for (const key of ['temperature_bound', 'alg_samples', 'constraints', 'conformal']) t.notOk(key in plain, `no ${key}`)
  const r = fitCalibration(ex.logits, ex.labels, ex.absent, { ...opts, fitTemperature: true, conformal: { alpha: 0.3, score: 'aps' } })
  const p = prepare(ex.logits, ex.labels, ex.absent)
  t.same(r.conformal, fitConformal(p, { gamma: r.gamma, temperature: r.temperature }, { alpha: 0.3, score: 'aps' }), 'conformal at the fitted γ and T')
  t.equal(r.temperature_bound, null)
})
