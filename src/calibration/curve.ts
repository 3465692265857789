// The seen–absent curve (Acc_S/Y, Acc_U/Y) as γ runs over ℝ, and the area under it (AUSUC).
import { breakpointTable, countBelow, intervalPoint, IntervalWalker, onBreakpoint } from './breakpoints.js'
import type { BreakpointTable } from './breakpoints.js'
import { rate } from './rates.js'
import type { CurvePoint, Prepared } from './types.js'

/** Correct counts on every interval 0..m, in γ order. */
interface Trace {
  t: BreakpointTable
  correctS: Int32Array
  correctU: Int32Array
}

function trace(p: Prepared): Trace {
  const t = breakpointTable(p)
  const m = t.b.length
  const correctS = new Int32Array(m + 1)
  const correctU = new Int32Array(m + 1)
  const w = new IntervalWalker(p, t)
  for (let j = 0; j <= m; j++) {
    if (j > 0) w.cross(j - 1)
    correctS[j] = w.correctS
    correctU[j] = w.correctU
  }
  return { t, correctS, correctU }
}

/**
 * AUSUC by the trapezoid rule over consecutive points in γ order, with Acc_U/Y on the x axis and
 * Acc_S/Y on the y axis: Σ (u_{j+1} − u_j)·(s_j + s_{j+1})/2. As γ grows u never decreases and s
 * never increases, so every term is ≥ 0 and the area is positive: the curve runs from
 * (u, s) = (0, Acc_S/S) to (Acc_U/U, 0). Summed in integers (counts), divided once: exact up to
 * the final division. null unless the set has samples labelled in both S and U.
 */
function areaOf(p: Prepared, tr: Trace): number | null {
  const nS = p.nLabelledS
  const nU = p.nLabelledU
  if (nS === 0 || nU === 0) return null
  let acc = 0
  for (let j = 0; j + 1 < tr.correctS.length; j++) {
    acc += (tr.correctU[j + 1]! - tr.correctU[j]!) * (tr.correctS[j]! + tr.correctS[j + 1]!)
  }
  return acc / (2 * nS * nU)
}

const ausucCache = new WeakMap<Prepared, number | null>()

/** AUSUC of a prepared set (γ-independent), cached: metricsAt reports it at every γ. */
export function ausucOf(p: Prepared): number | null {
  if (ausucCache.has(p)) return ausucCache.get(p)!
  const a = areaOf(p, trace(p))
  ausucCache.set(p, a)
  return a
}

export interface CurveOptions {
  /** Cap on returned points (default 2001, at least 2); AUSUC always uses the full curve. */
  maxPoints?: number
  /**
   * γ values whose curve points must survive subsampling (e.g. the fitted and active γ). They take
   * slots from the even spacing, so the cap holds as long as keep has at most maxPoints − 2 entries.
   */
  keep?: number[]
}

/**
 * One point per interval between sorted breakpoints, at the interval's representative γ
 * (midpoint; b_1 − 1 and b_m + 1 at the ends; 0 when there are no breakpoints).
 * O(N·log N) on top of prepare.
 */
export function seenAbsentCurve(p: Prepared, opts: CurveOptions = {}): { points: CurvePoint[]; ausuc: number | null } {
  const maxPoints = opts.maxPoints ?? 2001
  if (!Number.isInteger(maxPoints) || maxPoints < 2) {
    throw new RangeError(`maxPoints must be an integer ≥ 2, got ${maxPoints}`)
  }
  const tr = trace(p)
  const ausuc = areaOf(p, tr)
  ausucCache.set(p, ausuc)
  const total = tr.correctS.length
  const points: CurvePoint[] = []
  for (const j of chosen(total, maxPoints, keptIntervals(tr.t, opts.keep ?? []))) {
    const s = tr.correctS[j]!
    const u = tr.correctU[j]!
    const g = intervalPoint(tr.t, j)
    points.push({
      // An interval that holds no double is shown at its lower end (rounded to a double).
      gamma: Number.isNaN(g) ? tr.t.b[j - 1]! : g,
      acc_s_y: rate(s, p.nLabelledS),
      acc_u_y: rate(u, p.nLabelledU),
      acc_y_y: rate(s + u, p.n),
    })
  }
  return { points, ausuc }
}

/** Intervals containing the kept γ values; a γ exactly on a breakpoint keeps both neighbours. */
function keptIntervals(t: BreakpointTable, keep: number[]): number[] {
  const out: number[] = []
  for (const g of keep) {
    if (!Number.isFinite(g)) continue
    const k = countBelow(t, g)
    out.push(k)
    if (onBreakpoint(t, k, g)) out.push(k + 1)
  }
  return out
}

/** Evenly spaced indices over [0, total) including both ends, plus the kept ones, ascending. */
function chosen(total: number, maxPoints: number, keep: number[]): number[] {
  if (total <= maxPoints) return Array.from({ length: total }, (_, j) => j)
  const kept = [...new Set(keep)].filter((j) => j > 0 && j < total - 1)
  const slots = Math.max(2, maxPoints - kept.length)
  const set = new Set<number>(kept)
  for (let i = 0; i < slots; i++) set.add(Math.round((i * (total - 1)) / (slots - 1)))
  return [...set].sort((x, y) => x - y)
}
