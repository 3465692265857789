// Property tests: every fast path against a brute force that re-predicts every sample with the
// public `predict` (the curve: the exact BigInt rule of fixtures/helpers.ts; alg: a plain double
// loop). Seeded, so failures reproduce.
import t from 'tap'
import fc from 'fast-check'
import { alg, fitCalibration, metricsAt, predict, prepare, seenAbsentCurve, sweep } from '../../src/calibration/index.js'
import type { Objective } from '../../src/calibration/index.js'
import { caseArb, hasBoth, RUNS } from './fixtures/cases.js'
import type { Case } from './fixtures/cases.js'
import { bruteGaps, bruteMetrics, candidates, close, exactIntervals, exactPredsIn, insideExact, predsAt } from './fixtures/helpers.js'

const OBJ: Array<[Objective, 'acc_y_y' | 'harmonic_mean' | 'balanced_accuracy']> = [
  ['accuracy', 'acc_y_y'],
  ['harmonic_mean', 'harmonic_mean'],
  ['balanced_accuracy', 'balanced_accuracy'],
]

t.test('sweep attains the brute-force maximum over every interval', async (t) => {
  fc.assert(
    fc.property(caseArb(2).filter(hasBoth), (k) => {
      const p = prepare(k.logits, k.labels, k.absent)
      const brute = candidates(k.logits, k.absent).map((g) => bruteMetrics(predsAt(k.logits, k.absent, g), k.labels, k.absent))
      for (const [obj, key] of OBJ) {
        const r = sweep(p, obj)
        const best = Math.max(...brute.map((m) => m[key]!))
        if (!close(r.value, best)) throw new Error(`${obj}: sweep ${r.value} vs brute ${best}`)
        const atGamma = bruteMetrics(predsAt(k.logits, k.absent, r.gamma), k.labels, k.absent)[key]
        if (!close(atGamma, r.value)) throw new Error(`${obj}: value ${r.value} but γ=${r.gamma} gives ${atGamma}`)
        if (!(r.gamma > r.interval[0] && r.gamma < r.interval[1])) throw new Error(`γ ${r.gamma} outside ${r.interval}`)
        if (metricsAt(p, r.gamma)[key] !== r.value) throw new Error('value differs from metricsAt')
      }
    }),
    RUNS,
  )
  t.pass('sweep = brute force')
})

t.test('metricsAt equals a brute force via predict at random γ', async (t) => {
  const gammaArb = (k: Case) => {
    const gaps = bruteGaps(k.logits, k.absent).filter(Number.isFinite)
    const around = gaps.length ? fc.constantFrom(...gaps) : fc.constant(0)
    return fc.oneof(
      around, // exactly on a breakpoint: the tie rule
      around.map((g) => g + 1e-9),
      fc.double({ min: -20, max: 20, noNaN: true }),
      fc.constantFrom(-1e300, 1e300, 0, -Number.MAX_VALUE),
    )
  }
  fc.assert(
    fc.property(
      caseArb(0).chain((k) => fc.tuple(fc.constant(k), gammaArb(k))),
      ([k, gamma]) => {
        const p = prepare(k.logits, k.labels, k.absent)
        const m = metricsAt(p, gamma)
        const b = bruteMetrics(predsAt(k.logits, k.absent, gamma), k.labels, k.absent)
        for (const key of ['acc_s_y', 'acc_u_y', 'acc_y_y', 'harmonic_mean', 'balanced_accuracy'] as const) {
          if (!close(m[key], b[key])) throw new Error(`${key} at γ=${gamma}: ${m[key]} vs ${b[key]}`)
        }
        // Acc_S/S and Acc_U/U: argmax restricted to a group = prediction at γ = ∓∞
        const bS = bruteMetrics(predsAt(k.logits, k.absent, -Number.MAX_VALUE), k.labels, k.absent).acc_s_y
        const bU = bruteMetrics(predsAt(k.logits, k.absent, Number.MAX_VALUE), k.labels, k.absent).acc_u_y
        if (!close(m.acc_s_s, bS) || !close(m.acc_u_u, bU)) throw new Error('acc_s_s / acc_u_u')
      },
    ),
    RUNS,
  )
  t.pass('metricsAt = brute force')
})

t.test('AUSUC and curve equal a brute-force trace at every interval midpoint', async (t) => {
  fc.assert(
    fc.property(caseArb(0), (k) => {
      const p = prepare(k.logits, k.labels, k.absent)
      // One point per exact interval (issue 15: distinct switch points never merge), traced by
      // the exact BigInt rule; γ is the float midpoint when both ends are doubles, else inside.
      const cands = exactIntervals(k.logits, k.absent)
      const trace = cands.map((iv) => bruteMetrics(exactPredsIn(k.logits, k.absent, iv), k.labels, k.absent))
      const { points, ausuc } = seenAbsentCurve(p)
      if (points.length !== cands.length) throw new Error('point count')
      points.forEach((q, j) => {
        const iv = cands[j]!
        if (iv.endsAreDoubles && iv.gamma !== null) {
          if (q.gamma !== iv.gamma) throw new Error(`γ ${q.gamma} vs ${iv.gamma}`)
        } else if (iv.gamma !== null && !insideExact(q.gamma, iv)) throw new Error(`γ ${q.gamma} outside its interval`)
        for (const key of ['acc_s_y', 'acc_u_y', 'acc_y_y'] as const) {
          if (!close(q[key], trace[j]![key])) throw new Error(`${key} at point ${j}`)
        }
      })
      if (!hasBoth(k)) {
        if (ausuc !== null) throw new Error('ausuc should be null')
        return
      }
      let area = 0
      for (let j = 0; j + 1 < trace.length; j++) {
        const a = trace[j]!
        const b = trace[j + 1]!
        area += Math.abs(b.acc_u_y! - a.acc_u_y!) * ((a.acc_s_y! + b.acc_s_y!) / 2)
      }
      if (!close(ausuc, area)) throw new Error(`ausuc ${ausuc} vs ${area}`)
      if (metricsAt(p, 0).ausuc !== ausuc) throw new Error('metricsAt ausuc')
      // endpoints (Acc_S/S, 0) and (0, Acc_U/U)
      const m = metricsAt(p, 0)
      const first = points[0]!
      const last = points.at(-1)!
      if (!close(first.acc_s_y, m.acc_s_s!) || first.acc_u_y !== 0) throw new Error('start point')
      if (last.acc_s_y !== 0 || !close(last.acc_u_y, m.acc_u_u!)) throw new Error('end point')
      // subsampling keeps both ends and never changes AUSUC
      const sub = seenAbsentCurve(p, { maxPoints: 3 })
      if (sub.ausuc !== ausuc || sub.points.length > 3) throw new Error('subsample')
      if (sub.points[0]!.gamma !== first.gamma || sub.points.at(-1)!.gamma !== last.gamma) throw new Error('ends')
    }),
    RUNS,
  )
  t.pass('curve = brute force')
})

