// Issue 15 §5, exact at every magnitude: each place that lost exactness on extreme logits,
// pinned on the extreme case against the exact BigInt oracles of fixtures/helpers.ts.
import t from 'tap'
import fc from 'fast-check'
import { alg, fitCalibration, fitTemperature, metricsAt, predict, prepare, seenAbsentCurve, sweep } from '../../src/calibration/index.js'
import { bruteMetrics, exactDouble, exactIntervals, exactPredsIn, exactRows, insideExact, L, labelsOf, mask, predsAt } from './fixtures/helpers.js'

const BIG = Math.fround(1e30)
const TINY = Math.fround(1e-30)

t.test('ALG sums a row with compensation: absent logits [1e30, 1.5, −1e30] average 0.5', async (t) => {
  // S = {0, 1}, U = {2, 3, 4}; y = 0: other S logit 0, U mean (1e30 + 1.5 − 1e30)/3 = 0.5.
  const z = L([[0, 0, BIG, 1.5, -BIG]])
  const p = prepare(z, labelsOf([0]), mask([0, 0, 1, 1, 1]))
  t.equal(alg(p).gamma, -0.5)
  t.equal(alg(p, 'all').gamma, -0.5)
  // and across samples: means 1e30, 1, −1e30 of three rows average to 1/3 exactly rounded
  const rows = L([[0, 0, BIG, BIG, BIG], [0, 0, 1, 1, 1], [0, 0, -BIG, -BIG, -BIG]])
  t.equal(alg(prepare(rows, labelsOf([0, 0, 0]), mask([0, 0, 1, 1, 1]))).gamma, -1 / 3)
})

t.test('a hand-set γ equal to the rounded switch point predicts what the exact rule says', async (t) => {
  const a = mask([0, 1])
  // z = [1e30, 1e-30]: the switch point 1e30 − 1e-30 rounds to 1e30 but lies below it,
  // so at γ = 1e30 the absent class wins (the float64 gap would call it a tie → index 0).
  const below = L([[BIG, TINY]])
  t.equal(predict(below, a, { gamma: BIG, temperature: 1 }, 2)[0]!.index, 1)
  t.same(predict(below, a, { gamma: BIG, temperature: 1 }, 2)[0]!.top_k.map((x) => x.index), [1, 0])
  t.equal(metricsAt(prepare(below, labelsOf([1]), a), BIG).acc_u_y, 1)
  // z = [1e30, −1e-30]: the switch point lies above 1e30, so γ = 1e30 keeps the S class.
  const above = L([[BIG, -TINY]])
  t.equal(predict(above, a, { gamma: BIG, temperature: 1 }, 2)[0]!.index, 0)
  t.same(predict(above, a, { gamma: BIG, temperature: 1 }, 2)[0]!.top_k.map((x) => x.index), [0, 1])
  t.equal(metricsAt(prepare(above, labelsOf([0]), a), BIG).acc_s_y, 1)
  // an exact tie still goes to the lower index
  t.equal(predict(L([[BIG, 0]]), a, { gamma: BIG, temperature: 1 }, 1)[0]!.index, 0)
})

t.test('distinct switch points never merge: curve, AUSUC and sweep on 1e30 against 1e-30', async (t) => {
  // S = {0}, U = {1}. Every row has z_S = 1e30 and a tiny distinct z_U, so every switch point
  // rounds to the same double; exactly there are 20 of them (21 intervals).
  const rows: number[][] = []
  const ys: number[] = []
  for (let k = 1; k <= 20; k++) {
    rows.push([BIG, k * TINY * (k % 3 === 0 ? -1 : 1)])
    ys.push(k % 2)
  }
  // and ordinary rows so the curve has both shapes
  rows.push([1, 0], [0, 2], [3, 1])
  ys.push(0, 1, 1)
  const z = L(rows)
  const y = labelsOf(ys)
  const a = mask([0, 1])
  const p = prepare(z, y, a)
  const ivs = exactIntervals(z, a)
  t.equal(ivs.length, 24, '23 distinct exact switch points')
  const { points, ausuc } = seenAbsentCurve(p)
  t.equal(points.length, ivs.length, 'one curve point per exact interval')
  const trace = ivs.map((iv) => bruteMetrics(exactPredsIn(z, a, iv), y, a))
  points.forEach((q, j) => {
    t.equal(q.acc_s_y, trace[j]!.acc_s_y, `Acc_S/Y on interval ${j}`)
    t.equal(q.acc_u_y, trace[j]!.acc_u_y, `Acc_U/Y on interval ${j}`)
    if (ivs[j]!.gamma !== null) t.ok(insideExact(q.gamma, ivs[j]!), `γ inside interval ${j}`)
  })
  let area = 0
  for (let j = 0; j + 1 < trace.length; j++) area += (trace[j + 1]!.acc_u_y! - trace[j]!.acc_u_y!) * ((trace[j]!.acc_s_y! + trace[j + 1]!.acc_s_y!) / 2)
  t.ok(Math.abs(ausuc! - area) <= 1e-15, `AUSUC ${ausuc} = exact trace ${area}`)
  // The sweep's γ attains the exact best over intervals that hold a double.
  const best = Math.max(...ivs.filter((iv) => iv.gamma !== null).map((iv) => bruteMetrics(exactPredsIn(z, a, iv), y, a).acc_y_y!))
  const r = sweep(p, 'accuracy')
  t.equal(r.value, best)
  t.equal(bruteMetrics(predsAt(z, a, r.gamma), y, a).acc_y_y, best)
})

