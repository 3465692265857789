import t from 'tap'
import { alg, fitTemperature, metricsAt, nll, prepare, sweep } from '../../src/calibration/index.js'
import type { Logits } from '../../src/calibration/index.js'
import { ex, L, labelsOf, mask, near, throwsField } from './fixtures/helpers.js'

// The fitted T of a fresh prepared set (fitTemperature takes the prepared set).
const fitT = (z: Logits, y: Int32Array, m: Uint8Array, gamma: number) => fitTemperature(prepare(z, y, m), gamma).temperature

t.test('sweep on the running example, all three objectives', async (t) => {
  const p = prepare(ex.logits, ex.labels, ex.absent)
  // Acc_Y/Y by interval: 2/5, 2/5, 3/5, 3/5, 2/5 → best (−1, 1) ∪ (1, 2) = (−1, 2), midpoint 0.5
  const a = sweep(p, 'accuracy')
  t.same(a, { gamma: 0.5, value: 3 / 5, interval: [-1, 2] })
  // harmonic mean: 0, 0, 4/7, 1/2, 0 → (−1, 1), midpoint 0
  const h = sweep(p, 'harmonic_mean')
  t.same(h.interval, [-1, 1])
  t.equal(h.gamma, 0)
  near(t, h.value, 4 / 7)
  // balanced: 3/8, 3/8, 5/8, 5/8, 1/2 → (−1, 2)
  const b = sweep(p, 'balanced_accuracy')
  t.same(b.interval, [-1, 2])
  t.equal(b.gamma, 0.5)
  near(t, b.value, 5 / 8)
  for (const r of [a, h, b]) t.ok(r.gamma > r.interval[0] && r.gamma < r.interval[1])
})

t.test('sweep: nearest-to-0 best interval, unbounded ends, the whole line', async (t) => {
  // S = {0}, U = {1}, z = [g, 0]. Two U-labelled samples right above −5 and −4,
  // two S-labelled samples right below 3 and 4.
  //   (−∞,−5) 2/4, (−5,−4) 3/4, (−4,3) 4/4, (3,4) 3/4, (4,∞) 2/4 → (−4, 3), midpoint −0.5
  const a = mask([0, 1])
  const p = prepare(L([[-5, 0], [-4, 0], [3, 0], [4, 0]]), labelsOf([1, 1, 0, 0]), a)
  t.same(sweep(p, 'accuracy'), { gamma: -0.5, value: 1, interval: [-4, 3] })
  // Best intervals on both sides of 0: U sample right above 2 and S sample right below −2 and
  // a third sample right in (−∞, −3) … keep it simple: two runs (−∞, −3) and (5, ∞) tie; the
  // one nearer 0 is (−∞, −3) (distance 3 < 5) → −3 − 1 = −4.
  //   samples: S y=0 g=−3 (right below −3); U y=1 g=5 (right above 5)
  //   (−∞,−3): 1/2, (−3,5): 0, (5,∞): 1/2
  const q = prepare(L([[-3, 0], [5, 0]]), labelsOf([0, 1]), a)
  t.same(sweep(q, 'accuracy'), { gamma: -4, value: 0.5, interval: [-Infinity, -3] })
  // mirrored, (−∞, −5) vs (3, ∞): the upper one is nearer → 3 + 1 = 4
  const r = prepare(L([[-5, 0], [3, 0]]), labelsOf([0, 1]), a)
  t.same(sweep(r, 'accuracy'), { gamma: 4, value: 0.5, interval: [3, Infinity] })
  // equal distance (−∞, −3) vs (3, ∞): the lower one
  const s = prepare(L([[-3, 0], [3, 0]]), labelsOf([0, 1]), a)
  t.same(sweep(s, 'accuracy'), { gamma: -4, value: 0.5, interval: [-Infinity, -3] })
  // flat objective: every interval 1/2 → the whole line, γ = 0
  //   S y=0 g=1 right below 1; U y=1 g=1 right above 1 (same breakpoint): 1/2 everywhere
  const f = prepare(L([[1, 0], [1, 0]]), labelsOf([0, 1]), a)
  t.same(sweep(f, 'accuracy'), { gamma: 0, value: 0.5, interval: [-Infinity, Infinity] })
})

