import t from 'tap'
import { addBias, predict } from '../../src/calibration/index.js'
import { L, mask } from './fixtures/helpers.js'

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
const E = Math.exp

// S = {0, 1}, U = {2, 3}. Row z = [2, 1, 0.5, 1.5]: sIdx = 0, uIdx = 3, gap g = 2 − 1.5 = 0.5.
const absent4 = mask([0, 0, 1, 1])
const row = L([[2, 1, 0.5, 1.5]])

t.test('predict without γ is the plain argmax with softmax scores', async (t) => {
  const [p] = predict(row, absent4, { gamma: 0, temperature: 1 }, 4)
  t.equal(p!.index, 0)
  // softmax([2, 1, 0.5, 1.5]) at 0: e^2 / (e^2 + e^1 + e^0.5 + e^1.5) = 7.389056 / 16.237748 = 0.455054
  const den = E(2) + E(1) + E(0.5) + E(1.5)
  t.ok(Math.abs(p!.score - E(2) / den) < 1e-15)
  t.ok(Math.abs(p!.score - 0.455054) < 1e-6)
  t.same(p!.top_k.map((c) => c.index), [0, 3, 1, 2])
  t.ok(Math.abs(sum(p!.top_k.map((c) => c.score)) - 1) < 1e-15)
})

t.test('predict with γ above the gap switches to the best absent class', async (t) => {
  // γ = 1 > g = 0.5: calibrated [2, 1, 1.5, 2.5] → class 3; order 3 (2.5), 0 (2), 2 (1.5), 1 (1)
  const [p] = predict(row, absent4, { gamma: 1, temperature: 1 }, 4)
  t.equal(p!.index, 3)
  t.same(p!.top_k.map((c) => c.index), [3, 0, 2, 1])
  const den = E(2) + E(1) + E(1.5) + E(2.5)
  t.ok(Math.abs(p!.score - E(2.5) / den) < 1e-15)
  t.same(p!.top_k.map((c) => c.index)[0], p!.index)
  // γ = 0.4 < g: still class 0
  t.equal(predict(row, absent4, { gamma: 0.4, temperature: 1 }, 1)[0]!.index, 0)
})

t.test('a tie exactly at γ === g goes to the lower index, in top-k too', async (t) => {
  // γ = 0.5 = g: calibrated [2, 1, 1, 2] → tie 0/3 → 0; tie 1/2 → 1 first
  const [p] = predict(row, absent4, { gamma: 0.5, temperature: 1 }, 4)
  t.equal(p!.index, 0)
  t.same(p!.top_k.map((c) => c.index), [0, 3, 1, 2])
  t.equal(p!.top_k[0]!.score, p!.top_k[1]!.score)
  // Lower index of U wins when the absent class comes first: S = {1}, U = {0}, z = [3, 1], g = 1 − 3 = −2
  const [q] = predict(L([[3, 1]]), mask([1, 0]), { gamma: 0, temperature: 1 }, 2)
  t.equal(q!.index, 0)
  // ties inside a group: z = [1, 1, 0, 0] → sIdx = 0, uIdx = 2, g = 1; γ = 1 → tie → 0; γ = 1.5 → 2
  const r = L([[1, 1, 0, 0]])
  t.equal(predict(r, absent4, { gamma: 1, temperature: 1 }, 1)[0]!.index, 0)
  t.equal(predict(r, absent4, { gamma: 1.5, temperature: 1 }, 1)[0]!.index, 2)
  t.same(predict(r, absent4, { gamma: 1, temperature: 1 }, 4)[0]!.top_k.map((c) => c.index), [0, 1, 2, 3])
  t.same(predict(r, absent4, { gamma: 1.5, temperature: 1 }, 4)[0]!.top_k.map((c) => c.index), [2, 3, 0, 1])
})

t.test('plain argmax when the model has no absent (or no fine-tuning) classes', async (t) => {
  t.equal(predict(L([[0, 3, 3]]), mask([0, 0, 0]), { gamma: 5, temperature: 1 }, 1)[0]!.index, 1)
  t.equal(predict(L([[0, 3, 3]]), mask([1, 1, 1]), { gamma: -5, temperature: 1 }, 1)[0]!.index, 1)
  const [p] = predict(L([[0, 3, 3]]), mask([1, 1, 1]), { gamma: 1e300, temperature: 1 }, 3)
  // all three classes shifted by the same γ: softmax([0, 3, 3]) = [1, e^3, e^3]/(1 + 2e^3)
  t.ok(Math.abs(p!.score - E(3) / (1 + 2 * E(3))) < 1e-15)
})

t.test('temperature changes scores, never the prediction', async (t) => {
  // γ = 1, T = 2: softmax([2, 1, 1.5, 2.5]/2) = softmax([1, 0.5, 0.75, 1.25])
  const [p] = predict(row, absent4, { gamma: 1, temperature: 2 }, 4)
  t.equal(p!.index, 3)
  const den = E(1) + E(0.5) + E(0.75) + E(1.25)
  t.ok(Math.abs(p!.score - E(1.25) / den) < 1e-15)
  t.ok(Math.abs(p!.top_k[1]!.score - E(1) / den) < 1e-15)
  t.same(p!.top_k.map((c) => c.index), [3, 0, 2, 1])
})

