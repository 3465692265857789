// The constrained sweep, the reference model's metrics and ALG's released variant.
import t from 'tap'
import fc from 'fast-check'
import { alg, CalibrationInputError, fitCalibration, InfeasibleConstraintError, metricsAt, prepare, referenceMetrics, sweep } from '../../src/calibration/index.js'
import type { Objective } from '../../src/calibration/index.js'
import { caseArb, hasBoth, RUNS } from './fixtures/cases.js'
import { bruteGaps, bruteMetrics, candidates, close, ex, L, labelsOf, mask, predsAt, throwsField } from './fixtures/helpers.js'

const OBJ: Array<[Objective, 'acc_y_y' | 'harmonic_mean' | 'balanced_accuracy']> = [
  ['accuracy', 'acc_y_y'],
  ['harmonic_mean', 'harmonic_mean'],
  ['balanced_accuracy', 'balanced_accuracy'],
]

t.test('constrained sweep on the running example', async (t) => {
  const p = prepare(ex.logits, ex.labels, ex.absent)
  // Acc_S/Y, Acc_U/Y by interval: (−∞,−2) 2/3 0; (−2,−1) 2/3 0; (−1,1) 2/3 1/2; (1,2) 1/3 1; (2,∞) 0 1.
  // Unconstrained accuracy: (−1, 2), γ = 0.5. Asking Acc_U/Y ≥ 1 leaves (1, 2) ∪ (2, ∞): accuracy
  // 3/5 on (1, 2) → γ = 1.5.
  t.same(sweep(p, 'accuracy', { min_acc_u_y: 1 }), { gamma: 1.5, value: 3 / 5, interval: [1, 2] })
  // Asking Acc_S/Y ≥ 2/3 leaves (−∞, 1): best (−1, 1), γ = 0
  t.same(sweep(p, 'accuracy', { min_acc_s_y: 2 / 3 }), { gamma: 0, value: 3 / 5, interval: [-1, 1] })
  // Both floors at once on the harmonic mean: only (1, 2) meets Acc_S/Y ≥ 1/3 and Acc_U/Y ≥ 1
  t.same(sweep(p, 'harmonic_mean', { min_acc_s_y: 1 / 3, min_acc_u_y: 1 }).interval, [1, 2])
  // floors of 0 change nothing
  t.same(sweep(p, 'accuracy', { min_acc_s_y: 0, min_acc_u_y: 0 }), sweep(p, 'accuracy'))
})

t.test('infeasible floors name the floor and the best attainable value', async (t) => {
  const p = prepare(ex.logits, ex.labels, ex.absent)
  const err = (fn: () => unknown) => {
    try {
      fn()
    } catch (e) {
      return e
    }
    return null
  }
  const a = err(() => sweep(p, 'accuracy', { min_acc_s_y: 0.9 }))
  t.ok(a instanceof InfeasibleConstraintError && a instanceof CalibrationInputError)
  t.match(a, { floor: 'min_acc_s_y', value: 0.9, best: 2 / 3, field: 'constraints.min_acc_s_y' })
  t.match((a as Error).message, /min_acc_s_y = 0\.9.*0\.666/)
  // each floor alone is attainable, together not: Acc_U/Y under Acc_S/Y ≥ 2/3 reaches 1/2 at most
  const b = err(() => sweep(p, 'accuracy', { min_acc_s_y: 2 / 3, min_acc_u_y: 1 }))
  t.match(b, { floor: 'min_acc_u_y', value: 1, best: 1 / 2 })
  // bad floors and floors on a side without samples
  throwsField(t, () => sweep(p, 'accuracy', { min_acc_u_y: 1.5 }), 'constraints.min_acc_u_y', /\[0, 1\]/)
  throwsField(t, () => sweep(p, 'accuracy', { min_acc_s_y: Number.NaN }), 'constraints.min_acc_s_y')
  const allS = prepare(L([[3, 0, 1, 0], [0, 2, 0, 1]]), labelsOf([0, 1]), ex.absent)
  throwsField(t, () => sweep(allS, 'accuracy', { min_acc_u_y: 0.5 }), 'constraints.min_acc_u_y', /absent classes \(U\).*no samples/)
  const allU = prepare(L([[1, 0, 0, 2]]), labelsOf([3]), ex.absent)
  throwsField(t, () => sweep(allU, 'accuracy', { min_acc_s_y: 0.5 }), 'constraints.min_acc_s_y', /fine-tuning classes \(S\)/)
  // through the report: constraints are sweep-only, and echoed when given
  const opts = { method: 'sweep', objective: 'accuracy', fitTemperature: false, active: { gamma: 0, temperature: 1 } } as const
  throwsField(t, () => fitCalibration(ex.logits, ex.labels, ex.absent, { ...opts, method: 'alg', constraints: {} }), 'constraints')
  const r = fitCalibration(ex.logits, ex.labels, ex.absent, { ...opts, constraints: { min_acc_u_y: 1 } })
  t.equal(r.gamma, 1.5)
  t.same(r.constraints, { min_acc_u_y: 1 })
  t.equal(r.metrics.fitted.acc_u_y, 1)
})