t.test('sweep never returns a breakpoint inside its interval', async (t) => {
  // S = {1, 2}, U = {0, 3} (absent = [1, 0, 0, 1]):
  //   P y=1 (S) z=[0, 1, −5, −5]: sIdx 1 ✓, uIdx 0, g=1; at γ=1 tie → min(1,0)=0 ✗
  //   Q y=3 (U) z=[−5, 2, −5, 1]: sIdx 1, uIdx 3 ✓, g=1; at γ=1 tie → 1 ✗
  //   R y=0 (U) z=[1, −5, 1, −5]: sIdx 2, uIdx 0 ✓, g=0
  //   T y=1 (S) z=[0, 2, −5, −5]: sIdx 1 ✓, uIdx 0, g=2
  // (−∞,0): P T = 2/4; (0,1): P R T = 3/4; (1,2): Q R T = 3/4; (2,∞): Q R = 2/4; at γ=1 only R T.
  // The merged best interval (0, 2) has midpoint 1 = a breakpoint worth 2/4, so the sweep takes
  // the constituent (0, 1) → 0.5 instead.
  const p = prepare(
    L([[0, 1, -5, -5], [-5, 2, -5, 1], [1, -5, 1, -5], [0, 2, -5, -5]]),
    labelsOf([1, 3, 0, 1]),
    mask([1, 0, 0, 1]),
  )
  t.equal(metricsAt(p, 1).acc_y_y, 0.5)
  const r = sweep(p, 'accuracy')
  t.same(r, { gamma: 0.5, value: 0.75, interval: [0, 2] })
  t.equal(metricsAt(p, r.gamma).acc_y_y, r.value)
})

t.test('sweep errors name the missing side', async (t) => {
  const allS = prepare(L([[3, 0, 1, 0], [0, 2, 0, 1]]), labelsOf([0, 1]), ex.absent)
  throwsField(t, () => sweep(allS, 'accuracy'), 'labels', /no samples labelled in absent classes \(U\).*"alg"/)
  const allU = prepare(L([[1, 0, 0, 2]]), labelsOf([3]), ex.absent)
  throwsField(t, () => sweep(allU, 'harmonic_mean'), 'labels', /no samples labelled in fine-tuning classes \(S\).*"alg"/)
  const noU = prepare(L([[1, 0]]), labelsOf([0]), mask([0, 0]))
  throwsField(t, () => sweep(noU, 'accuracy'), 'model', /no absent classes/)
  const noS = prepare(L([[1, 0]]), labelsOf([0]), mask([1, 1]))
  throwsField(t, () => sweep(noS, 'accuracy'), 'model', /no fine-tuning classes/)
  const p = prepare(ex.logits, ex.labels, ex.absent)
  throwsField(t, () => sweep(p, 'f1' as never), 'objective', /unknown objective "f1"/)
})

