// Turning correct-counts into the nullable rates of Metrics. A rate the set cannot define is null.

export function rate(correct: number, total: number): number | null {
  return total > 0 ? correct / total : null
}

/** 2ab/(a+b) of Acc_S/Y and Acc_U/Y; 0 when both are 0; null when either is undefined. */
export function harmonicMean(a: number | null, b: number | null): number | null {
  if (a === null || b === null) return null
  return a + b === 0 ? 0 : (2 * a * b) / (a + b)
}
