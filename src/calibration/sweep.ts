// sweep: the exact best γ for an objective, from the sorted breakpoints (no grid, O(N log N)).
import { below, above, breakpointTable, countBelow, intervalPoint, IntervalWalker } from './breakpoints.js'
import { CalibrationInputError } from './errors.js'
import { gammaMetrics } from './metrics.js'
import { harmonicMean } from './rates.js'
import type { Objective, Prepared } from './types.js'
import { checkObjective, requireBothGroups } from './validate.js'

// Objective values are exact ratios of counts, except balanced accuracy, a float sum of recalls.
const REL_TOL = 1e-12
function same(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= REL_TOL * Math.max(Math.abs(a), Math.abs(b))
}

/**
 * The maximum of the objective over all γ, evaluated on the open intervals between consecutive
 * breakpoints (every metric is constant there). Adjacent intervals with the same value form one
 * maximal interval. Among several best maximal intervals we take the one containing 0, else the
 * one nearest 0 (ties: the lower one): the least change to the fine-tuned model that reaches the
 * optimum. γ is that interval's midpoint, its finite end ± 1 if it is unbounded, 0 if it is ℝ.
 *
 * Exactly at a breakpoint, tied samples predict the lower class index, which can mix states that
 * no open interval has. Such single points are not candidates: a γ that works only to the last bit
 * is not a calibration. If the chosen γ happens to land on a breakpoint inside the merged interval
 * (or the objective is flat over the whole line and 0 is a breakpoint), we move to the nearest
 * constituent interval's own representative, so the returned γ always achieves `value`.
 */
export function sweep(p: Prepared, objective: Objective): { gamma: number; value: number; interval: [number, number] } {
  checkObjective(objective)
  requireBothGroups(p.nClassesS, p.nClassesU)
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
  const w = new IntervalWalker(p, t)
  for (let j = 0; j <= m; j++) {
    if (j > 0) w.cross(j - 1)
    values[j] = objectiveValue(objective, p, w)
  }
  // Intervals between adjacent doubles hold no γ at all; they cannot be chosen.
  const realisable = (j: number) => !Number.isNaN(intervalPoint(b, j))
  let best = -Infinity
  for (let j = 0; j <= m; j++) if (realisable(j) && values[j]! > best) best = values[j]!

  let pick: { j0: number; j1: number; dist: number } | null = null
  for (let j = 0; j <= m; ) {
    if (!same(values[j]!, best)) {
      j++
      continue
    }
    let j1 = j
    while (j1 < m && same(values[j1 + 1]!, best)) j1++
    let any = false
    for (let q = j; q <= j1 && !any; q++) any = realisable(q)
    if (any) {
      const lo = j === 0 ? -Infinity : b[j - 1]!
      const hi = j1 === m ? Infinity : b[j1]!
      const dist = lo < 0 && hi > 0 ? 0 : hi <= 0 ? -hi : lo
      if (pick === null || dist < pick.dist) pick = { j0: j, j1, dist }
    }
    j = j1 + 1
  }
  // `best` is attained by a realisable interval, so some run qualified.
  const { j0, j1 } = pick!
  const lo = j0 === 0 ? -Infinity : b[j0 - 1]!
  const hi = j1 === m ? Infinity : b[j1]!
  let gamma = lo === -Infinity ? (hi === Infinity ? 0 : below(hi)) : hi === Infinity ? above(lo) : (lo + hi) / 2
  gamma = insideConstituent(b, j0, j1, gamma, realisable)
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

/**
 * x if it lies strictly inside one of the intervals j0..j1, else the representative of the
 * realisable constituent nearest to x (x then sits on breakpoint b_k, between intervals k and k+1).
 */
function insideConstituent(
  b: Float64Array,
  j0: number,
  j1: number,
  x: number,
  realisable: (j: number) => boolean,
): number {
  const k = countBelow(b, x)
  if (k >= b.length || b[k] !== x) return x
  for (let step = 0; step <= j1 - j0 + 1; step++) {
    for (const j of [k - step, k + 1 + step]) {
      if (j >= j0 && j <= j1 && realisable(j)) return intervalPoint(b, j)
    }
  }
  return x
}
