// Numerically stable calibrated logits for scores: softmax((z + γ·1U) / T) in float64.
//
// Instead of forming z + γ (which overflows or loses the absent logits at |γ| ~ 1e300), each class
// is shifted by the top of its own group and then by the offset between the two group tops:
//   S class j:  d_j = ((z_j − z[sIdx]) + offS) / T
//   U class j:  d_j = ((z_j − z[uIdx]) + offU) / T
// where the winning group gets offset 0 and the other gets −|γ − g| (g = z[sIdx] − z[uIdx], the
// exact two-double switch point of rule.ts, so the winner here is the group `decide` picks).
// So max_j d_j = 0 exactly, every d_j ≤ 0, Σ exp(d_j) ∈ [1, C], and nothing is NaN for finite γ.
import { cmpExact } from './exact.js'
import type { RowScan } from './rule.js'
import type { Groups } from './types.js'

/** Fill `out[0..c)` with the shifted calibrated logits d of row `row` (see above). */
export function shiftedRow(
  data: Float32Array,
  c: number,
  row: number,
  g: Groups,
  scan: RowScan,
  gamma: number,
  temperature: number,
  out: Float64Array,
): void {
  const o = row * c
  const { sIdx, uIdx, gap, gapLo } = scan
  // U's top z[uIdx] + γ is at least S's top z[sIdx] exactly when γ ≥ g. Rounding is monotone, so
  // the loser's offset, (g − γ) or (γ − g) evaluated from the pair, is ≤ 0 as the exact one is.
  const uWins = cmpExact(gamma, gap, gapLo) >= 0
  const offS = uWins ? gap - gamma + gapLo : 0
  const offU = uWins ? 0 : gamma - gap - gapLo
  const s = g.s
  if (s.length > 0) {
    const top = data[o + sIdx]!
    for (let k = 0; k < s.length; k++) {
      const j = s[k]!
      out[j] = (data[o + j]! - top + offS) / temperature
    }
  }
  const u = g.u
  if (u.length > 0) {
    const top = data[o + uIdx]!
    for (let k = 0; k < u.length; k++) {
      const j = u[k]!
      out[j] = (data[o + j]! - top + offU) / temperature
    }
  }
}

/** Σ_j exp(d_j) over a row filled by `shiftedRow`; ≥ 1 because the top entry is exp(0). */
export function expSum(d: Float64Array, c: number): number {
  let sum = 0
  for (let j = 0; j < c; j++) sum += Math.exp(d[j]!)
  return sum
}
