// sweep: the exact best γ for an objective, from the sorted breakpoints (no grid, O(N log N)),
// optionally under floors on Acc_S/Y and Acc_U/Y (the constrained sweep).
import { above, below, breakpointTable, countBelow, intervalPoint, IntervalWalker, onBreakpoint, pointBetween } from './breakpoints.js'
import type { BreakpointTable } from './breakpoints.js'
import { CalibrationInputError, InfeasibleConstraintError } from './errors.js'
import { cmpPairs } from './exact.js'
import { gammaMetrics } from './metrics.js'
import { harmonicMean } from './rates.js'
import type { Constraints, Objective, Prepared } from './types.js'
import { checkObjective, requireBothGroups } from './validate.js'

// Objective values are exact ratios of counts, except balanced accuracy, a float sum of recalls.
const REL_TOL = 1e-12
function same(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= REL_TOL * Math.max(Math.abs(a), Math.abs(b))
}

export interface SweepResult {
  gamma: number
  /** The objective at γ, by direct evaluation (equals metricsAt(p, γ) to the bit). */
  value: number
  /**
   * The maximal interval of best γ (within the feasible ones), its ends rounded to doubles
   * (an end is exactly b + bLo, see breakpoints.ts; they differ only on extreme logits).
   */
  interval: [number, number]
}

/**
 * The maximum of the objective over all γ, evaluated on the open intervals between consecutive
 * breakpoints (every metric is constant there). With `constraints`, only intervals whose
 * Acc_S/Y ≥ min_acc_s_y and Acc_U/Y ≥ min_acc_u_y compete (exact: the rates are the same count
 * ratios metricsAt reports); none feasible → InfeasibleConstraintError. Adjacent competing
 * intervals with the same value form one maximal interval. Among several best maximal intervals
 * we take the one containing 0, else the one nearest 0 (ties: the lower one): the least change to
 * the fine-tuned model that reaches the optimum. γ is that interval's midpoint, its finite end ± 1
 * if it is unbounded, 0 if it is ℝ.
 *
 * Exactly at a breakpoint, tied samples predict the lower class index, which can mix states that
 * no open interval has. Such single points are not candidates: a γ that works only to the last bit
 * is not a calibration. If the chosen γ happens to land on a breakpoint inside the merged interval
 * (or the objective is flat over the whole line and 0 is a breakpoint), we move to the nearest
 * constituent interval's own representative, so the returned γ always achieves `value`.
 */
export function sweep(p: Prepared, objective: Objective, constraints: Constraints = {}): SweepResult {
  checkObjective(objective)
  requireBothGroups(p.nClassesS, p.nClassesU)
  const floorS = checkFloor(constraints.min_acc_s_y, 'min_acc_s_y', p.nLabelledS, 'fine-tuning classes (S)')
  const floorU = checkFloor(constraints.min_acc_u_y, 'min_acc_u_y', p.nLabelledU, 'absent classes (U)')
  if (p.nLabelledU === 0) {
    throw new CalibrationInputError(
      'sweep needs labelled samples of both fine-tuning (S) and absent (U) classes; the set has no samples ' +
        'labelled in absent classes (U). Use method "alg", which needs only fine-tuning-class samples.',
      'labels',
    )
  }
  if (p.nLabelledS === 0) {
    throw new CalibrationInputError(
      'sweep needs labelled samples of both fine-tuning (S) and absent (U) classes; the set has no samples ' +
        'labelled in fine-tuning classes (S), which method "alg" needs too.',
      'labels',
    )
  }
  const t = breakpointTable(p)
  const b = t.b
  const m = b.length
  const values = new Float64Array(m + 1)
  const accS = new Float64Array(m + 1)
  const accU = new Float64Array(m + 1)
  const w = new IntervalWalker(p, t)
  for (let j = 0; j <= m; j++) {
    if (j > 0) w.cross(j - 1)
    values[j] = objectiveValue(objective, p, w)
    accS[j] = w.correctS / p.nLabelledS
    accU[j] = w.correctU / p.nLabelledU
  }
  // Intervals that hold no double hold no γ at all; they cannot be chosen.
  const realisable = new Uint8Array(m + 1)
  for (let j = 0; j <= m; j++) realisable[j] = Number.isNaN(intervalPoint(t, j)) ? 0 : 1
  const meetsS = (j: number) => floorS === undefined || accS[j]! >= floorS
  const meetsU = (j: number) => floorU === undefined || accU[j]! >= floorU
  const feasible = (j: number) => realisable[j] === 1 && meetsS(j) && meetsU(j)
  let best = -Infinity
  for (let j = 0; j <= m; j++) if (feasible(j) && values[j]! > best) best = values[j]!
  if (best === -Infinity) throw infeasible(m, realisable, accS, accU, floorS, floorU)

  // A run is a maximal stretch of adjacent intervals at the best value that meet the floors.
  const inRun = (j: number) => same(values[j]!, best) && meetsS(j) && meetsU(j)
  let pick: { j0: number; j1: number; dh: number; dl: number } | null = null
  for (let j = 0; j <= m; ) {
    if (!inRun(j)) {
      j++
      continue
    }
    let j1 = j
    while (j1 < m && inRun(j1 + 1)) j1++
    let any = false
    for (let q = j; q <= j1 && !any; q++) any = realisable[q] === 1
    if (any) {
      const [dh, dl] = distanceToZero(t, j, j1)
      if (pick === null || cmpPairs(dh, dl, pick.dh, pick.dl) < 0) pick = { j0: j, j1, dh, dl }
    }
    j = j1 + 1
  }
  // `best` is attained by a feasible interval, so some run qualified.
  const { j0, j1 } = pick!
  const lo = j0 === 0 ? -Infinity : b[j0 - 1]!
  const hi = j1 === m ? Infinity : b[j1]!
  let gamma: number
  if (lo === -Infinity) gamma = hi === Infinity ? 0 : below(hi)
  else if (hi === Infinity) gamma = above(lo)
  else gamma = pointBetween(lo, t.bLo[j0 - 1]!, hi, t.bLo[j1]!)
  gamma = insideConstituent(t, j0, j1, gamma, realisable)
  // Report the value by direct evaluation at γ, so it equals metricsAt(p, γ) to the bit.
  const v = gammaMetrics(p, gamma)[METRIC_OF[objective]]!
  return { gamma, value: v, interval: [lo, hi] }
}

