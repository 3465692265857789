// Split conformal prediction sets (issue 15 §2) on the calibrated scores p = softmax((z + γ·1U)/T),
// computed after γ and T are chosen, from the same labelled set.
//   lac: score s_i = 1 − p_{y_i}(x_i); C(x) = {c : 1 − p_c(x) ≤ q̂}.
//   aps (deterministic): rank classes by p descending, ties by index ascending; s_i = Σ p over the
//        classes ranked up to and including y_i; C(x) = the top k classes, k the smallest whose
//        cumulative p ≥ q̂ (all C when none reaches it).
//   q̂ = the ⌈(n+1)(1−α)⌉-th smallest of the n scores, +∞ (every class, `null` in the params) when
//   that rank exceeds n: the set is too small for this α.
//   by "group" (lac only): q̂_S from the samples labelled in S, q̂_U from those in U, and
//   c ∈ C(x) iff 1 − p_c(x) ≤ q̂ of c's group, so each group gets its own coverage guarantee.
import { CalibrationInputError } from './errors.js'
import { loadScan } from './prepare.js'
import { newRowScan, scanRow, splitGroups } from './rule.js'
import type { RowScan } from './rule.js'
import { expSum, shiftedRow } from './softmax.js'
import type { Calibration, ConformalFit, ConformalOptions, ConformalParams, Groups, Logits, Prepared, ScoredClass } from './types.js'
import { checkAbsent, checkCalibration, checkLogits } from './validate.js'

/** Checks the options a requester posted; returns them with the defaults filled in. */
export function checkConformalOptions(o: ConformalOptions): Required<ConformalOptions> {
  const { alpha } = o
  if (typeof alpha !== 'number' || !(alpha > 0 && alpha < 1)) {
    throw new CalibrationInputError(`conformal.alpha must be a number in (0, 1), got ${JSON.stringify(alpha)}`, 'conformal.alpha')
  }
  const score = o.score ?? 'lac'
  if (score !== 'lac' && score !== 'aps') {
    throw new CalibrationInputError(`unknown conformal.score ${JSON.stringify(score)}; expected "lac" or "aps"`, 'conformal.score')
  }
  const by = o.by ?? 'marginal'
  if (by !== 'marginal' && by !== 'group') {
    throw new CalibrationInputError(`unknown conformal.by ${JSON.stringify(by)}; expected "marginal" or "group"`, 'conformal.by')
  }
  if (by === 'group' && score !== 'lac') {
    throw new CalibrationInputError('conformal.by "group" works with score "lac" only', 'conformal.by')
  }
  return { alpha, score, by }
}

/**
 * ⌈(n+1)(1−α)⌉, exactly: α is a dyadic rational M/2^k, so the rank is ⌈(n+1)(2^k − M)/2^k⌉ in
 * integers (a float product can land one rank off when (n+1)(1−α) is an integer).
 */
export function conformalRank(n: number, alpha: number): number {
  let k = 0
  let a = alpha
  while (!Number.isInteger(a)) {
    a *= 2
    k++
  }
  const den = 1n << BigInt(k)
  const num = BigInt(n + 1) * (den - BigInt(a))
  return Number((num + den - 1n) / den)
}

/** The rank-th smallest score (1-based) by the rule above; null (+∞) when rank > n. */
function quantile(scores: number[], alpha: number): number | null {
  const r = conformalRank(scores.length, alpha)
  if (r > scores.length) return null
  return Float64Array.from(scores).sort()[r - 1]!
}

/** Probabilities of one row into `prob` (via the exact, overflow-free shifted logits of softmax.ts). */
function rowProbabilities(
  data: Float32Array,
  c: number,
  i: number,
  groups: Groups,
  scan: RowScan,
  cal: Calibration,
  d: Float64Array,
  prob: Float64Array,
): void {
  shiftedRow(data, c, i, groups, scan, cal.gamma, cal.temperature, d)
  const sum = expSum(d, c)
  for (let j = 0; j < c; j++) prob[j] = Math.exp(d[j]!) / sum
}

/** Class indices by p descending, ties by index ascending. */
function ranked(prob: Float64Array): number[] {
  const order = Array.from({ length: prob.length }, (_, j) => j)
  return order.sort((a, b) => prob[b]! - prob[a]! || a - b)
}

/** The APS score of label y: Σ p over the classes ranked up to and including y (summed in rank order). */
function apsScore(prob: Float64Array, order: number[], y: number): number {
  let cum = 0
  for (const j of order) {
    cum += prob[j]!
    if (j === y) break
  }
  return cum
}

