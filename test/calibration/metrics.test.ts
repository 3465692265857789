import t from 'tap'
import { CalibrationInputError, confidenceBin, ece, metricsAt, nll, prepare, seenAbsentCurve } from '../../src/calibration/index.js'
import { ex, L, labelsOf, mask, near, predsAt, throwsField } from './fixtures/helpers.js'

// The running example `ex` (five samples, S = {0, 1}, U = {2, 3}) is spelled out in fixtures/helpers.ts.

t.test('metrics at γ = 0 by hand', async (t) => {
  const m = metricsAt(prepare(ex.logits, ex.labels, ex.absent), 0)
  near(t, m.acc_s_y, 2 / 3)
  near(t, m.acc_u_y, 1 / 2)
  near(t, m.acc_y_y, 3 / 5)
  near(t, m.acc_s_s, 2 / 3)
  near(t, m.acc_u_u, 1)
  // 2·(2/3)(1/2)/(2/3 + 1/2) = (2/3)/(7/6) = 4/7
  near(t, m.harmonic_mean, 4 / 7)
  // recalls: class 0 (A ✓, E ✗) 1/2, class 1 (B) 1, class 2 (D) 0, class 3 (C) 1 → 2.5/4
  near(t, m.balanced_accuracy, 0.625)
  // AUSUC: trapezoids over (u, s): (0,2/3) (0,2/3) (1/2,2/3) (1,1/3) (1,0)
  //   = 1/2·(2/3 + 2/3)/2 + 1/2·(2/3 + 1/3)/2 = 1/3 + 1/4 = 7/12
  near(t, m.ausuc, 7 / 12)
  t.equal(m.nll, undefined)
})

t.test('metrics at other γ, including exactly on a shared breakpoint', async (t) => {
  const p = prepare(ex.logits, ex.labels, ex.absent)
  // γ = 1 = g of B and D: B ties 1 vs 3 → 1 ✓; D ties 0 vs 2 → 0 ✗. Same as (−1, 1).
  const m1 = metricsAt(p, 1)
  near(t, m1.acc_s_y, 2 / 3)
  near(t, m1.acc_u_y, 1 / 2)
  // γ = 1.5: A C D right. hm = 2(1/3)(1)/(4/3) = 1/2; recalls 1/2, 0, 1, 1 → 0.625
  const m = metricsAt(p, 1.5)
  near(t, m.acc_s_y, 1 / 3)
  near(t, m.acc_u_y, 1)
  near(t, m.acc_y_y, 3 / 5)
  near(t, m.harmonic_mean, 1 / 2)
  near(t, m.balanced_accuracy, 0.625)
  // γ = 3: only C, D; hm of 0 and 1 is 0 (defined, not null); recalls 0, 0, 1, 1 → 0.5
  const m3 = metricsAt(p, 3)
  t.equal(m3.acc_s_y, 0)
  t.equal(m3.harmonic_mean, 0)
  near(t, m3.balanced_accuracy, 0.5)
  // γ = −3: A, B; hm of 2/3 and 0 is 0; recalls 1/2, 1, 0, 0 → 0.375
  const mm = metricsAt(p, -3)
  t.equal(mm.acc_u_y, 0)
  t.equal(mm.harmonic_mean, 0)
  near(t, mm.balanced_accuracy, 0.375)
  // Acc_S/S, Acc_U/U and AUSUC do not depend on γ
  for (const g of [-1e300, -3, 0, 1, 1e300]) {
    const x = metricsAt(p, g)
    near(t, x.acc_s_s, 2 / 3)
    near(t, x.acc_u_u, 1)
    near(t, x.ausuc, 7 / 12)
  }
  t.throws(() => metricsAt(p, NaN), RangeError)
})

t.test('curve by hand: one point per interval, endpoints (Acc_S/S, 0) and (0, Acc_U/U)', async (t) => {
  const p = prepare(ex.logits, ex.labels, ex.absent)
  const { points, ausuc } = seenAbsentCurve(p)
  near(t, ausuc, 7 / 12)
  t.same(
    points.map((q) => q.gamma),
    [-3, -1.5, 0, 1.5, 3], // b1 − 1, midpoints of (−2,−1), (−1,1), (1,2), b4 + 1
  )
  t.same(
    points.map((q) => [q.acc_s_y, q.acc_u_y, q.acc_y_y]),
    [
      [2 / 3, 0, 2 / 5],
      [2 / 3, 0, 2 / 5],
      [2 / 3, 1 / 2, 3 / 5],
      [1 / 3, 1, 3 / 5],
      [0, 1, 2 / 5],
    ],
  )
  const m = metricsAt(p, 0)
  t.equal(points[0]!.acc_s_y, m.acc_s_s)
  t.equal(points[0]!.acc_u_y, 0)
  t.equal(points.at(-1)!.acc_s_y, 0)
  t.equal(points.at(-1)!.acc_u_y, m.acc_u_u)
})

