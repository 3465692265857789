// Split conformal sets: q̂ and every set against a brute force that shares only the calibrated
// probabilities (themselves checked against a plain softmax), on hand-made and random logits.
import t from 'tap'
import fc from 'fast-check'
import { applyConformal, calibratedProbabilities, conformalRank, fitCalibration, fitConformal, prepare } from '../../src/calibration/index.js'
import type { Calibration, ConformalParams, ConformalScore, Logits } from '../../src/calibration/index.js'
import { caseArb, RUNS } from './fixtures/cases.js'
import { close, exactDouble, L, labelsOf, mask, throwsField } from './fixtures/helpers.js'

/** ⌈(n+1)(1−α)⌉ by exact rationals: the least k with (n+1) − k ≤ (n+1)·α. */
function bruteRank(n: number, alpha: number): number {
  const a = exactDouble(alpha) * BigInt(n + 1)
  for (let k = 0; ; k++) if (BigInt(n + 1 - k) * exactDouble(1) <= a) return k
}

const order = (p: Float64Array) => [...p.keys()].sort((a, b) => p[b]! - p[a]! || a - b)

function bruteScore(p: Float64Array, y: number, score: ConformalScore): number {
  if (score === 'lac') return 1 - p[y]!
  let cum = 0
  for (const j of order(p)) {
    cum += p[j]!
    if (j === y) return cum
  }
  throw new Error('unreachable')
}

function bruteQ(scores: number[], alpha: number): number | null {
  const r = bruteRank(scores.length, alpha)
  return r > scores.length ? null : [...scores].sort((a, b) => a - b)[r - 1]!
}

function bruteSet(p: Float64Array, absent: Uint8Array, c: ConformalParams): number[] {
  const o = order(p)
  if (c.score === 'aps') {
    if (c.qhat === null) return o
    const out: number[] = []
    let cum = 0
    for (const j of o) {
      out.push(j)
      cum += p[j]!
      if (cum >= c.qhat!) break
    }
    return out
  }
  return o.filter((j) => {
    const q = c.by === 'group' ? (absent[j] ? c.qhat_u : c.qhat_s) : c.qhat
    return q === null || 1 - p[j]! <= q!
  })
}

t.test('the rank ⌈(n+1)(1−α)⌉ is exact', async (t) => {
  for (const n of [0, 1, 2, 9, 10, 19, 99, 999, 12345]) {
    for (const alpha of [0.1, 0.05, 0.5, 0.2, 0.3, 1e-9, 0.999, 0.01, 0.25]) t.equal(conformalRank(n, alpha), bruteRank(n, alpha), `n=${n} α=${alpha}`)
  }
  // (n+1)(1−α) an integer in exact arithmetic: α = 0.25, n = 3 → 3
  t.equal(conformalRank(3, 0.25), 3)
})

t.test('calibrated probabilities are softmax((z + γ·1U)/T)', async (t) => {
  const z = L([[2, 1, 0.5, 1.5], [0, 3, -1, 2]])
  const absent = mask([0, 0, 1, 1])
  const cal = { gamma: 0.75, temperature: 1.5 }
  calibratedProbabilities(z, absent, cal).forEach((p, i) => {
    const w = [...z.data.subarray(i * 4, i * 4 + 4)].map((v, j) => (v + (absent[j] ? cal.gamma : 0)) / cal.temperature)
    const mx = Math.max(...w)
    const den = w.reduce((s, v) => s + Math.exp(v - mx), 0)
    w.forEach((v, j) => t.ok(Math.abs(p[j]! - Math.exp(v - mx) / den) < 1e-15))
  })
})