t.test('constrained sweep = brute force over every breakpoint interval', async (t) => {
  const floorArb = fc.option(fc.constantFrom(0, 0.2, 1 / 3, 0.5, 2 / 3, 0.75, 1), { nil: undefined })
  fc.assert(
    fc.property(caseArb(2).filter(hasBoth), floorArb, floorArb, (k, fs, fu) => {
      const p = prepare(k.logits, k.labels, k.absent)
      const cands = candidates(k.logits, k.absent)
      const brute = cands.map((g) => bruteMetrics(predsAt(k.logits, k.absent, g), k.labels, k.absent))
      const meets = (m: (typeof brute)[number]) => (fs === undefined || m.acc_s_y! >= fs) && (fu === undefined || m.acc_u_y! >= fu)
      const feasible = brute.filter(meets)
      for (const [obj, key] of OBJ) {
        const c = { min_acc_s_y: fs, min_acc_u_y: fu }
        if (feasible.length === 0) {
          try {
            sweep(p, obj, c)
          } catch (e) {
            if (!(e instanceof InfeasibleConstraintError)) throw e
            // best: the floor's metric over the intervals meeting the other floor (or all)
            const metric = e.floor === 'min_acc_s_y' ? 'acc_s_y' : 'acc_u_y'
            const others = brute.filter((m) => (e.floor === 'min_acc_s_y' ? true : fs === undefined || m.acc_s_y! >= fs))
            const best = Math.max(...others.map((m) => m[metric]!))
            if (e.best !== best || !(best < e.value)) throw new Error(`best ${e.best} vs ${best}`)
            continue
          }
          throw new Error('expected infeasible')
        }
        const r = sweep(p, obj, c)
        const best = Math.max(...feasible.map((m) => m[key]!))
        if (!close(r.value, best)) throw new Error(`${obj}: ${r.value} vs ${best}`)
        const at = bruteMetrics(predsAt(k.logits, k.absent, r.gamma), k.labels, k.absent)
        if (!meets(at)) throw new Error(`γ ${r.gamma} breaks a floor`)
        if (!close(at[key], r.value)) throw new Error('value at γ')
        if (metricsAt(p, r.gamma)[key] !== r.value) throw new Error('value differs from metricsAt')
        // the least change: when γ = 0 (off every breakpoint) is already best and feasible, the
        // chosen interval contains 0
        const at0 = bruteMetrics(predsAt(k.logits, k.absent, 0), k.labels, k.absent)
        const zeroIsBreakpoint = bruteGaps(k.logits, k.absent).includes(0)
        if (!zeroIsBreakpoint && meets(at0) && close(at0[key], best) && !(r.interval[0] < 0 && r.interval[1] > 0)) {
          throw new Error(`interval ${r.interval} misses 0`)
        }
      }
      // no constraints = the plain sweep
      for (const [obj] of OBJ) if (JSON.stringify(sweep(p, obj, {})) !== JSON.stringify(sweep(p, obj))) throw new Error('empty constraints')
    }),
    RUNS,
  )
  t.pass('constrained sweep = brute force')
})

