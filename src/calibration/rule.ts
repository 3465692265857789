// The one decision rule, shared by predict (apply.ts) and every fit/metric (prepare.ts).
//
// ŷ = argmax_c z_c + γ·[c ∈ U]. Within a group γ is a constant, so only each group's argmax can
// win: sIdx (best of S) against uIdx (best of U). The winner depends on the gap
// g = z[sIdx] − z[uIdx] alone: U wins iff γ > g. We never add γ into float32 and argmax, because at
// large |γ| float32 rounding would merge distinct absent logits into false ties. Nor is g one
// float64 subtraction: two float32 maxima far apart in magnitude (1e30 against 1e-30) have a
// difference no double holds. g is kept as the two-double value hi + lo of `twoDiff` and compared
// with γ exactly (`cmpExact`), so the two candidates are ordered correctly for every finite γ and
// distinct switch points never merge.
import { cmpExact, twoDiff } from './exact.js'
import type { Groups } from './types.js'
import { nonFiniteLogit } from './validate.js'

export function splitGroups(absent: Uint8Array): Groups {
  let nu = 0
  for (let j = 0; j < absent.length; j++) if (absent[j]) nu++
  const s = new Int32Array(absent.length - nu)
  const u = new Int32Array(nu)
  let is = 0
  let iu = 0
  for (let j = 0; j < absent.length; j++) {
    if (absent[j]) u[iu++] = j
    else s[is++] = j
  }
  return { s, u }
}

/** Result of scanning one row; reused across rows to avoid allocating per row. */
export interface RowScan {
  sIdx: number
  uIdx: number
  /** The switch point z[sIdx] − z[uIdx] rounded to a double (±Infinity when a group is empty)… */
  gap: number
  /** …and its rounding error: the exact switch point is gap + gapLo (0 when gap is infinite). */
  gapLo: number
}

export function newRowScan(): RowScan {
  return { sIdx: -1, uIdx: -1, gap: 0, gapLo: 0 }
}

/**
 * Group maxima of row `row` (lowest index on ties: strict `>` while scanning in ascending order).
 * gap is +Infinity when U is empty and −Infinity when S is empty, so `decide` falls back to the
 * plain argmax without a special case. Throws RangeError on a non-finite logit.
 */
export function scanRow(data: Float32Array, c: number, row: number, g: Groups, out: RowScan): void {
  const o = row * c
  // v * 0 is NaN exactly when v is NaN or ±Infinity: one cheap check for the whole row.
  let finite = 0
  let sIdx = -1
  let sMax = -Infinity
  const s = g.s
  for (let k = 0; k < s.length; k++) {
    const j = s[k]!
    const v = data[o + j]!
    finite += v * 0
    if (v > sMax) {
      sMax = v
      sIdx = j
    }
  }
  let uIdx = -1
  let uMax = -Infinity
  const u = g.u
  for (let k = 0; k < u.length; k++) {
    const j = u[k]!
    const v = data[o + j]!
    finite += v * 0
    if (v > uMax) {
      uMax = v
      uIdx = j
    }
  }
  if (finite !== 0) throw nonFiniteLogit(data, row, c)
  out.sIdx = sIdx
  out.uIdx = uIdx
  if (sIdx < 0 || uIdx < 0) {
    out.gap = sIdx < 0 ? -Infinity : Infinity
    out.gapLo = 0
  } else {
    twoDiff(sMax, uMax, pair)
    out.gap = pair.hi
    out.gapLo = pair.lo
  }
}

const pair = { hi: 0, lo: 0 }

/**
 * The prediction at bias γ: uIdx when γ > g, sIdx when γ < g (g = gap + gapLo exactly), and at
 * γ = g (an exact tie of the calibrated logits) the lower index, which is what
 * argmax-with-lowest-index over z + γ·1U gives.
 */
export function decide(sIdx: number, uIdx: number, gap: number, gapLo: number, gamma: number): number {
  const s = cmpExact(gamma, gap, gapLo)
  if (s > 0) return uIdx
  if (s < 0) return sIdx
  return sIdx < uIdx ? sIdx : uIdx
}
