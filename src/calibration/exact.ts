// Exact arithmetic the decision rule and the means over logits need (issue 15, "exact at every
// magnitude"): a two-double switch point compared exactly against γ, and compensated sums.

/**
 * The exact difference a − b as hi + lo, hi = fl(a − b) and lo its rounding error (Knuth's TwoSum
 * applied to a + (−b); error-free for any finite doubles). hi is the round-to-nearest of the exact
 * value, so two such pairs compare exactly by (hi, then lo) and a double compares exactly with
 * one by `cmpExact`.
 */
export function twoDiff(a: number, b: number, out: { hi: number; lo: number }): void {
  const nb = -b
  const s = a + nb
  const bv = s - a
  const av = s - bv
  out.hi = s
  out.lo = a - av + (nb - bv)
}

/**
 * Sign of x − (hi + lo), exactly, for a finite double x and a pair from `twoDiff` (or hi = ±∞, lo = 0).
 * Because hi is the exact value rounded to nearest and |lo| ≤ half the spacing of doubles at hi,
 * any double x ≠ hi lies on the same side of hi + lo as of hi; only x = hi needs lo's sign.
 */
export function cmpExact(x: number, hi: number, lo: number): -1 | 0 | 1 {
  if (x > hi) return 1
  if (x < hi) return -1
  return lo < 0 ? 1 : lo > 0 ? -1 : 0
}

/** Exact order of two pairs from `twoDiff`: (hi, then lo), valid because hi = round(hi + lo). */
export function cmpPairs(h1: number, l1: number, h2: number, l2: number): number {
  if (h1 !== h2) return h1 < h2 ? -1 : 1
  return l1 < l2 ? -1 : l1 > l2 ? 1 : 0
}

/** The smallest double above x (x finite). */
export function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE
  const f = new Float64Array([x])
  const i = new BigInt64Array(f.buffer)
  i[0] = i[0]! + (x > 0 ? 1n : -1n)
  return f[0]!
}

/**
 * A Neumaier-compensated running sum: the sum is exact up to one rounding for sets whose terms
 * cancel (e.g. [1e30, 1.5, −1e30] sums to 1.5, where a plain loop gives 0).
 */
export class CompensatedSum {
  private s = 0
  private c = 0

  add(x: number): void {
    const s = this.s
    const t = s + x
    this.c += Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s
    this.s = t
  }

  value(): number {
    return this.s + this.c
  }

  reset(): void {
    this.s = 0
    this.c = 0
  }
}
