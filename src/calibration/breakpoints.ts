// The sorted breakpoints of a prepared set and an incremental walk over the intervals between them.
//
// Every sample predicts sIdx for γ < g and uIdx for γ > g, so all γ-metrics are step functions
// with steps at the distinct gaps b_1 < … < b_m. Interval 0 is (−∞, b_1), interval j is
// (b_j, b_{j+1}), interval m is (b_m, +∞). Crossing b_k changes only the samples whose gap is b_k:
// an S-labelled sample right at sIdx stops being right (−1), a U-labelled sample right at uIdx
// becomes right (+1); nothing else can change. One sort plus O(N) updates gives every interval.
import type { Prepared } from './types.js'

export interface BreakpointTable {
  /** Distinct finite gaps, ascending (m of them). */
  readonly b: Float64Array
  /** Events of breakpoint k are [start[k], start[k+1]) in evClass/evDelta. */
  readonly start: Int32Array
  readonly evClass: Int32Array
  readonly evDelta: Int8Array
  /** State on interval 0 (γ below every breakpoint). */
  readonly initCorrectS: number
  readonly initCorrectU: number
  readonly initClassCorrect: Int32Array
}

// Derived from an immutable Prepared, so cache it: metricsAt, sweep and the curve all need it.
const cache = new WeakMap<Prepared, BreakpointTable>()

export function breakpointTable(p: Prepared): BreakpointTable {
  let t = cache.get(p)
  if (t === undefined) {
    t = build(p)
    cache.set(p, t)
  }
  return t
}

function build(p: Prepared): BreakpointTable {
  const { n, gap, sIdx, uIdx, label, inS } = p
  // Native numeric sort of a Float64Array; gaps are ±Infinity only when a group is empty.
  const sorted = new Float64Array(n)
  let nf = 0
  for (let i = 0; i < n; i++) if (Number.isFinite(gap[i]!)) sorted[nf++] = gap[i]!
  const fin = sorted.subarray(0, nf).sort()
  let m = 0
  for (let i = 0; i < nf; i++) if (i === 0 || fin[i]! !== fin[m - 1]!) fin[m++] = fin[i]!
  const b = Float64Array.from(fin.subarray(0, m))

  const initClassCorrect = new Int32Array(p.c)
  let initCorrectS = 0
  let initCorrectU = 0
  const count = new Int32Array(m + 1)
  const bucket = new Int32Array(n).fill(-1)
  for (let i = 0; i < n; i++) {
    const y = label[i]!
    const g = gap[i]!
    // Below every finite breakpoint a sample predicts sIdx, unless S is empty (gap −∞).
    const first = g === -Infinity ? uIdx[i]! : sIdx[i]!
    if (first === y) {
      initClassCorrect[y]++
      if (inS[i]) initCorrectS++
      else initCorrectU++
    }
    if (!Number.isFinite(g)) continue
    const changes = inS[i] ? sIdx[i] === y : uIdx[i] === y
    if (!changes) continue
    const k = indexOf(b, g)
    bucket[i] = k
    count[k + 1]++
  }
  for (let k = 0; k < m; k++) count[k + 1] += count[k]!
  const start = count
  const fill = start.slice(0, m)
  const evClass = new Int32Array(start[m]!)
  const evDelta = new Int8Array(start[m]!)
  for (let i = 0; i < n; i++) {
    const k = bucket[i]!
    if (k < 0) continue
    const at = fill[k]!++
    evClass[at] = label[i]!
    evDelta[at] = inS[i] ? -1 : 1
  }
  return { b, start, evClass, evDelta, initCorrectS, initCorrectU, initClassCorrect }
}

/** Index of x in the ascending array a (x must be present). */
function indexOf(a: Float64Array, x: number): number {
  let lo = 0
  let hi = a.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (a[mid]! < x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Number of breakpoints strictly below x: the interval that contains x when x is no breakpoint. */
export function countBelow(b: Float64Array, x: number): number {
  let lo = 0
  let hi = b.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (b[mid]! < x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** True when x is one of the breakpoints. */
export function isBreakpoint(b: Float64Array, x: number): boolean {
  const k = countBelow(b, x)
  return k < b.length && b[k] === x
}

/**
 * x − 1, or a few ulps below x when |x| ≥ 2^53 and x − 1 would round back onto x
 * (the representative of an unbounded interval must lie strictly inside it).
 */
export function below(x: number): number {
  const y = x - 1
  return y < x ? y : x - Math.abs(x) * 2 ** -50
}

export function above(x: number): number {
  const y = x + 1
  return y > x ? y : x + Math.abs(x) * 2 ** -50
}

/**
 * The representative γ of interval j: its midpoint; b_1 − 1 and b_m + 1 for the unbounded ends;
 * 0 when there are no breakpoints. NaN when the interval holds no double at all (two adjacent
 * doubles as breakpoints): such an interval is real but no float γ can select it.
 */
export function intervalPoint(b: Float64Array, j: number): number {
  const m = b.length
  if (m === 0) return 0
  if (j === 0) return below(b[0]!)
  if (j === m) return above(b[m - 1]!)
  const lo = b[j - 1]!
  const hi = b[j]!
  const mid = (lo + hi) / 2
  return mid > lo && mid < hi ? mid : NaN
}

/**
 * Walks intervals 0..m in γ order, keeping the counts every objective needs. `recall` is the sum
 * over present classes of correct_c / count_c, kept with Neumaier compensation so that after
 * N updates it still agrees with a direct sum to ~1e-16 (the sweep merges equal values at 1e-12).
 */
export class IntervalWalker {
  correctS: number
  correctU: number
  readonly classCorrect: Int32Array
  private recallSum = 0
  private recallComp = 0
  readonly classesPresent: number

  constructor(
    private readonly p: Prepared,
    private readonly t: BreakpointTable,
  ) {
    this.correctS = t.initCorrectS
    this.correctU = t.initCorrectU
    this.classCorrect = t.initClassCorrect.slice()
    let present = 0
    for (let y = 0; y < p.c; y++) {
      const cnt = p.classCount[y]!
      if (cnt > 0) {
        present++
        this.addRecall(this.classCorrect[y]! / cnt)
      }
    }
    this.classesPresent = present
  }

  /** Apply the changes at breakpoint k: from interval k to interval k + 1. */
  cross(k: number): void {
    const { start, evClass, evDelta } = this.t
    const cc = this.classCorrect
    const counts = this.p.classCount
    for (let e = start[k]!; e < start[k + 1]!; e++) {
      const y = evClass[e]!
      const dlt = evDelta[e]!
      cc[y] += dlt
      if (dlt < 0) this.correctS--
      else this.correctU++
      this.addRecall(dlt / counts[y]!)
    }
  }

  /** Mean recall over the classes present in the labels (null for an empty set). */
  balancedAccuracy(): number | null {
    return this.classesPresent === 0 ? null : (this.recallSum + this.recallComp) / this.classesPresent
  }

  private addRecall(x: number): void {
    const s = this.recallSum
    const t = s + x
    this.recallComp += Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s
    this.recallSum = t
  }
}
