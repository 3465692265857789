// Metrics of a labelled set at a bias γ. Every prediction goes through `decide` (rule.ts), the
// rule predict uses, so these are the numbers the service would score on this set.
import { ausucOf } from './curve.js'
import { predictedAt } from './prepare.js'
import { harmonicMean, rate } from './rates.js'
import type { Metrics, Prepared } from './types.js'
import { checkGamma } from './validate.js'

/** All γ-dependent metrics at γ by direct O(N) evaluation (no ausuc). */
export function gammaMetrics(p: Prepared, gamma: number): Omit<Metrics, 'ausuc'> {
  checkGamma(gamma)
  let correctS = 0
  let correctU = 0
  const classCorrect = new Int32Array(p.c)
  for (let i = 0; i < p.n; i++) {
    const y = p.label[i]!
    if (predictedAt(p, i, gamma) !== y) continue
    classCorrect[y]++
    if (p.inS[i]) correctS++
    else correctU++
  }
  let recall = 0
  let present = 0
  for (let y = 0; y < p.c; y++) {
    const cnt = p.classCount[y]!
    if (cnt === 0) continue
    present++
    recall += classCorrect[y]! / cnt
  }
  const accS = rate(correctS, p.nLabelledS)
  const accU = rate(correctU, p.nLabelledU)
  return {
    acc_s_y: accS,
    acc_u_y: accU,
    acc_y_y: rate(correctS + correctU, p.n),
    acc_s_s: rate(p.correctSS, p.nLabelledS),
    acc_u_u: rate(p.correctUU, p.nLabelledU),
    harmonic_mean: harmonicMean(accS, accU),
    balanced_accuracy: present === 0 ? null : recall / present,
  }
}

/** Metrics at γ; ausuc is the area under the whole seen–absent curve (independent of γ). */
export function metricsAt(p: Prepared, gamma: number): Metrics {
  return { ...gammaMetrics(p, gamma), ausuc: ausucOf(p) }
}