t.test('alg by hand', async (t) => {
  // S = {0, 1, 2}, U = {3, 4}
  //   y=0 z=[4, 1, 2, 0, 1]:  other S (1+2)/2 = 1.5   U (0+1)/2 = 0.5
  //   y=2 z=[0, 3, 5, 2, −1]: other S (0+3)/2 = 1.5   U (2−1)/2 = 0.5
  //   y=1 z=[1, 6, −1, 1, 0]: other S (1−1)/2 = 0     U (1+0)/2 = 0.5
  //   y=4 z=[9, …]: labelled in U, ignored
  // γ = (1.5 + 1.5 + 0)/3 − (0.5 + 0.5 + 0.5)/3 = 1 − 0.5 = 0.5
  const a = mask([0, 0, 0, 1, 1])
  const z = L([[4, 1, 2, 0, 1], [0, 3, 5, 2, -1], [1, 6, -1, 1, 0], [9, 9, 9, 9, 9]])
  t.same(alg(prepare(z, labelsOf([0, 2, 1, 4]), a)), { gamma: 0.5, n_used: 3, n_ignored: 1 })
  // no U-labelled samples needed
  const z3 = L([[4, 1, 2, 0, 1], [0, 3, 5, 2, -1], [1, 6, -1, 1, 0]])
  t.same(alg(prepare(z3, labelsOf([0, 2, 1]), a)), { gamma: 0.5, n_used: 3, n_ignored: 0 })
  // errors
  throwsField(t, () => alg(prepare(L([[9, 9, 9, 9, 9]]), labelsOf([4]), a)), 'labels', /no(ne)?/)
  throwsField(t, () => alg(prepare(L([[1, 0, 0]]), labelsOf([0]), mask([0, 1, 1]))), 'method', /at least 2 fine-tuning classes/)
  throwsField(t, () => alg(prepare(L([[1, 0]]), labelsOf([0]), mask([0, 0]))), 'model', /no absent classes/)
})

t.test('temperature fit recovers a known optimum', async (t) => {
  // S = {0}, U = {1}, γ = 0.5, z = [a, 0] for all 4 samples, 3 labelled 0 and 1 labelled 1.
  // Calibrated w = [a, 0.5]; the mean NLL is minimal where σ(β(a − 0.5)) = 3/4, i.e.
  // β(a − 0.5) = ln 3, so T* = (a − 0.5)/ln 3. With a = fround(0.5 + 2 ln 3), T* ≈ 2.
  const a = Math.fround(0.5 + 2 * Math.log(3))
  const z = L([[a, 0], [a, 0], [a, 0], [a, 0]])
  const y = labelsOf([0, 0, 0, 1])
  const m = mask([0, 1])
  const T = fitT(z, y, m, 0.5)
  near(t, T, (a - 0.5) / Math.log(3), 1e-10)
  near(t, T, 2, 1e-6)
  // NLL is larger on both sides
  const at = (temperature: number) => nll(prepare(z, y, m), { gamma: 0.5, temperature })
  t.ok(at(T * (1 + 1e-4)) > at(T) && at(T * (1 - 1e-4)) > at(T))
})

t.test('temperature fit: derivative ≈ 0 on a mixed set; clamps at the bracket', async (t) => {
  const z = L([[2, 1, 0.5, 1.5], [0, 1, 3, -1], [1, 1, 1, 2], [3, -2, 0, 0.5], [0.2, 0.1, 0.4, 0.3]])
  const y = labelsOf([0, 2, 3, 1, 2])
  const gamma = 0.3
  const T = fitT(z, y, ex.absent, gamma)
  const f = (temperature: number) => nll(prepare(z, y, ex.absent), { gamma, temperature })
  // d NLL / dβ by central difference at β = 1/T
  const beta = 1 / T
  const h = 1e-5
  const deriv = (f(1 / (beta + h)) - f(1 / (beta - h))) / (2 * h)
  t.ok(Math.abs(deriv) < 1e-8, `dNLL/dβ = ${deriv}`)
  t.ok(f(T * 1.001) > f(T) && f(T * 0.999) > f(T))
  // perfectly separated with margin: NLL keeps falling as T → 0 → clamp to 1e-3
  t.equal(fitT(L([[5, 0], [6, 0]]), labelsOf([0, 0]), mask([0, 1]), 0), 1e-3)
  // every label against the model: NLL falls as T → ∞ → clamp to 1e3
  t.equal(fitT(L([[5, 0], [6, 0]]), labelsOf([1, 1]), mask([0, 1]), 0), 1e3)
  // huge γ stays finite
  const big = fitT(z, y, ex.absent, 1e300)
  t.ok(Number.isFinite(big) && big > 0)
  throwsField(t, () => fitT({ data: new Float32Array(0), n: 0, c: 4 }, labelsOf([]), ex.absent, 0), 'labels')
})