t.test('lac by hand', async (t) => {
  // S = {0}, U = {1}, γ = 0, T = 1; p = (1/2, 1/2), (3/4, 1/4), (1/4, 3/4) (float32 ln 3: ≈).
  // Scores 1 − p_y (y = 0, 0, 0): 1/2, 1/4, 3/4. α = 1/2, n = 3: rank ⌈4 · 1/2⌉ = 2 → q̂ = 1/2.
  // Sets: {0, 1} (1 − 1/2 ≤ 1/2 both), {0}, {1}. Coverage 2/3, mean size 4/3.
  const z = L([[0, 0], [Math.log(3), 0], [0, Math.log(3)]])
  const p = prepare(z, labelsOf([0, 0, 0]), mask([0, 1]))
  const cal = { gamma: 0, temperature: 1 }
  const f = fitConformal(p, cal, { alpha: 0.5 })
  t.same({ a: f.alpha, s: f.score, b: f.by, q: f.qhat, small: f.too_small }, { a: 0.5, s: 'lac', b: 'marginal', q: 0.5, small: false })
  t.same(f.coverage, { overall: 2 / 3, s: 2 / 3, u: null })
  t.equal(f.mean_set_size, 4 / 3)
  const sets = applyConformal(z, mask([0, 1]), cal, f)
  t.same(sets.map((s) => s.map((e) => e.index)), [[0, 1], [0], [1]])
  t.equal(sets[0]![0]!.score, 0.5)
  // α too small for 3 samples: rank ⌈4 · 0.9⌉ = 4 > 3 → q̂ = +∞ (null), every class
  const g = fitConformal(p, cal, { alpha: 0.1 })
  t.equal(g.qhat, null)
  t.equal(g.too_small, true)
  t.same(applyConformal(z, mask([0, 1]), cal, g).map((s) => s.length), [2, 2, 2])
  t.equal(g.coverage.overall, 1)
})

t.test('aps by hand, ties by index', async (t) => {
  // p = (1/3, 1/3, 1/3) ties → order 0, 1, 2; y = 1: score 2/3. p from [ln 2, 0, 0]: (1/2, 1/4, 1/4);
  // y = 2: ranks 0, 1, 2 → score 1.
  const z = L([[0, 0, 0], [Math.log(2), 0, 0]])
  const absent = mask([0, 0, 1])
  const p = prepare(z, labelsOf([1, 2]), absent)
  const f = fitConformal(p, { gamma: 0, temperature: 1 }, { alpha: 0.5, score: 'aps' })
  // n = 2, rank ⌈3/2⌉ = 2 → q̂ = the larger score ≈ 1
  t.ok(Math.abs(f.qhat! - 1) < 1e-7)
  const sets = applyConformal(z, absent, { gamma: 0, temperature: 1 }, f)
  t.same(sets[1]!.map((e) => e.index), bruteSet(calibratedProbabilities(z, absent, { gamma: 0, temperature: 1 })[1]!, absent, f))
  t.equal(sets[0]![0]!.index, 0, 'ties: lower index first')
})

t.test('group: q̂_S and q̂_U from their own samples, each class judged by its group', async (t) => {
  // S = {0, 1}, U = {2}. Two S-labelled rows, two U-labelled rows.
  const z = L([[2, 0, 0], [0, 2, 1], [0, 0, 1], [1, 0, 3]])
  const y = labelsOf([0, 1, 2, 2])
  const absent = mask([0, 0, 1])
  const cal = { gamma: 0.5, temperature: 1 }
  const f = fitConformal(prepare(z, y, absent), cal, { alpha: 0.4, by: 'group' })
  const P = calibratedProbabilities(z, absent, cal)
  const sS = [1 - P[0]![0]!, 1 - P[1]![1]!]
  const sU = [1 - P[2]![2]!, 1 - P[3]![2]!]
  t.equal(f.qhat_s, bruteQ(sS, 0.4))
  t.equal(f.qhat_u, bruteQ(sU, 0.4))
  t.equal(f.qhat, undefined)
  applyConformal(z, absent, cal, f).forEach((s, i) => t.same(s.map((e) => e.index), bruteSet(P[i]!, absent, f)))
})

t.test('BAD CALL - conformal options', async (t) => {
  const p = prepare(L([[1, 0]]), labelsOf([0]), mask([0, 1]))
  const cal = { gamma: 0, temperature: 1 }
  for (const alpha of [0, 1, -0.1, 1.5, Number.NaN, '0.1' as never]) throwsField(t, () => fitConformal(p, cal, { alpha }), 'conformal.alpha', /\(0, 1\)/)
  throwsField(t, () => fitConformal(p, cal, { alpha: 0.1, score: 'raps' as never }), 'conformal.score', /unknown/)
  throwsField(t, () => fitConformal(p, cal, { alpha: 0.1, by: 'class' as never }), 'conformal.by', /unknown/)
  throwsField(t, () => fitConformal(p, cal, { alpha: 0.1, score: 'aps', by: 'group' }), 'conformal.by', /"lac" only/)
  throwsField(t, () => fitCalibration(L([[1, 0], [0, 1]]), labelsOf([0, 1]), mask([0, 1]), { method: 'sweep', objective: 'accuracy', fitTemperature: false, active: cal, conformal: { alpha: 2 } }), 'conformal.alpha')
  t.throws(() => applyConformal(L([[1, 0]]), mask([0, 1]), cal, { alpha: 0.1, score: 'lac', by: 'marginal' }), RangeError)
})

