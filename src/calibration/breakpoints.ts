// The sorted breakpoints of a prepared set and an incremental walk over the intervals between them.
//
// Every sample predicts sIdx for γ < g and uIdx for γ > g, so all γ-metrics are step functions
// with steps at the distinct gaps b_1 < … < b_m (exact two-double values, see rule.ts). Interval 0 is (−∞, b_1), interval j is
// (b_j, b_{j+1}), interval m is (b_m, +∞). Crossing b_k changes only the samples whose gap is b_k:
// an S-labelled sample right at sIdx stops being right (−1), a U-labelled sample right at uIdx
// becomes right (+1); nothing else can change. One sort plus O(N) updates gives every interval.
import { CompensatedSum, cmpExact, cmpPairs, nextUp } from './exact.js'
import type { Prepared } from './types.js'

export interface BreakpointTable {
  /**
   * Distinct finite switch points, ascending (m of them), each the exact two-double value
   * b[k] + bLo[k] (rule.ts). Two points with equal b but different bLo are distinct.
   */
  readonly b: Float64Array
  readonly bLo: Float64Array
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

/** The distinct finite switch points of the set, ascending by exact value. */
function distinctPoints(p: Prepared): { b: Float64Array; bLo: Float64Array } {
  const { n, gap, gapLo } = p
  let nf = 0
  let inexact = false
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(gap[i]!)) continue
    nf++
    if (gapLo[i] !== 0) inexact = true
  }
  if (!inexact) {
    // Every gap is exact (the usual case): a native numeric sort of the doubles.
    const sorted = new Float64Array(nf)
    let k = 0
    for (let i = 0; i < n; i++) if (Number.isFinite(gap[i]!)) sorted[k++] = gap[i]!
    sorted.sort()
    let m = 0
    for (let i = 0; i < nf; i++) if (i === 0 || sorted[i]! !== sorted[m - 1]!) sorted[m++] = sorted[i]!
    return { b: sorted.slice(0, m), bLo: new Float64Array(m) }
  }
  const idx = new Int32Array(nf)
  let k = 0
  for (let i = 0; i < n; i++) if (Number.isFinite(gap[i]!)) idx[k++] = i
  idx.sort((x, y) => cmpPairs(gap[x]!, gapLo[x]!, gap[y]!, gapLo[y]!))
  const b = new Float64Array(nf)
  const bLo = new Float64Array(nf)
  let m = 0
  for (let q = 0; q < nf; q++) {
    const i = idx[q]!
    if (m > 0 && b[m - 1] === gap[i] && bLo[m - 1] === gapLo[i]) continue
    b[m] = gap[i]!
    bLo[m] = gapLo[i]!
    m++
  }
  return { b: b.slice(0, m), bLo: bLo.slice(0, m) }
}

function build(p: Prepared): BreakpointTable {
  const { n, gap, gapLo, sIdx, uIdx, label, inS } = p
  const { b, bLo } = distinctPoints(p)
  const m = b.length

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
    const k = indexOf(b, bLo, g, gapLo[i]!)
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
  return { b, bLo, start, evClass, evDelta, initCorrectS, initCorrectU, initClassCorrect }
}

/** Index of the point (x, xLo) in the ascending table (it must be present). */
function indexOf(b: Float64Array, bLo: Float64Array, x: number, xLo: number): number {
  let lo = 0
  let hi = b.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (cmpPairs(b[mid]!, bLo[mid]!, x, xLo) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * Number of breakpoints strictly below the double x (exact comparison): the interval that
 * contains x when x is no breakpoint.
 */
export function countBelow(t: Pick<BreakpointTable, 'b' | 'bLo'>, x: number): number {
  const { b, bLo } = t
  let lo = 0
  let hi = b.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (cmpExact(x, b[mid]!, bLo[mid]!) > 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** True when the double x equals breakpoint k exactly. */
export function onBreakpoint(t: Pick<BreakpointTable, 'b' | 'bLo'>, k: number, x: number): boolean {
  return k < t.b.length && cmpExact(x, t.b[k]!, t.bLo[k]!) === 0
}

/**
 * x − 1, or a few ulps below x when |x| ≥ 2^53 and x − 1 would round back onto x
 * (the representative of an unbounded interval must lie strictly inside it). Also strictly below
 * the exact point x + lo of a two-double pair, since |lo| is at most half an ulp of x.
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
 * A double strictly inside the open interval between the exact points (h0 + l0, h1 + l1), or NaN
 * when the interval holds no double. The midpoint when it is inside (always, when both points are
 * doubles and not adjacent); otherwise the smallest double above the lower point, which is h0 or
 * the double after it: if that one is not inside, none is.
 */
export function pointBetween(h0: number, l0: number, h1: number, l1: number): number {
  const mid = l0 === 0 && l1 === 0 ? (h0 + h1) / 2 : (h0 + h1) / 2 + (l0 + l1) / 2
  const inside = (x: number) => cmpExact(x, h0, l0) > 0 && cmpExact(x, h1, l1) < 0
  if (inside(mid)) return mid
  if (inside(h0)) return h0
  const up = nextUp(h0)
  return inside(up) ? up : NaN
}

/**
 * The representative γ of interval j: its midpoint; b_1 − 1 and b_m + 1 for the unbounded ends;
 * 0 when there are no breakpoints. NaN when the interval holds no double at all (two points with
 * no double between them): such an interval is real but no float γ can select it.
 */
export function intervalPoint(t: Pick<BreakpointTable, 'b' | 'bLo'>, j: number): number {
  const { b, bLo } = t
  const m = b.length
  if (m === 0) return 0
  if (j === 0) return below(b[0]!)
  if (j === m) return above(b[m - 1]!)
  return pointBetween(b[j - 1]!, bLo[j - 1]!, b[j]!, bLo[j]!)
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
  private readonly recall = new CompensatedSum()
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
        this.recall.add(this.classCorrect[y]! / cnt)
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
      this.recall.add(dlt / counts[y]!)
    }
  }

  /** Mean recall over the classes present in the labels (null for an empty set). */
  balancedAccuracy(): number | null {
    return this.classesPresent === 0 ? null : this.recall.value() / this.classesPresent
  }
}
