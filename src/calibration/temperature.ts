// Temperature scaling after γ is fixed: T > 0 minimising the mean NLL of softmax((z + γ·1U)/T).
//
// With β = 1/T and the shifted calibrated logits d of softmax.ts (T = 1), per sample
//   L(β) = log Σ_j exp(β d_j) − β d_y,   L'(β) = E_p[d] − d_y,   L''(β) = Var_p[d] ≥ 0,
// so the mean NLL is convex in β and its minimiser is the root of the increasing L'. We solve
// L'(β) = 0 by Newton, safeguarded by a sign bracket in [1e-3, 1e3] with geometric bisection
// whenever a Newton step leaves the bracket.
//
// Bounds (for the API and README): T is searched in [1e-3, 1e3]. When the NLL optimum lies at or
// beyond an end, T is that end and the fit says so (`bound`: 'lower' for 1e-3, 'upper' for 1e3).
// 'lower': the set is separated with a margin and the NLL keeps falling as T → 0; 'upper': the
// labels carry no signal the scores can follow (or go against them) and the NLL keeps falling
// as T → ∞ (the scores tend to uniform). Neither is a temperature worth trusting.
import { CalibrationInputError } from './errors.js'
import { loadScan } from './prepare.js'
import { newRowScan } from './rule.js'
import { shiftedRow } from './softmax.js'
import type { Prepared, TemperatureFit } from './types.js'
import { checkGamma } from './validate.js'

/** The range T is searched in; exported for the API docs. */
export const TEMPERATURE_BOUNDS = { min: 1e-3, max: 1e3 } as const
// β = 1/T: β's bracket is the same interval, mirrored.
const BETA_MIN = 1 / TEMPERATURE_BOUNDS.max
const BETA_MAX = 1 / TEMPERATURE_BOUNDS.min
const REL_TOL = 1e-12
const MAX_ITER = 200

export function fitTemperature(p: Prepared, gamma: number): TemperatureFit {
  checkGamma(gamma)
  if (p.n === 0) throw new CalibrationInputError('temperature fit needs at least one labelled sample', 'labels')
  const { data, c } = p.logits
  const { n, groups, label: labels } = p
  const scan = newRowScan()
  const d = new Float64Array(c)
  const e = new Float64Array(c)

  /** Mean L'(β) and L''(β) over the set. */
  const derivatives = (beta: number): [number, number] => {
    let g1 = 0
    let g2 = 0
    for (let i = 0; i < n; i++) {
      loadScan(p, i, scan)
      shiftedRow(data, c, i, groups, scan, gamma, 1, d)
      let sum = 0
      let sumD = 0
      for (let j = 0; j < c; j++) {
        const ej = Math.exp(beta * d[j]!)
        e[j] = ej
        // Skip exact zeros: d can be ~−1e300 at huge |γ|, and 0·d² must not become 0·∞.
        if (ej !== 0) {
          sum += ej
          sumD += ej * d[j]!
        }
      }
      const mean = sumD / sum
      let v = 0
      for (let j = 0; j < c; j++) {
        if (e[j] !== 0) {
          const dev = d[j]! - mean
          v += e[j]! * dev * dev
        }
      }
      g1 += mean - d[labels[i]!]!
      g2 += v / sum
    }
    return [g1 / n, g2 / n]
  }

  let lo = BETA_MIN
  let hi = BETA_MAX
  // L' increasing in β: L'(β_min) ≥ 0 puts the optimum at β ≤ β_min, i.e. T at or above its max.
  if (derivatives(lo)[0] >= 0) return { temperature: 1 / lo, bound: 'upper' }
  if (derivatives(hi)[0] <= 0) return { temperature: 1 / hi, bound: 'lower' }
  let beta = 1
  for (let it = 0; it < MAX_ITER; it++) {
    const [g1, g2] = derivatives(beta)
    if (g1 === 0) break
    if (g1 < 0) lo = beta
    else hi = beta
    let next = beta - g1 / g2
    if (!(next > lo && next < hi)) next = Math.sqrt(lo * hi)
    const done = Math.abs(next - beta) <= REL_TOL * beta || hi / lo - 1 <= REL_TOL
    beta = next
    if (done) break
  }
  return { temperature: 1 / beta, bound: null }
}