/** The set of one row, in rank order, as {index, score = p}. */
function rowSet(prob: Float64Array, params: ConformalParams, absent: Uint8Array): ScoredClass[] {
  const order = ranked(prob)
  const out: ScoredClass[] = []
  if (params.score === 'aps') {
    const q = params.qhat ?? null
    let cum = 0
    for (const j of order) {
      out.push({ index: j, score: prob[j]! })
      cum += prob[j]!
      if (q !== null && cum >= q) break
    }
    return out
  }
  for (const j of order) {
    const q = params.by === 'group' ? (absent[j] ? params.qhat_u : params.qhat_s) : params.qhat
    if (q === null || q === undefined || 1 - prob[j]! <= q) out.push({ index: j, score: prob[j]! })
  }
  return out
}

/**
 * Fit conformal sets on a prepared labelled set at the chosen calibration (γ, T); reports the
 * coverage and mean set size on that same set. Options as checkConformalOptions.
 */
export function fitConformal(p: Prepared, cal: Calibration, opts: ConformalOptions): ConformalFit {
  const o = checkConformalOptions(opts)
  checkCalibration(cal)
  if (p.n === 0) throw new CalibrationInputError('conformal sets need at least one labelled sample', 'labels')
  const { data, c } = p.logits
  const scan = newRowScan()
  const d = new Float64Array(c)
  const probs: Float64Array[] = []
  const scoresS: number[] = []
  const scoresU: number[] = []
  const scores: number[] = []
  for (let i = 0; i < p.n; i++) {
    const prob = new Float64Array(c)
    loadScan(p, i, scan)
    rowProbabilities(data, c, i, p.groups, scan, cal, d, prob)
    probs.push(prob)
    const y = p.label[i]!
    const s = o.score === 'lac' ? 1 - prob[y]! : apsScore(prob, ranked(prob), y)
    scores.push(s)
    ;(p.inS[i] ? scoresS : scoresU).push(s)
  }
  const params: ConformalParams =
    o.by === 'group'
      ? { ...o, qhat_s: quantile(scoresS, o.alpha), qhat_u: quantile(scoresU, o.alpha) }
      : { ...o, qhat: quantile(scores, o.alpha) }
  const tooSmall = o.by === 'group' ? params.qhat_s === null || params.qhat_u === null : params.qhat === null
  let covered = 0
  let coveredS = 0
  let size = 0
  for (let i = 0; i < p.n; i++) {
    const set = rowSet(probs[i]!, params, p.absent)
    size += set.length
    if (set.some((e) => e.index === p.label[i])) {
      covered++
      if (p.inS[i]) coveredS++
    }
  }
  const frac = (k: number, of: number) => (of > 0 ? k / of : null)
  return {
    ...params,
    too_small: tooSmall,
    coverage: {
      overall: frac(covered, p.n),
      s: frac(coveredS, p.nLabelledS),
      u: frac(covered - coveredS, p.nLabelledU),
    },
    mean_set_size: size / p.n,
  }
}

/** Checks stored params (internal data, so RangeError): the q̂ fields their `by` needs. */
function checkParams(params: ConformalParams): void {
  checkConformalOptions(params)
  const ok = (q: unknown) => q === null || (typeof q === 'number' && !Number.isNaN(q))
  if (params.by === 'group' ? !ok(params.qhat_s) || !ok(params.qhat_u) : !ok(params.qhat)) {
    throw new RangeError('conformal params lack the q̂ their "by" needs')
  }
}

/**
 * The conformal set of every row under stored params, each in rank order (p descending, ties by
 * index ascending) as {index, score = p_c}. A q̂ of null (+∞) gives every class.
 */
export function applyConformal(logits: Logits, absent: Uint8Array, cal: Calibration, params: ConformalParams): ScoredClass[][] {
  checkLogits(logits)
  const { data, n, c } = logits
  checkAbsent(absent, c)
  checkCalibration(cal)
  checkParams(params)
  const groups = splitGroups(absent)
  const scan = newRowScan()
  const d = new Float64Array(c)
  const prob = new Float64Array(c)
  const out: ScoredClass[][] = new Array(n)
  for (let i = 0; i < n; i++) {
    scanRow(data, c, i, groups, scan)
    rowProbabilities(data, c, i, groups, scan, cal, d, prob)
    out[i] = rowSet(prob, params, absent)
  }
  return out
}

/** The calibrated probabilities softmax((z + γ·1U)/T) of every row, as conformal sets see them. */
export function calibratedProbabilities(logits: Logits, absent: Uint8Array, cal: Calibration): Float64Array[] {
  checkLogits(logits)
  const { data, n, c } = logits
  checkAbsent(absent, c)
  checkCalibration(cal)
  const groups = splitGroups(absent)
  const scan = newRowScan()
  const d = new Float64Array(c)
  const out: Float64Array[] = []
  for (let i = 0; i < n; i++) {
    const prob = new Float64Array(c)
    scanRow(data, c, i, groups, scan)
    rowProbabilities(data, c, i, groups, scan, cal, d, prob)
    out.push(prob)
  }
  return out
}