t.test('curve subsampling keeps both ends and the kept γ; AUSUC from the full curve', async (t) => {
  const p = prepare(ex.logits, ex.labels, ex.absent)
  t.same(
    seenAbsentCurve(p, { maxPoints: 3 }).points.map((q) => q.gamma),
    [-3, 0, 3],
  )
  // keep γ = 1.7 (inside (1, 2)): 2 even slots (the ends) + the kept point
  const k = seenAbsentCurve(p, { maxPoints: 3, keep: [1.7] })
  t.same(
    k.points.map((q) => q.gamma),
    [-3, 1.5, 3],
  )
  t.ok(Math.abs(k.ausuc! - 7 / 12) < 1e-15)
  // a kept γ exactly on a breakpoint keeps both neighbours
  t.same(
    seenAbsentCurve(p, { maxPoints: 2, keep: [1] }).points.map((q) => q.gamma),
    [-3, 0, 1.5, 3],
  )
  t.throws(() => seenAbsentCurve(p, { maxPoints: 1 }), RangeError)
})

t.test('AUSUC by hand on 4 samples', async (t) => {
  // S = {0}, U = {1}; z = [a, 0] so g = a.
  //   y=0 with g=1, y=0 with g=3 (S side, both right below their g)
  //   y=1 with g=2, y=1 with g=−1 (U side, right above their g)
  // (u, s) by interval: (−∞,−1) (0, 1); (−1,1) (1/2, 1); (1,2) (1/2, 1/2); (2,3) (1, 1/2); (3,∞) (1, 0)
  // area = 1/2·(1+1)/2 + 0 + 1/2·(1/2+1/2)/2 + 0 = 1/2 + 1/4 = 3/4
  const p = prepare(
    L([
      [1, 0],
      [3, 0],
      [2, 0],
      [-1, 0],
    ]),
    labelsOf([0, 0, 1, 1]),
    mask([0, 1]),
  )
  const c = seenAbsentCurve(p)
  t.equal(c.ausuc, 0.75)
  t.same(
    c.points.map((q) => [q.gamma, q.acc_u_y, q.acc_s_y]),
    [
      [-2, 0, 1],
      [0, 0.5, 1],
      [1.5, 0.5, 0.5],
      [2.5, 1, 0.5],
      [4, 1, 0],
    ],
  )
})