t.test('alg equals a plain double loop', async (t) => {
  fc.assert(
    fc.property(caseArb(1), (k) => {
      const { data, n, c } = k.logits
      let nS = 0
      for (const a of k.absent) if (!a) nS++
      let used = 0
      let sumS = 0
      let sumU = 0
      for (let i = 0; i < n; i++) {
        const y = k.labels[i]!
        if (k.absent[y]) continue
        used++
        let s = 0
        let u = 0
        for (let j = 0; j < c; j++) {
          if (k.absent[j]) u += data[i * c + j]!
          else if (j !== y) s += data[i * c + j]!
        }
        sumS += s / (nS - 1)
        sumU += u / (c - nS)
      }
      if (used === 0 || nS < 2) {
        try {
          alg(prepare(k.logits, k.labels, k.absent))
        } catch {
          return
        }
        throw new Error('alg should throw')
      }
      const r = alg(prepare(k.logits, k.labels, k.absent))
      if (!close(r.gamma, sumS / used - sumU / used, 1e-12)) throw new Error(`alg ${r.gamma}`)
      if (r.n_used !== used || r.n_ignored !== n - used) throw new Error('counts')
    }),
    RUNS,
  )
  t.pass('alg = double loop')
})

t.test("fitCalibration's fitted metrics are metricsAt at the returned γ", async (t) => {
  fc.assert(
    fc.property(
      caseArb(2).filter(hasBoth),
      fc.constantFrom<Objective>('accuracy', 'harmonic_mean', 'balanced_accuracy'),
      fc.constantFrom('sweep' as const, 'alg' as const),
      (k, objective, method) => {
        let nS = 0
        for (const a of k.absent) if (!a) nS++
        if (method === 'alg' && nS < 2) return
        const r = fitCalibration(k.logits, k.labels, k.absent, {
          method,
          objective,
          fitTemperature: false,
          active: { gamma: 0.25, temperature: 1 },
        })
        const p = prepare(k.logits, k.labels, k.absent)
        const eq = (a: object, b: object) => JSON.stringify(a) === JSON.stringify(b)
        if (!eq(r.metrics.fitted, metricsAt(p, r.gamma))) throw new Error('fitted')
        if (!eq(r.metrics.uncalibrated, metricsAt(p, 0))) throw new Error('uncalibrated')
        if (!eq(r.metrics.active, metricsAt(p, 0.25))) throw new Error('active')
        if (method === 'sweep' && r.gamma !== sweep(p, objective).gamma) throw new Error('sweep γ')
        if (!eq(r.curve, seenAbsentCurve(p).points)) throw new Error('curve')
      },
    ),
    RUNS,
  )
  t.pass('report = metricsAt')
})

t.test('predict: top-k is the exact calibrated order, first entry the prediction', async (t) => {
  // Halves plus a half-integer γ keep z + γ exact in float64, so plain sorting is a valid reference.
  fc.assert(
    fc.property(
      caseArb(1),
      fc.constantFrom(-3, -1.5, -0.5, 0, 0.5, 1, 2.5),
      fc.constantFrom(0.5, 1, 3),
      (k, gamma, temperature) => {
        const { data, c } = k.logits
        const preds = predict(
          { data: data.map((v) => Math.round(v * 2) / 2), n: k.logits.n, c },
          k.absent,
          { gamma, temperature },
          c,
        )
        preds.forEach((p, i) => {
          const w = Array.from({ length: c }, (_, j) => Math.round(data[i * c + j]! * 2) / 2 + (k.absent[j] ? gamma : 0))
          const order = w.map((_, j) => j).sort((a, b) => w[b]! - w[a]! || a - b)
          if (JSON.stringify(p.top_k.map((x) => x.index)) !== JSON.stringify(order)) throw new Error('order')
          if (p.index !== order[0] || p.score !== p.top_k[0]!.score) throw new Error('first')
          const mx = Math.max(...w)
          const den = w.reduce((s, v) => s + Math.exp((v - mx) / temperature), 0)
          p.top_k.forEach((x) => {
            if (!close(x.score, Math.exp((w[x.index]! - mx) / temperature) / den, 1e-14)) throw new Error('score')
          })
        })
      },
    ),
    RUNS,
  )
  t.pass('predict = sort')
})
