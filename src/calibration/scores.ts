// Probabilistic metrics of calibrated scores softmax((z + γ·1U)/T): NLL and ECE, over a prepared
// set (its group maxima and switch points are reused; only the softmax touches every logit).
import { CalibrationInputError } from './errors.js'
import { loadScan, predictedAt } from './prepare.js'
import { newRowScan } from './rule.js'
import { expSum, shiftedRow } from './softmax.js'
import type { Calibration, Prepared } from './types.js'
import { checkCalibration } from './validate.js'

function checkScored(p: Prepared, cal: Calibration, what: string): void {
  checkCalibration(cal)
  if (p.n === 0) throw new CalibrationInputError(`${what} needs at least one labelled sample`, 'labels')
}

/**
 * Mean negative log-likelihood (natural log) of the labels. Per sample
 * −log p_y = log Σ_j exp(d_j) − d_y with the shifted logits d of softmax.ts, so it stays finite
 * for any finite γ (it is simply large when γ pushes the true class far down).
 */
export function nll(p: Prepared, cal: Calibration): number {
  checkScored(p, cal, 'nll')
  const { data, c } = p.logits
  const scan = newRowScan()
  const d = new Float64Array(c)
  let total = 0
  for (let i = 0; i < p.n; i++) {
    loadScan(p, i, scan)
    shiftedRow(data, c, i, p.groups, scan, cal.gamma, cal.temperature, d)
    total += Math.log(expSum(d, c)) - d[p.label[i]!]!
  }
  return total / p.n
}

/**
 * The bin b of confidence q among `bins` equal-width bins: the one with b/bins < q ≤ (b+1)/bins,
 * edges being the doubles b/bins (q ≤ 1/bins, including 0, is bin 0). ceil(q·bins) − 1 alone is
 * only a first guess: the product rounds, so 7/25·25 = 7.000000000000001 puts 7/25 in bin 7 instead
 * of 6, and the double just above 11/15 times 15 is 11, putting it in bin 10 instead of 11. The
 * guess is off by at most one and the comparisons with the edges themselves settle it.
 */
export function confidenceBin(q: number, bins: number): number {
  let b = Math.min(bins - 1, Math.max(0, Math.ceil(q * bins) - 1))
  if (b > 0 && q <= b / bins) b--
  else if (b < bins - 1 && q > (b + 1) / bins) b++
  return b
}

/**
 * Expected calibration error with `bins` equal-width confidence bins over (0, 1]: bin b holds
 * confidences in (b/bins, (b+1)/bins]. Confidence is the score of the predicted class (the max
 * score); ECE = Σ_b (n_b / N)·|acc_b − conf_b|.
 */
export function ece(p: Prepared, cal: Calibration, bins = 15): number {
  checkScored(p, cal, 'ece')
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`bins must be a positive integer, got ${bins}`)
  const { data, c } = p.logits
  const n = p.n
  const scan = newRowScan()
  const d = new Float64Array(c)
  const count = new Float64Array(bins)
  const right = new Float64Array(bins)
  const conf = new Float64Array(bins)
  for (let i = 0; i < n; i++) {
    loadScan(p, i, scan)
    shiftedRow(data, c, i, p.groups, scan, cal.gamma, cal.temperature, d)
    const pred = predictedAt(p, i, cal.gamma)
    const q = Math.exp(d[pred]!) / expSum(d, c)
    const b = confidenceBin(q, bins)
    count[b]!++
    conf[b]! += q
    if (pred === p.label[i]) right[b]!++
  }
  let e = 0
  for (let b = 0; b < bins; b++) {
    // (n_b/N)·|acc_b − conf_b| = |right_b − Σconf_b| / N
    if (count[b]! > 0) e += Math.abs(right[b]! - conf[b]!) / n
  }
  return e
}