t.test('null cases: all-S set, all-U set, one class, empty set, no absent classes', async (t) => {
  // all-S: A, B, E of the running example
  const allS = prepare(
    L([
      [3, 0, 1, 0],
      [0, 2, 0, 1],
      [0, 1, 0, 3],
    ]),
    labelsOf([0, 1, 0]),
    ex.absent,
  )
  const ms = metricsAt(allS, 0)
  t.equal(ms.acc_u_y, null)
  t.equal(ms.acc_u_u, null)
  t.equal(ms.harmonic_mean, null)
  t.equal(ms.ausuc, null)
  near(t, ms.acc_s_y, 2 / 3)
  near(t, ms.acc_y_y, 2 / 3)
  near(t, ms.balanced_accuracy, (1 / 2 + 1) / 2)
  t.equal(seenAbsentCurve(allS).ausuc, null)
  t.equal(seenAbsentCurve(allS).points[0]!.acc_u_y, null)

  // all-U: C, D
  const allU = prepare(
    L([
      [1, 0, 0, 2],
      [2, 0, 1, 0],
    ]),
    labelsOf([3, 2]),
    ex.absent,
  )
  const mu = metricsAt(allU, 0)
  t.equal(mu.acc_s_y, null)
  t.equal(mu.acc_s_s, null)
  t.equal(mu.harmonic_mean, null)
  t.equal(mu.ausuc, null)
  near(t, mu.acc_u_y, 1 / 2) // C (g = −1 < 0) right, D (g = 1 > 0) not
  near(t, mu.acc_u_u, 1)

  // a set with one class: balanced accuracy is that class's recall
  const one = prepare(
    L([
      [3, 0, 1, 0],
      [0, 1, 0, 3],
    ]),
    labelsOf([0, 0]),
    ex.absent,
  )
  near(t, metricsAt(one, 0).balanced_accuracy, 1 / 2)
  near(t, metricsAt(one, 0).acc_y_y, 1 / 2)

  // an empty set: nothing is defined
  const empty = prepare({ data: new Float32Array(0), n: 0, c: 4 }, labelsOf([]), ex.absent)
  const me = metricsAt(empty, 0)
  t.same(
    Object.values(me),
    Object.values(me).map(() => null),
  )
  t.same(seenAbsentCurve(empty).points, [{ gamma: 0, acc_s_y: null, acc_u_y: null, acc_y_y: null }])

  // a model without absent classes: plain argmax, single curve point at γ = 0
  const noU = prepare(
    L([
      [0, 2, 1],
      [3, 1, 1],
    ]),
    labelsOf([1, 2]),
    mask([0, 0, 0]),
  )
  const mn = metricsAt(noU, 1e9)
  near(t, mn.acc_s_y, 1 / 2)
  t.equal(mn.acc_u_y, null)
  t.same(seenAbsentCurve(noU), { points: [{ gamma: 0, acc_s_y: 0.5, acc_u_y: null, acc_y_y: 0.5 }], ausuc: null })
  // a model with only absent classes: plain argmax too (row 0 → 1 ✓, row 1 → 0 ✗)
  const noS = prepare(
    L([
      [0, 2, 1],
      [3, 1, 1],
    ]),
    labelsOf([1, 2]),
    mask([1, 1, 1]),
  )
  t.same(seenAbsentCurve(noS), { points: [{ gamma: 0, acc_s_y: null, acc_u_y: 0.5, acc_y_y: 0.5 }], ausuc: null })
  near(t, metricsAt(noS, -1e9).acc_u_y, 0.5)
})

t.test('labels are validated', async (t) => {
  t.throws(() => prepare(ex.logits, labelsOf([0, 1, 3, 2, 4]), ex.absent), CalibrationInputError)
  throwsField(t, () => prepare(ex.logits, labelsOf([0, 1, 3, 2, -1]), ex.absent), 'labels', /labels\[4\] = -1/)
  throwsField(t, () => prepare(ex.logits, labelsOf([0, 1]), ex.absent), 'labels', /2 entries but there are 5 samples/)
  t.throws(() => prepare(ex.logits, ex.labels, mask([0, 1])), RangeError)
})

t.test('NLL by hand', async (t) => {
  // z = [2, 1, 0.5, 1.5], y = 0, γ = 1, T = 2: w = [1, 0.5, 0.75, 1.25]
  //   NLL = log(e^1 + e^0.5 + e^0.75 + e^1.25) − 1
  const z = L([[2, 1, 0.5, 1.5]])
  const v = nll(prepare(z, labelsOf([0]), ex.absent), { gamma: 1, temperature: 2 })
  t.ok(Math.abs(v - (Math.log(Math.exp(1) + Math.exp(0.5) + Math.exp(0.75) + Math.exp(1.25)) - 1)) < 1e-15)
  // two rows average; y = 3 on the same row: log(...) − 1.25
  const two = nll(
    prepare(
      L([
        [2, 1, 0.5, 1.5],
        [2, 1, 0.5, 1.5],
      ]),
      labelsOf([0, 3]),
      ex.absent,
    ),
    { gamma: 1, temperature: 2 },
  )
  const lse = Math.log(Math.exp(1) + Math.exp(0.5) + Math.exp(0.75) + Math.exp(1.25))
  t.ok(Math.abs(two - (lse - 1 + lse - 1.25) / 2) < 1e-15)
  // huge γ: the S-labelled row costs ≈ (γ − g)/T, finite
  const big = nll(prepare(z, labelsOf([0]), ex.absent), { gamma: 1e300, temperature: 1 })
  t.ok(Number.isFinite(big) && big > 9.99e299)
  throwsField(t, () => nll(prepare({ data: new Float32Array(0), n: 0, c: 4 }, labelsOf([]), ex.absent), { gamma: 0, temperature: 1 }), 'labels')
})