t.test('reference metrics are the reference model at γ = 0 with its own AUSUC', async (t) => {
  fc.assert(
    fc.property(caseArb(0), (k) => {
      const r = referenceMetrics(k.logits, k.labels, k.absent)
      const b = bruteMetrics(predsAt(k.logits, k.absent, 0), k.labels, k.absent)
      for (const key of ['acc_s_y', 'acc_u_y', 'acc_y_y', 'harmonic_mean', 'balanced_accuracy'] as const) {
        if (!close(r[key], b[key])) throw new Error(key)
      }
      if (r.ausuc !== metricsAt(prepare(k.logits, k.labels, k.absent), 0).ausuc) throw new Error('ausuc')
      if (Object.keys(r).length !== 6) throw new Error('keys')
    }),
    RUNS,
  )
  t.pass('reference = brute force')
  // a reference value as a floor: "never below the reference on U"
  const ref = referenceMetrics(L([[0, 0, 1, 3], [0, 0, 3, 1], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]), ex.labels, ex.absent)
  const r = sweep(prepare(ex.logits, ex.labels, ex.absent), 'accuracy', { min_acc_u_y: ref.acc_u_y! })
  t.ok(metricsAt(prepare(ex.logits, ex.labels, ex.absent), r.gamma).acc_u_y! >= ref.acc_u_y!)
})

t.test('ALG "all" (the released code): means over every sample', async (t) => {
  // Running example, S = {0, 1}, U = {2, 3}:
  //   A y=0: other S 0,        U 0.5     B y=1: other S 0,   U 0.5
  //   C y=3: all S (1+0)/2 .5, U 1       D y=2: all S 1,     U 0.5
  //   E y=0: other S 1,        U 1.5
  // γ = (0 + 0 + 0.5 + 1 + 1)/5 − (0.5 + 0.5 + 1 + 0.5 + 1.5)/5 = 0.5 − 0.8
  const p = prepare(ex.logits, ex.labels, ex.absent)
  const r = alg(p, 'all')
  t.ok(Math.abs(r.gamma - (0.5 - 0.8)) < 1e-15)
  t.same({ u: r.n_used, i: r.n_ignored }, { u: 5, i: 0 })
  throwsField(t, () => alg(p, 'some' as never), 'alg_samples')
  const rep = fitCalibration(ex.logits, ex.labels, ex.absent, { method: 'alg', objective: 'accuracy', fitTemperature: false, active: { gamma: 0, temperature: 1 }, alg_samples: 'all' })
  t.equal(rep.gamma, r.gamma)
  t.equal(rep.alg_samples, 'all')
  t.equal(rep.n_ignored, 0)
  t.equal(fitCalibration(ex.logits, ex.labels, ex.absent, { method: 'alg', objective: 'accuracy', fitTemperature: false, active: { gamma: 0, temperature: 1 } }).alg_samples, 'fine_tuning')
  throwsField(t, () => fitCalibration(ex.logits, ex.labels, ex.absent, { method: 'sweep', objective: 'accuracy', fitTemperature: false, active: { gamma: 0, temperature: 1 }, alg_samples: 'all' }), 'alg_samples')
  // against a plain double loop on random sets
  fc.assert(
    fc.property(caseArb(1), (k) => {
      const { data, n, c } = k.logits
      let nS = 0
      for (const a of k.absent) if (!a) nS++
      if (nS < 2) return
      let sumS = 0
      let sumU = 0
      for (let i = 0; i < n; i++) {
        const y = k.labels[i]!
        let s = 0
        let u = 0
        for (let j = 0; j < c; j++) {
          if (k.absent[j]) u += data[i * c + j]!
          else if (j !== y) s += data[i * c + j]!
        }
        sumS += s / (k.absent[y] ? nS : nS - 1)
        sumU += u / (c - nS)
      }
      const got = alg(prepare(k.logits, k.labels, k.absent), 'all')
      if (!close(got.gamma, sumS / n - sumU / n, 1e-12)) throw new Error(`alg all ${got.gamma}`)
      if (got.n_used !== n) throw new Error('n_used')
    }),
    RUNS,
  )
})
