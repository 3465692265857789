// Probabilistic metrics of calibrated scores softmax((z + γ·1U)/T): NLL and ECE.
import { CalibrationInputError } from './errors.js'
import { decide, scanRow, splitGroups } from './rule.js'
import type { RowScan } from './rule.js'
import { expSum, shiftedRow } from './softmax.js'
import type { Calibration, Logits } from './types.js'
import { checkAbsent, checkCalibration, checkLabels, checkLogits } from './validate.js'

function checkAll(logits: Logits, labels: Int32Array, absent: Uint8Array, cal: Calibration, what: string): void {
  checkLogits(logits)
  checkAbsent(absent, logits.c)
  checkLabels(labels, logits.n, logits.c)
  checkCalibration(cal)
  if (logits.n === 0) throw new CalibrationInputError(`${what} needs at least one labelled sample`, 'labels')
}

/**
 * Mean negative log-likelihood (natural log) of the labels. Per sample
 * −log p_y = log Σ_j exp(d_j) − d_y with the shifted logits d of softmax.ts, so it stays finite
 * for any finite γ (it is simply large when γ pushes the true class far down).
 */
export function nll(logits: Logits, labels: Int32Array, absent: Uint8Array, cal: Calibration): number {
  checkAll(logits, labels, absent, cal, 'nll')
  const { data, n, c } = logits
  const groups = splitGroups(absent)
  const scan: RowScan = { sIdx: -1, uIdx: -1, gap: 0 }
  const d = new Float64Array(c)
  let total = 0
  for (let i = 0; i < n; i++) {
    scanRow(data, c, i, groups, scan)
    shiftedRow(data, c, i, groups, scan, cal.gamma, cal.temperature, d)
    total += Math.log(expSum(d, c)) - d[labels[i]!]!
  }
  return total / n
}

/**
 * Expected calibration error with `bins` equal-width confidence bins over (0, 1]: bin b holds
 * confidences in (b/bins, (b+1)/bins]. Confidence is the score of the predicted class (the max
 * score); ECE = Σ_b (n_b / N)·|acc_b − conf_b|.
 */
export function ece(logits: Logits, labels: Int32Array, absent: Uint8Array, cal: Calibration, bins = 15): number {
  checkAll(logits, labels, absent, cal, 'ece')
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`bins must be a positive integer, got ${bins}`)
  const { data, n, c } = logits
  const groups = splitGroups(absent)
  const scan: RowScan = { sIdx: -1, uIdx: -1, gap: 0 }
  const d = new Float64Array(c)
  const count = new Float64Array(bins)
  const right = new Float64Array(bins)
  const conf = new Float64Array(bins)
  for (let i = 0; i < n; i++) {
    scanRow(data, c, i, groups, scan)
    shiftedRow(data, c, i, groups, scan, cal.gamma, cal.temperature, d)
    const pred = decide(scan.sIdx, scan.uIdx, scan.gap, cal.gamma)
    const p = Math.exp(d[pred]!) / expSum(d, c)
    const b = Math.min(bins - 1, Math.max(0, Math.ceil(p * bins) - 1))
    count[b]++
    conf[b] += p
    if (pred === labels[i]) right[b]++
  }
  let e = 0
  for (let b = 0; b < bins; b++) {
    // (n_b/N)·|acc_b − conf_b| = |right_b − Σconf_b| / N
    if (count[b]! > 0) e += Math.abs(right[b]! - conf[b]!) / n
  }
  return e
}