/** The double `steps` ulps away from x (x ≥ 0, x + steps ≥ 0). */
function ulps(x: number, steps: number): number {
  const f = new Float64Array([x])
  const bits = new BigInt64Array(f.buffer)
  bits[0] = bits[0]! + BigInt(steps)
  return f[0]!
}

/** Bin b of q by its definition b/B < q ≤ (b+1)/B: a scan over the edges, no arithmetic on q. */
function bruteBin(q: number, bins: number): number {
  for (let b = 0; b < bins - 1; b++) if (q <= (b + 1) / bins) return b
  return bins - 1
}

/** ECE from its definition: a float64 softmax of (z + γ·1U)/T per row, the public predict's class, bruteBin. */
function bruteEce(rows: number[][], labels: number[], absent: number[], gamma: number, temperature: number, bins: number): number {
  const logits = L(rows)
  const preds = predsAt(logits, mask(absent), gamma)
  const right = new Float64Array(bins)
  const conf = new Float64Array(bins)
  rows.forEach((_, i) => {
    const z = Array.from(logits.data.subarray(i * logits.c, (i + 1) * logits.c), (v, j) => v + (absent[j] ? gamma : 0))
    const top = Math.max(...z)
    const sum = z.reduce((acc, v) => acc + Math.exp((v - top) / temperature), 0)
    const q = Math.exp((z[preds[i]!]! - top) / temperature) / sum
    const b = bruteBin(q, bins)
    conf[b]! += q
    if (preds[i] === labels[i]) right[b]!++
  })
  let e = 0
  for (let b = 0; b < bins; b++) e += Math.abs(right[b]! - conf[b]!) / rows.length
  return e
}

t.test('confidence bins are (b/B, (b+1)/B]: every edge and the doubles around it', async (t) => {
  // ceil(q·B) − 1 alone misplaces 7/25 (7/25·25 rounds up to 7.000000000000001) and the double just
  // above 11/15 (its product with 15 rounds down to 11).
  t.equal(confidenceBin(7 / 25, 25), 6)
  t.equal(confidenceBin(ulps(11 / 15, 1), 15), 11)
  t.equal(confidenceBin(11 / 15, 15), 10)
  t.equal(confidenceBin(0, 15), 0)
  t.equal(confidenceBin(1, 15), 14)
  let wrong = 0
  for (let bins = 1; bins <= 60; bins++) {
    for (let b = 0; b <= bins; b++) {
      for (let step = b === 0 ? 0 : -2; step <= (b === bins ? 0 : 2); step++) {
        const q = ulps(b / bins, step)
        if (confidenceBin(q, bins) !== bruteBin(q, bins)) wrong++
      }
    }
  }
  t.equal(wrong, 0, 'bins that differ from the definition at or next to an edge')
})

