// Shapes shared by the calibration math and its callers (HTTP layer, CLI, bench).
// Everything here is plain data: typed arrays in, plain objects out.

/** N×C logits, row-major. `data.length === n * c`. */
export interface Logits {
  data: Float32Array
  n: number
  c: number
}

/** The per-model calibration. Identity (the fine-tuned model as it is): {gamma: 0, temperature: 1}. */
export interface Calibration {
  /** Bias added to the logits of absent classes U before the argmax. */
  gamma: number
  /** Divides the calibrated logits for scores only; never changes the prediction. */
  temperature: number
}

export type Objective = 'accuracy' | 'harmonic_mean' | 'balanced_accuracy'
export type FitMethod = 'sweep' | 'alg'

/** A metric the labelled set cannot define is `null`, never 0. */
export interface Metrics {
  acc_s_y: number | null
  acc_u_y: number | null
  acc_y_y: number | null
  acc_s_s: number | null
  acc_u_u: number | null
  harmonic_mean: number | null
  balanced_accuracy: number | null
  ausuc: number | null
  nll?: number | null
  ece?: number | null
}

export interface CurvePoint {
  gamma: number
  acc_s_y: number | null
  acc_u_y: number | null
  acc_y_y: number | null
}

export interface ScoredClass {
  index: number
  score: number
}

/** `top_k` has k entries (k clamped to C) and its first entry is the prediction. */
export interface Prediction {
  index: number
  score: number
  top_k: ScoredClass[]
}

/**
 * A labelled set reduced to what every γ-metric needs, built once in O(N·C) by `prepare`.
 * Per sample: the best fine-tuning class, the best absent class and the gap between them.
 * Treat as immutable: derived tables (sorted breakpoints) are cached against the object.
 */
export interface Prepared {
  readonly n: number
  readonly c: number
  /** Number of fine-tuning classes |S| and absent classes |U| of the model. */
  readonly nClassesS: number
  readonly nClassesU: number
  /** argmax over S per sample (lowest index on ties), -1 when S is empty. */
  readonly sIdx: Int32Array
  /** argmax over U per sample (lowest index on ties), -1 when U is empty. */
  readonly uIdx: Int32Array
  /**
   * z[sIdx] − z[uIdx] in float64: the γ at which the sample switches from sIdx to uIdx.
   * +Infinity when U is empty (never switches), −Infinity when S is empty (always on U).
   */
  readonly gap: Float64Array
  readonly label: Int32Array
  /** 1 when the sample's label is a fine-tuning class (in S), 0 when absent (in U). */
  readonly inS: Uint8Array
  /** Samples labelled in S and in U. */
  readonly nLabelledS: number
  readonly nLabelledU: number
  /** Samples per class (for balanced accuracy). */
  readonly classCount: Int32Array
  /** Samples labelled in S whose argmax over S is right (Acc_S/S numerator), same for U. */
  readonly correctSS: number
  readonly correctUU: number
}

/** Options of fitCalibration (report.ts). */
export interface FitOptions {
  method: FitMethod
  objective: Objective
  fitTemperature: boolean
  active: Calibration
}

export interface FitReport {
  gamma: number
  /** Fitted T when FitOptions.fitTemperature, else 1 (a T fitted for an older γ does not carry over). */
  temperature: number
  method: FitMethod
  objective: Objective
  n_samples: number
  /** Samples labelled in a fine-tuning class (S) / in an absent class (U). */
  n_fine_tuning: number
  n_absent: number
  /** Samples the method did not use (ALG ignores samples labelled in U; sweep uses all). */
  n_ignored: number
  metrics: { uncalibrated: Metrics; active: Metrics; fitted: Metrics }
  curve: CurvePoint[]
}
