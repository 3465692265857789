// Applying a calibration to logits: the hot path of /predict. Uses the same decision rule
// (rule.ts) as every fit and metric, so a fitted γ predicts exactly what the fit measured.
import { cmpExact, twoDiff } from './exact.js'
import { decide, newRowScan, scanRow, splitGroups } from './rule.js'
import { expSum, shiftedRow } from './softmax.js'
import type { Calibration, Logits, Prediction, ScoredClass } from './types.js'
import { checkAbsent, checkCalibration, checkGamma, checkLogits } from './validate.js'

/**
 * z ← z + γ·1U in place, in float32: z + fround(γ) rounded to float32, exactly what one float32
 * Add of the constant γ computes in an ONNX runtime, so a model exported with its calibration
 * (src/export/onnx.ts) outputs these values bit for bit. The literal calibrated logits for callers
 * that return them; not used for predictions (see rule.ts for why). A huge γ makes absent entries
 * ±Infinity in float32; that is the literal value, and the caller decides how to serialise it.
 */
export function addBias(data: Float32Array, c: number, absent: Uint8Array, gamma: number): void {
  if (!Number.isInteger(c) || c < 1 || data.length % c !== 0) {
    throw new RangeError(`data.length ${data.length} is not a multiple of the class count ${c}`)
  }
  checkAbsent(absent, c)
  checkGamma(gamma)
  if (gamma === 0) return
  const { u } = splitGroups(absent)
  // float32 + float32 evaluated in float64 and stored as float32 is the float32 sum (53 ≥ 2·24 + 2).
  const g32 = Math.fround(gamma)
  for (let o = 0; o < data.length; o += c) {
    for (let k = 0; k < u.length; k++) data[o + u[k]!] += g32
  }
}

/**
 * Per row: the calibrated prediction, its score, and the k best classes (k clamped to C).
 * Scores are softmax((z + γ·1U)/T) in float64; T never changes the order.
 */
export function predict(logits: Logits, absent: Uint8Array, cal: Calibration, k: number): Prediction[] {
  checkLogits(logits)
  const { data, n, c } = logits
  checkAbsent(absent, c)
  checkCalibration(cal)
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`)
  const kk = Math.min(k, c)
  const groups = splitGroups(absent)
  const scan = newRowScan()
  const d = new Float64Array(c)
  const topS = new Int32Array(Math.min(kk, groups.s.length))
  const topU = new Int32Array(Math.min(kk, groups.u.length))
  const out: Prediction[] = new Array(n)
  for (let i = 0; i < n; i++) {
    scanRow(data, c, i, groups, scan)
    const index = decide(scan.sIdx, scan.uIdx, scan.gap, scan.gapLo, cal.gamma)
    shiftedRow(data, c, i, groups, scan, cal.gamma, cal.temperature, d)
    const sum = expSum(d, c)
    const o = i * c
    const ns = topWithin(data, o, groups.s, topS)
    const nu = topWithin(data, o, groups.u, topU)
    const top_k = mergeTop(data, o, topS, ns, topU, nu, cal.gamma, kk, d, sum)
    out[i] = { index, score: Math.exp(d[index]!) / sum, top_k }
  }
  return out
}

/**
 * The best `buf.length` columns of one group, by z descending, lower index first on ties.
 * Insertion into a k-sized buffer: O(C·k) worst case, ~O(C) for the small k an API asks for.
 */
function topWithin(data: Float32Array, o: number, cols: Int32Array, buf: Int32Array): number {
  const cap = buf.length
  let len = 0
  for (let m = 0; m < cols.length; m++) {
    const j = cols[m]!
    const v = data[o + j]!
    // Columns arrive in ascending index, so an equal value stays behind the earlier one (strict >).
    if (len === cap && !(v > data[o + buf[len - 1]!]!)) continue
    let p = len < cap ? len++ : cap - 1
    while (p > 0 && v > data[o + buf[p - 1]!]!) {
      buf[p] = buf[p - 1]!
      p--
    }
    buf[p] = j
  }
  return len
}

/**
 * Merge the two sorted group lists by calibrated logit. Across groups, S class a precedes U class b
 * when z_a − z_b (exact, as a two-double value) > γ, and on equality the lower index goes first: the same comparison
 * `decide` makes between the two group heads, so top_k[0] is always the prediction, and the order
 * within each group is the raw z order whatever γ is.
 */
const diff = { hi: 0, lo: 0 }

function mergeTop(
  data: Float32Array,
  o: number,
  ts: Int32Array,
  ns: number,
  tu: Int32Array,
  nu: number,
  gamma: number,
  k: number,
  d: Float64Array,
  sum: number,
): ScoredClass[] {
  const res: ScoredClass[] = []
  let a = 0
  let b = 0
  while (res.length < k && (a < ns || b < nu)) {
    let take: number
    if (b >= nu) take = ts[a++]!
    else if (a >= ns) take = tu[b++]!
    else {
      const sa = ts[a]!
      const ub = tu[b]!
      twoDiff(data[o + sa]!, data[o + ub]!, diff)
      const cmp = cmpExact(gamma, diff.hi, diff.lo)
      if (cmp < 0 || (cmp === 0 && sa < ub)) {
        take = sa
        a++
      } else {
        take = ub
        b++
      }
    }
    res.push({ index: take, score: Math.exp(d[take]!) / sum })
  }
  return res
}