t.test('very large |γ|: exact argmax, finite scores summing to 1, absent order kept', async (t) => {
  // S = {0, 1}, U = {2, 3, 4}; z = [5, 4, 1, 3, 2]: sIdx = 0, uIdx = 3 (z = 3), g = 2.
  const a = mask([0, 0, 1, 1, 1])
  const z = L([[5, 4, 1, 3, 2]])
  // In float32, 1e8 + 1, 1e8 + 3, 1e8 + 2 all round to 1e8 (ulp 8): adding γ first would tie them
  // and pick class 2. Comparing the gap keeps class 3.
  t.equal(Math.fround(1e8 + 1), Math.fround(1e8 + 3))
  for (const gamma of [1e6, 1e8, 1e300, Number.MAX_VALUE]) {
    const [p] = predict(z, a, { gamma, temperature: 1 }, 5)
    t.equal(p!.index, 3, `γ = ${gamma}`)
    t.same(p!.top_k.map((c) => c.index), [3, 4, 2, 0, 1], `order at γ = ${gamma}`)
    const scores = p!.top_k.map((c) => c.score)
    t.ok(scores.every(Number.isFinite))
    t.ok(Math.abs(sum(scores) - 1) < 1e-15)
    // Only U carries mass: softmax over [1, 3, 2] for classes 2, 3, 4
    t.ok(Math.abs(p!.score - E(3) / (E(1) + E(3) + E(2))) < 1e-15)
    t.equal(p!.top_k[3]!.score, 0)
  }
  for (const gamma of [-1e6, -1e300, -Number.MAX_VALUE]) {
    const [p] = predict(z, a, { gamma, temperature: 0.001 }, 5)
    t.equal(p!.index, 0)
    t.same(p!.top_k.map((c) => c.index), [0, 1, 3, 4, 2])
    t.ok(p!.top_k.every((c) => Number.isFinite(c.score)))
    // softmax([5, 4]/0.001): e^-1000 underflows to 0, so class 0 gets 1
    t.equal(p!.score, 1)
  }
  // γ = 1e6 with T = 1e6: calibrated/T = [5e-6, 4e-6, 1 + 1e-6, 1 + 3e-6, 1 + 2e-6] (relative to U top)
  const [p] = predict(z, a, { gamma: 1e6, temperature: 1e6 }, 5)
  const w = [5, 4, 1e6 + 1, 1e6 + 3, 1e6 + 2].map((v) => (v - (1e6 + 3)) / 1e6)
  const den = sum(w.map(E))
  t.ok(Math.abs(p!.score - 1 / den) < 1e-12)
})

t.test('top-k: k clamps to C, multiple rows', async (t) => {
  const ps = predict(L([[2, 1, 0.5, 1.5], [0, 0, 0, 1]]), absent4, { gamma: 0, temperature: 1 }, 10)
  t.equal(ps.length, 2)
  t.equal(ps[0]!.top_k.length, 4)
  t.same(ps[1]!.top_k.map((c) => c.index), [3, 0, 1, 2])
  t.same(predict(row, absent4, { gamma: 0, temperature: 1 }, 2)[0]!.top_k.map((c) => c.index), [0, 3])
  t.same(predict(L([]), absent4.subarray(0, 1), { gamma: 0, temperature: 1 }, 1), [])
})

t.test('argument errors', async (t) => {
  t.throws(() => predict(row, absent4, { gamma: 0, temperature: 1 }, 0), RangeError)
  t.throws(() => predict(row, absent4, { gamma: 0, temperature: 0 }, 1), RangeError)
  t.throws(() => predict(row, absent4, { gamma: NaN, temperature: 1 }, 1), RangeError)
  t.throws(() => predict(row, mask([0, 1]), { gamma: 0, temperature: 1 }, 1), RangeError)
  t.throws(() => predict({ data: new Float32Array(5), n: 1, c: 4 }, absent4, { gamma: 0, temperature: 1 }, 1), RangeError)
  t.throws(() => predict(L([[0, NaN, 0, 0]]), absent4, { gamma: 0, temperature: 1 }, 1), /logits\[0\]\[1\] = NaN/)
  t.throws(() => predict(L([[0, 0, Infinity, 0]]), absent4, { gamma: 0, temperature: 1 }, 1), /not finite/)
})

t.test('addBias adds γ to absent columns in place', async (t) => {
  const d = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8])
  addBias(d, 4, mask([0, 1, 0, 1]), 0.5)
  t.same([...d], [1, 2.5, 3, 4.5, 5, 6.5, 7, 8.5])
  t.throws(() => addBias(d, 3, mask([0, 1, 0]), 1), RangeError)
  t.throws(() => addBias(d, 4, mask([0, 1, 0]), 1), RangeError)
})
