// One O(N·C) pass over a labelled set that keeps, per sample, everything a γ-metric needs:
// after this, the prediction at any γ is `decide(sIdx, uIdx, gap, gapLo, γ)` — the rule predict
// uses. The set is validated here, once; every function taking a Prepared relies on that.
import { decide, newRowScan, scanRow, splitGroups } from './rule.js'
import type { Logits, Prepared } from './types.js'
import { checkAbsent, checkLabels, checkLogits } from './validate.js'

export function prepare(logits: Logits, labels: Int32Array, absent: Uint8Array): Prepared {
  checkLogits(logits)
  const { data, n, c } = logits
  checkAbsent(absent, c)
  checkLabels(labels, n, c)
  const groups = splitGroups(absent)
  const sIdx = new Int32Array(n)
  const uIdx = new Int32Array(n)
  const gap = new Float64Array(n)
  const gapLo = new Float64Array(n)
  const label = Int32Array.from(labels)
  const inS = new Uint8Array(n)
  const classCount = new Int32Array(c)
  const scan = newRowScan()
  let nLabelledS = 0
  let correctSS = 0
  let correctUU = 0
  for (let i = 0; i < n; i++) {
    scanRow(data, c, i, groups, scan)
    sIdx[i] = scan.sIdx
    uIdx[i] = scan.uIdx
    gap[i] = scan.gap
    gapLo[i] = scan.gapLo
    const y = label[i]!
    classCount[y]++
    if (absent[y]) {
      if (scan.uIdx === y) correctUU++
    } else {
      inS[i] = 1
      nLabelledS++
      if (scan.sIdx === y) correctSS++
    }
  }
  return {
    n,
    c,
    logits,
    absent: Uint8Array.from(absent),
    groups,
    nClassesS: groups.s.length,
    nClassesU: groups.u.length,
    sIdx,
    uIdx,
    gap,
    gapLo,
    label,
    inS,
    nLabelledS,
    nLabelledU: n - nLabelledS,
    classCount,
    correctSS,
    correctUU,
  }
}

/** Prediction of sample i at bias γ. */
export function predictedAt(p: Prepared, i: number, gamma: number): number {
  return decide(p.sIdx[i]!, p.uIdx[i]!, p.gap[i]!, p.gapLo[i]!, gamma)
}

/** Write sample i's group maxima and switch point into `scan` (what softmax.ts's shiftedRow reads). */
export function loadScan(p: Prepared, i: number, scan: { sIdx: number; uIdx: number; gap: number; gapLo: number }): void {
  scan.sIdx = p.sIdx[i]!
  scan.uIdx = p.uIdx[i]!
  scan.gap = p.gap[i]!
  scan.gapLo = p.gapLo[i]!
}