t.test('ECE with confidences exactly on the edges b/15 (ties) matches its definition', async (t) => {
  // 15 classes, S = 0..9, U = 10..14. Edge rows, each labelled with its predicted class (right):
  //   all 15 tied → 1/15 (top of bin 0); five tied → 3/15 (bin 2); three tied → 5/15 (bin 4, the
  //   three-way tie); one finite logit → exactly 1 (bin 14); [1, 0] at this T → the double just
  //   above 11/15 (bottom of bin 11).
  // Beside each edge, a wrong row in the bin below it and a right one in the bin above it: the bin
  // below is overconfident and the one above underconfident, so moving the edge row across the edge
  // (either way) changes ECE rather than shifting the same amount between two bins of one sign.
  const C = 15
  const far = -1e30
  const absent = Array.from({ length: C }, (_, j) => (j >= 10 ? 1 : 0))
  const temperature = 0.9885321261136155
  const tied = (k: number) => Array.from({ length: C }, (_, j) => (j < k ? 0 : far))
  // a row whose class 0 leads the 14 others (all 0) with confidence ≈ q (to float32 rounding)
  const leading = (q: number) => Array.from({ length: C }, (_, j) => (j === 0 ? -temperature * Math.log((1 / q - 1) / (C - 1)) : 0))
  const rows: number[][] = []
  const labels: number[] = []
  const add = (row: number[], label: number) => {
    rows.push(row)
    labels.push(label)
  }
  for (const [row, b] of [
    [tied(15), 1],
    [tied(5), 3],
    [tied(3), 5],
    [[1, 0, ...new Array<number>(C - 2).fill(far)], 11],
  ] as const) {
    add([...row], predsAt(L([[...row]]), mask(absent), 0)[0]!)
    add(leading((b - 0.5) / 15), 1)
    add(leading((b + 0.5) / 15), 0)
  }
  add(tied(1), 0)
  add(leading(14.5 / 15), 1)
  const cal = { gamma: 0, temperature }
  const p = prepare(L(rows), labelsOf(labels), mask(absent))
  // the edge rows really sit on the edges
  const edgeQ = (row: number[]) => {
    const top = Math.max(...row)
    return 1 / row.reduce((acc, v) => acc + Math.exp((v - top) / temperature), 0)
  }
  t.equal(edgeQ(tied(3)), 5 / 15)
  t.equal(edgeQ(tied(5)), 3 / 15)
  t.equal(edgeQ(tied(15)), 1 / 15)
  t.equal(edgeQ([1, 0, far]), ulps(11 / 15, 1))
  const want = bruteEce(rows, labels, absent, 0, temperature, 15)
  t.ok(Math.abs(ece(p, cal) - want) < 1e-12, `ece ${ece(p, cal)} against ${want}`)
  // the three-way tie alone with its neighbours: bin 4 holds it (right) and its lower neighbour
  // (wrong), bin 5 the upper one (right): |1 − 1/3 − q₄| + |1 − q₅| over 3
  const three = [tied(3), leading(4.5 / 15), leading(5.5 / 15)]
  const threeLabels = [0, 1, 0]
  const v = ece(prepare(L(three), labelsOf(threeLabels), mask(absent)), cal)
  t.ok(Math.abs(v - bruteEce(three, threeLabels, absent, 0, temperature, 15)) < 1e-12, `${v}`)
  // and the other bins count: 25 bins put 7/25-like edges through the same definition
  for (const bins of [1, 10, 25, 30]) {
    const got = ece(p, cal, bins)
    t.ok(Math.abs(got - bruteEce(rows, labels, absent, 0, temperature, bins)) < 1e-12, `${bins} bins: ${got}`)
  }
})

t.test('ECE by hand (15 bins)', async (t) => {
  // S = {0}, U = {1}, γ = 0, T = 1; p0 = 1/(1 + e^−a) for z = [a, 0].
  //   [0, 0]      y=0: tie → 0, conf 1/2  → bin ceil(7.5)−1 = 7,   right
  //   [ln 3, 0]   y=1: conf 3/4          → bin ceil(11.25)−1 = 11, wrong
  //   [ln 9, 0]   y=0: conf 9/10         → bin ceil(13.5)−1 = 13,  right
  //   [ln 3, 0]   y=0: conf 3/4          → bin 11,                 right
  // ECE = (1/4)|1 − 1/2| + (2/4)|1/2 − 3/4| + (1/4)|1 − 9/10| = 0.125 + 0.125 + 0.025 = 0.275
  // (ln 3 and ln 9 are rounded to float32, so the confidences are off by ~1e-8.)
  const z = L([
    [0, 0],
    [Math.log(3), 0],
    [Math.log(9), 0],
    [Math.log(3), 0],
  ])
  const v = ece(prepare(z, labelsOf([0, 1, 0, 0]), mask([0, 1])), { gamma: 0, temperature: 1 })
  t.ok(Math.abs(v - 0.275) < 1e-7, `${v}`)
  // exactly, with the float32 logits: conf c(a) = 1/(1 + e^−fround(a))
  const c = (a: number) => 1 / (1 + Math.exp(-Math.fround(a)))
  const exact = (0.5 + Math.abs(1 - 2 * c(Math.log(3))) + (1 - c(Math.log(9)))) / 4
  t.ok(Math.abs(v - exact) < 1e-15)
  // one bin only: ECE = |acc − conf|
  t.ok(
    Math.abs(
      ece(prepare(z, labelsOf([0, 1, 0, 0]), mask([0, 1])), { gamma: 0, temperature: 1 }, 1) - Math.abs(0.75 - (0.5 + 2 * c(Math.log(3)) + c(Math.log(9))) / 4),
    ) < 1e-15,
  )
  t.throws(() => ece(prepare(z, labelsOf([0, 1, 0, 0]), mask([0, 1])), { gamma: 0, temperature: 1 }, 0), RangeError)
})