t.test('the temperature bounds are reported', async (t) => {
  const a = mask([0, 1])
  t.same(fitTemperature(prepare(L([[5, 0], [6, 0]]), labelsOf([0, 0]), a), 0), { temperature: 1e-3, bound: 'lower' })
  t.same(fitTemperature(prepare(L([[5, 0], [6, 0]]), labelsOf([1, 1]), a), 0), { temperature: 1e3, bound: 'upper' })
  // 3 of 4 right at margin 1: σ(β) = 3/4 at β = ln 3, T = 1/ln 3
  const inner = fitTemperature(prepare(L([[1, 0], [1, 0], [1, 0], [1, 0]]), labelsOf([0, 0, 0, 1]), a), 0)
  t.equal(inner.bound, null)
  t.ok(Math.abs(inner.temperature - 1 / Math.log(3)) < 1e-9, `T = ${inner.temperature}`)
  // the fit report says so; without a temperature fit it says nothing
  const opts = { method: 'sweep', objective: 'accuracy', active: { gamma: 0, temperature: 1 } } as const
  const sep = fitCalibration(L([[5, 0], [0, 5]]), labelsOf([0, 1]), a, { ...opts, fitTemperature: true })
  t.equal(sep.temperature, 1e-3)
  t.equal(sep.temperature_bound, 'lower')
  t.equal(fitCalibration(L([[5, 0], [0, 5]]), labelsOf([0, 1]), a, { ...opts, fitTemperature: false }).temperature_bound, undefined)
})

t.test('random extreme logits: predict, curve, AUSUC and sweep equal the exact rule', async (t) => {
  // Magnitudes 1e30 against 1e-30 (and neighbours of 1e30 one float32 ulp apart): the float64 gap
  // of two such maxima is rounded, so only an exact comparison gets these right.
  const ulp = 2 ** -23
  const extreme = fc.constantFrom(BIG, -BIG, BIG * (1 + ulp), BIG * (1 - ulp / 2), TINY, -TINY, 3 * TINY, -7 * TINY, 0, 1, -1.5)
  const arb = fc.integer({ min: 2, max: 5 }).chain((c) =>
    fc.record({
      absent: fc.nat(c - 2).map((k) => Uint8Array.from({ length: c }, (_, j) => (j === k + 1 || j === c - 1 ? 1 : 0))),
      rows: fc.array(fc.tuple(fc.array(extreme, { minLength: c, maxLength: c }), fc.nat(c - 1)), { minLength: 2, maxLength: 30 }),
    }),
  )
  fc.assert(
    fc.property(arb, ({ absent, rows }) => {
      const z = L(rows.map((r) => r[0]))
      const y = labelsOf(rows.map((r) => r[1]))
      const p = prepare(z, y, absent)
      // predict at every rounded gap (a hand-set γ on the switch point) against the exact rule
      const ex = exactRows(z, absent)
      for (const g of [...new Set(ex.flatMap((r) => (r.gap === null ? [] : [Number(r.gap) / 2 ** 149])))]) {
        const got = predsAt(z, absent, g)
        const e = exactDouble(g)
        ex.forEach((r, i) => {
          const gi = r.gap === null ? null : r.gap << 1051n
          const want = r.empty === 'S' ? r.uIdx : r.empty === 'U' ? r.sIdx : e > gi! ? r.uIdx : e < gi! ? r.sIdx : Math.min(r.sIdx, r.uIdx)
          if (got[i] !== want) throw new Error(`row ${i} at γ=${g}: ${got[i]} vs ${want}`)
        })
      }
      const ivs = exactIntervals(z, absent)
      const trace = ivs.map((iv) => bruteMetrics(exactPredsIn(z, absent, iv), y, absent))
      const { points, ausuc } = seenAbsentCurve(p)
      if (points.length !== ivs.length) throw new Error(`${points.length} points for ${ivs.length} intervals`)
      points.forEach((q, j) => {
        if (q.acc_s_y !== trace[j]!.acc_s_y || q.acc_u_y !== trace[j]!.acc_u_y) throw new Error(`interval ${j}`)
        if (ivs[j]!.gamma !== null && !insideExact(q.gamma, ivs[j]!)) throw new Error(`γ of interval ${j}`)
      })
      let nS = 0
      for (const v of y) if (!absent[v]) nS++
      if (nS === 0 || nS === y.length) return
      let area = 0
      for (let j = 0; j + 1 < trace.length; j++) area += (trace[j + 1]!.acc_u_y! - trace[j]!.acc_u_y!) * ((trace[j]!.acc_s_y! + trace[j + 1]!.acc_s_y!) / 2)
      if (Math.abs(ausuc! - area) > 1e-12) throw new Error(`ausuc ${ausuc} vs ${area}`)
      const best = Math.max(...ivs.filter((iv) => iv.gamma !== null).map((iv) => bruteMetrics(exactPredsIn(z, absent, iv), y, absent).acc_y_y!))
      const r = sweep(p, 'accuracy')
      if (r.value !== best) throw new Error(`sweep ${r.value} vs ${best}`)
      if (bruteMetrics(predsAt(z, absent, r.gamma), y, absent).acc_y_y !== best) throw new Error('γ misses the best')
    }),
    { seed: 20261203, numRuns: 300 },
  )
  t.pass('extreme = exact')
})
