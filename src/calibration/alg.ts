// ALG, the average logit gap of Mai et al. (NeurIPS 2024): a bias from fine-tuning-class samples
// only, the data a fine-tuner actually has. Over samples labelled in S:
//   γ = mean_i( mean of the S logits other than the true one ) − mean_i( mean of the U logits ).
import { CalibrationInputError } from './errors.js'
import { splitGroups } from './rule.js'
import type { Logits } from './types.js'
import { checkAbsent, checkLabels, checkLogits, nonFiniteLogit, requireBothGroups } from './validate.js'

export function alg(logits: Logits, labels: Int32Array, absent: Uint8Array): { gamma: number; n_used: number; n_ignored: number } {
  checkLogits(logits)
  const { data, n, c } = logits
  checkAbsent(absent, c)
  checkLabels(labels, n, c)
  const { s, u } = splitGroups(absent)
  requireBothGroups(s.length, u.length)
  if (s.length < 2) {
    throw new CalibrationInputError(
      'alg needs at least 2 fine-tuning classes (it averages the S logits other than the true one); ' +
        'this model has 1. Use method "sweep".',
      'method',
    )
  }
  let sumS = 0
  let sumU = 0
  let used = 0
  for (let i = 0; i < n; i++) {
    const y = labels[i]!
    // Samples of absent classes carry no information ALG uses; they are counted as ignored.
    if (absent[y]) continue
    const o = i * c
    let rowS = 0
    for (let k = 0; k < s.length; k++) {
      const j = s[k]!
      if (j !== y) rowS += data[o + j]!
    }
    let rowU = 0
    for (let k = 0; k < u.length; k++) rowU += data[o + u[k]!]!
    if (!Number.isFinite(rowS + rowU)) throw nonFiniteLogit(data, i, c)
    sumS += rowS / (s.length - 1)
    sumU += rowU / u.length
    used++
  }
  if (used === 0) {
    throw new CalibrationInputError('alg needs samples labelled in fine-tuning classes (S); the set has none', 'labels')
  }
  return { gamma: sumS / used - sumU / used, n_used: used, n_ignored: n - used }
}
