// ALG, the average logit gap of Mai et al. (NeurIPS 2024), in two variants:
//   "fine_tuning" (the paper's text, the default): over samples labelled in S, the data a
//     fine-tuner actually has,
//       γ = mean_i( mean of the S logits other than the true one ) − mean_i( mean of the U logits ).
//   "all" (the paper's released code): the same two means over every sample of the set, S- and
//     U-labelled; "other than the true one" only removes a logit when the label is in S, so a
//     U-labelled sample contributes the mean of all its S logits. As in
//     OSU-MLB/Fine-Tuning-Is-Fine-If-Calibrated, py/util/evaluate.py, evaluate_baseline_calibration:
//     `wrong_visible_classes = [x for x in visible_classes if x != label]` and
//     `logit[invisible_classes].mean()` for every sample, then the difference of the two means.
// The logits are finite (prepare checked them). Every sum is compensated (exact.ts): with absent logits [1e30, 1.5, −1e30] the row mean is 0.5.
import { CalibrationInputError } from './errors.js'
import { CompensatedSum } from './exact.js'
import type { AlgSamples, Prepared } from './types.js'
import { requireBothGroups } from './validate.js'

export function alg(p: Prepared, samples: AlgSamples = 'fine_tuning'): { gamma: number; n_used: number; n_ignored: number } {
  if (samples !== 'fine_tuning' && samples !== 'all') {
    throw new CalibrationInputError(
      `unknown alg_samples ${JSON.stringify(samples)}; expected "fine_tuning" or "all"`,
      'alg_samples',
    )
  }
  const { data, c } = p.logits
  const { n, label, absent } = p
  const { s, u } = p.groups
  requireBothGroups(s.length, u.length)
  if (s.length < 2) {
    throw new CalibrationInputError(
      'alg needs at least 2 fine-tuning classes (it averages the S logits other than the true one); ' +
        'this model has 1. Use method "sweep".',
      'method',
    )
  }
  const sumS = new CompensatedSum()
  const sumU = new CompensatedSum()
  const row = new CompensatedSum()
  let used = 0
  for (let i = 0; i < n; i++) {
    const y = label[i]!
    const yInS = !absent[y]
    // "fine_tuning": samples of absent classes are counted as ignored.
    if (!yInS && samples === 'fine_tuning') continue
    const o = i * c
    row.reset()
    for (let k = 0; k < s.length; k++) {
      const j = s[k]!
      if (j !== y) row.add(data[o + j]!)
    }
    const meanS = row.value() / (yInS ? s.length - 1 : s.length)
    row.reset()
    for (let k = 0; k < u.length; k++) row.add(data[o + u[k]!]!)
    const meanU = row.value() / u.length
    sumS.add(meanS)
    sumU.add(meanU)
    used++
  }
  if (used === 0) {
    throw new CalibrationInputError(
      samples === 'all'
        ? 'alg needs at least one labelled sample; the set is empty'
        : 'alg needs samples labelled in fine-tuning classes (S); the set has none',
      'labels',
    )
  }
  return { gamma: sumS.value() / used - sumU.value() / used, n_used: used, n_ignored: n - used }
}