const METRIC_OF = { accuracy: 'acc_y_y', harmonic_mean: 'harmonic_mean', balanced_accuracy: 'balanced_accuracy' } as const

function objectiveValue(objective: Objective, p: Prepared, w: IntervalWalker): number {
  switch (objective) {
    case 'accuracy':
      return (w.correctS + w.correctU) / p.n
    case 'harmonic_mean':
      return harmonicMean(w.correctS / p.nLabelledS, w.correctU / p.nLabelledU)!
    case 'balanced_accuracy':
      return w.balancedAccuracy()!
  }
}

function checkFloor(x: unknown, name: string, nSide: number, side: string): number | undefined {
  if (x === undefined) return undefined
  const field = `constraints.${name}`
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0 || x > 1) {
    throw new CalibrationInputError(`${field} must be a number in [0, 1], got ${JSON.stringify(x)}`, field)
  }
  if (nSide === 0) {
    throw new CalibrationInputError(`${field} constrains ${side}, but the set has no samples labelled there`, field)
  }
  return x
}

/** Names the floor that cannot be met and the best value of its metric attainable (see errors.ts). */
function infeasible(
  m: number,
  realisable: Uint8Array,
  accS: Float64Array,
  accU: Float64Array,
  floorS: number | undefined,
  floorU: number | undefined,
): InfeasibleConstraintError {
  const bestOf = (acc: Float64Array, ok: (j: number) => boolean) => {
    let v = -Infinity
    for (let j = 0; j <= m; j++) if (realisable[j] && ok(j) && acc[j]! > v) v = acc[j]!
    return v
  }
  const all = () => true
  if (floorS !== undefined) {
    const s = bestOf(accS, all)
    if (s < floorS) return new InfeasibleConstraintError('min_acc_s_y', floorS, s)
  }
  if (floorU !== undefined && floorS === undefined) {
    return new InfeasibleConstraintError('min_acc_u_y', floorU, bestOf(accU, all))
  }
  // Each floor alone is attainable (or only U's is set): U's is the one the S floor rules out.
  return new InfeasibleConstraintError('min_acc_u_y', floorU!, bestOf(accU, (j) => accS[j]! >= floorS!))
}

/** |nearest point of intervals j0..j1 to 0| as an exact two-double value (0 when it contains 0). */
function distanceToZero(t: BreakpointTable, j0: number, j1: number): [number, number] {
  const m = t.b.length
  // sign(b + bLo) = sign(b): b is the exact value rounded to nearest.
  const loNeg = j0 === 0 || t.b[j0 - 1]! < 0
  const hiPos = j1 === m || t.b[j1]! > 0
  if (loNeg && hiPos) return [0, 0]
  if (!hiPos) return [-t.b[j1]!, -t.bLo[j1]!]
  return [t.b[j0 - 1]!, t.bLo[j0 - 1]!]
}

/**
 * x if it lies strictly inside one of the intervals j0..j1, else the representative of the
 * realisable constituent nearest to x (x then sits on a breakpoint, or just outside the run when
 * its ends are not doubles).
 */
function insideConstituent(t: BreakpointTable, j0: number, j1: number, x: number, realisable: Uint8Array): number {
  const k = countBelow(t, x)
  const on = onBreakpoint(t, k, x)
  if (!on && k >= j0 && k <= j1) return x
  const from = Math.min(Math.max(k, j0), j1)
  for (let step = 0; step <= j1 - j0 + 1; step++) {
    for (const j of [from - step, from + 1 + step]) {
      if (j >= j0 && j <= j1 && realisable[j]) return intervalPoint(t, j)
    }
  }
  return x
}