t.test('q̂ and every set = brute force on random logits, all scores and groupings', async (t) => {
  const optsArb = fc.record({
    alpha: fc.constantFrom(0.05, 0.1, 0.2, 0.25, 0.5, 0.9),
    kind: fc.constantFrom(['lac', 'marginal'], ['aps', 'marginal'], ['lac', 'group']) as fc.Arbitrary<[ConformalScore, 'marginal' | 'group']>,
    gamma: fc.constantFrom(0, 0.5, -1.25, 3),
    temperature: fc.constantFrom(1, 0.5, 2),
  })
  fc.assert(
    fc.property(caseArb(1), optsArb, (k, o) => {
      const cal: Calibration = { gamma: o.gamma, temperature: o.temperature }
      const [score, by] = o.kind
      const f = fitConformal(prepare(k.logits, k.labels, k.absent), cal, { alpha: o.alpha, score, by })
      const P = calibratedProbabilities(k.logits, k.absent, cal)
      const scores = P.map((p, i) => bruteScore(p, k.labels[i]!, score))
      const inS = [...k.labels].map((y) => !k.absent[y])
      if (by === 'group') {
        if (f.qhat_s !== bruteQ(scores.filter((_, i) => inS[i]), o.alpha)) throw new Error('q̂_S')
        if (f.qhat_u !== bruteQ(scores.filter((_, i) => !inS[i]), o.alpha)) throw new Error('q̂_U')
        if (f.too_small !== (f.qhat_s === null || f.qhat_u === null)) throw new Error('too_small')
      } else {
        if (f.qhat !== bruteQ(scores, o.alpha)) throw new Error(`q̂ ${f.qhat}`)
        if (f.too_small !== (f.qhat === null)) throw new Error('too_small')
      }
      const sets = applyConformal(k.logits, k.absent, cal, f)
      let covered = 0
      let size = 0
      sets.forEach((s, i) => {
        const want = bruteSet(P[i]!, k.absent, f)
        if (JSON.stringify(s.map((e) => e.index)) !== JSON.stringify(want)) throw new Error(`set ${i}`)
        if (s.some((e) => e.score !== P[i]![e.index])) throw new Error('scores')
        size += s.length
        if (want.includes(k.labels[i]!)) covered++
      })
      if (!close(f.coverage.overall, covered / k.logits.n) || !close(f.mean_set_size, size / k.logits.n)) throw new Error('coverage')
      // lac marginal: the guarantee on the fit set itself, when q̂ is finite
      if (score === 'lac' && by === 'marginal' && f.qhat !== null && covered < conformalRank(k.logits.n, o.alpha)) throw new Error('coverage below rank')
    }),
    RUNS,
  )
  t.pass('conformal = brute force')
})

t.test('held-out coverage on random splits is ≥ 1 − α − tolerance on average', async (t) => {
  // Exchangeable synthetic data: 10 classes, logits = one-hot(label)·2 + noise. Split conformal
  // guarantees E[coverage] ≥ 1 − α for each random split; averaged over 40 splits of 200 test
  // samples the standard error is ≤ sqrt(α(1−α)/8000) ≈ 0.0034, so 0.015 is > 4 standard errors.
  let seed = 12345
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand())
  const c = 10
  const absent = mask([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
  const make = (n: number): { z: Logits; y: Int32Array } => {
    const y = Int32Array.from({ length: n }, () => Math.floor(rand() * c))
    const data = new Float32Array(n * c)
    for (let i = 0; i < n; i++) for (let j = 0; j < c; j++) data[i * c + j] = (j === y[i] ? 2 : 0) + (absent[j] ? -1 : 0) + gauss()
    return { z: { data, n, c }, y }
  }
  const cal = { gamma: 1, temperature: 1 }
  for (const [score, alpha] of [['lac', 0.1], ['aps', 0.1], ['lac', 0.2]] as const) {
    let total = 0
    for (let split = 0; split < 40; split++) {
      const fit = make(300)
      const test = make(200)
      const f = fitConformal(prepare(fit.z, fit.y, absent), cal, { alpha, score })
      const sets = applyConformal(test.z, absent, cal, f)
      total += sets.filter((s, i) => s.some((e) => e.index === test.y[i])).length / 200
    }
    const mean = total / 40
    t.ok(mean >= 1 - alpha - 0.015, `${score} α=${alpha}: mean held-out coverage ${mean.toFixed(4)}`)
  }
})
