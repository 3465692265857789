// Argument checks, only as far as the math needs them. Shape problems are RangeError (the caller
// or the model produced inconsistent arrays); labels a requester posted are CalibrationInputError.
import { CalibrationInputError } from './errors.js'
import type { Calibration, Logits, Objective } from './types.js'

export function checkLogits(logits: Logits): void {
  const { data, n, c } = logits
  if (!(data instanceof Float32Array)) throw new RangeError('logits.data must be a Float32Array')
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`logits.n must be a non-negative integer, got ${n}`)
  if (!Number.isInteger(c) || c < 1) throw new RangeError(`logits.c must be a positive integer, got ${c}`)
  if (n * c !== data.length) {
    throw new RangeError(`logits shape ${n}×${c} = ${n * c} does not match data.length ${data.length}`)
  }
}

export function checkAbsent(absent: Uint8Array, c: number): void {
  if (absent.length !== c) {
    throw new RangeError(`absent mask has length ${absent.length}, expected one entry per class (${c})`)
  }
}

export function checkLabels(labels: Int32Array, n: number, c: number): void {
  if (labels.length !== n) {
    throw new CalibrationInputError(`labels has ${labels.length} entries but there are ${n} samples`, 'labels')
  }
  for (let i = 0; i < n; i++) {
    const y = labels[i]!
    if (y < 0 || y >= c) {
      throw new CalibrationInputError(`labels[${i}] = ${y} is outside the class range [0, ${c})`, 'labels')
    }
  }
}

export function checkGamma(gamma: number): void {
  if (!Number.isFinite(gamma)) throw new RangeError(`gamma must be a finite number, got ${gamma}`)
}

export function checkCalibration(cal: Calibration): void {
  checkGamma(cal.gamma)
  const t = cal.temperature
  if (!Number.isFinite(t) || !(t > 0)) throw new RangeError(`temperature must be finite and > 0, got ${t}`)
}

/** Thrown from a row scan that met NaN or ±Infinity: argmax and softmax are undefined there. */
export function nonFiniteLogit(data: Float32Array, row: number, c: number): RangeError {
  const o = row * c
  let col = 0
  while (col < c && Number.isFinite(data[o + col]!)) col++
  return new RangeError(`logits[${row}][${col}] = ${data[o + col]} is not finite`)
}

const OBJECTIVES: readonly Objective[] = ['accuracy', 'harmonic_mean', 'balanced_accuracy']

export function checkObjective(objective: unknown): asserts objective is Objective {
  if (!OBJECTIVES.includes(objective as Objective)) {
    throw new CalibrationInputError(`unknown objective ${JSON.stringify(objective)}; expected one of ${OBJECTIVES.join(', ')}`, 'objective')
  }
}

/** Both class groups must exist for a bias between them to mean anything. */
export function requireBothGroups(nClassesS: number, nClassesU: number): void {
  if (nClassesU === 0) {
    throw new CalibrationInputError('the model has no absent classes: there is no bias to fit', 'model')
  }
  if (nClassesS === 0) {
    throw new CalibrationInputError('the model has no fine-tuning classes: there is no bias to fit', 'model')
  }
}
