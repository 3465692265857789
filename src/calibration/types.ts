// Shapes shared by the calibration math and its callers (HTTP layer, CLI, bench).
// Everything here is plain data: typed arrays in, plain objects out.

/** Column indices of the fine-tuning classes S and of the absent classes U, in ascending order. */
export interface Groups {
  readonly s: Int32Array
  readonly u: Int32Array
}

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
/**
 * Which samples ALG averages over: "fine_tuning" (the paper's text: samples labelled in S) or
 * "all" (the paper's released code: every sample, see alg.ts).
 */
export type AlgSamples = 'fine_tuning' | 'all'

/**
 * Floors for the constrained sweep: only γ whose Acc_S/Y (resp. Acc_U/Y) is ≥ the floor compete.
 * Numbers in [0, 1]; a caller offering "reference" resolves it to the reference model's value
 * (referenceMetrics) before calling.
 */
export interface Constraints {
  min_acc_s_y?: number
  min_acc_u_y?: number
}

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
 * A labelled set reduced to what every γ-metric needs, built and validated once in O(N·C) by
 * `prepare`. Per sample: the best fine-tuning class, the best absent class and the gap between
 * them; plus the logits themselves for the scores (NLL, ECE, temperature, conformal sets).
 * Treat as immutable, logits included: derived tables (sorted breakpoints) are cached against it.
 */
export interface Prepared {
  readonly n: number
  readonly c: number
  readonly logits: Logits
  readonly absent: Uint8Array
  readonly groups: Groups
  /** Number of fine-tuning classes |S| and absent classes |U| of the model. */
  readonly nClassesS: number
  readonly nClassesU: number
  /** argmax over S per sample (lowest index on ties), -1 when S is empty. */
  readonly sIdx: Int32Array
  /** argmax over U per sample (lowest index on ties), -1 when U is empty. */
  readonly uIdx: Int32Array
  /**
   * z[sIdx] − z[uIdx] rounded to float64: the γ at which the sample switches from sIdx to uIdx.
   * +Infinity when U is empty (never switches), −Infinity when S is empty (always on U).
   */
  readonly gap: Float64Array
  /** The rounding error of `gap`: the exact switch point is gap + gapLo (rule.ts). */
  readonly gapLo: Float64Array
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

/** Where a fitted temperature sits against the search range [1e-3, 1e3] (temperature.ts). */
export type TemperatureBound = 'lower' | 'upper' | null

export interface TemperatureFit {
  temperature: number
  /** 'lower' / 'upper' when the NLL optimum lies at or beyond that end of [1e-3, 1e3] and T was clamped. */
  bound: TemperatureBound
}

export type ConformalScore = 'lac' | 'aps'
export type ConformalBy = 'marginal' | 'group'

export interface ConformalOptions {
  /** Miscoverage level in (0, 1): sets contain the label with probability ≥ 1 − alpha. */
  alpha: number
  score?: ConformalScore
  by?: ConformalBy
}

/**
 * What a conformal calibration stores (and `applyConformal` needs). q̂ is `null` for +∞: the rank
 * ⌈(n+1)(1−α)⌉ exceeded the n scores, every class is in every set, and `too_small` is true.
 * by "marginal": `qhat`; by "group": `qhat_s` (from samples labelled in S) and `qhat_u` (in U).
 */
export interface ConformalParams {
  alpha: number
  score: ConformalScore
  by: ConformalBy
  qhat?: number | null
  qhat_s?: number | null
  qhat_u?: number | null
}

/** A fitted conformal calibration and how it does on the set it was fitted on. */
export interface ConformalFit extends ConformalParams {
  /** True when some q̂ is +∞ (the set, or a group of it, is too small for this α). */
  too_small: boolean
  /** Fraction of samples whose label is in their set: overall, labelled in S, labelled in U (null: none). */
  coverage: { overall: number | null; s: number | null; u: number | null }
  mean_set_size: number | null
}

/** Options of fitCalibration (report.ts). */
export interface FitOptions {
  method: FitMethod
  objective: Objective
  fitTemperature: boolean
  active: Calibration
  /** Sweep only: floors on Acc_S/Y and Acc_U/Y (see Constraints). */
  constraints?: Constraints
  /** ALG only; default "fine_tuning". */
  alg_samples?: AlgSamples
  /** Fit split-conformal sets at the fitted γ and T. */
  conformal?: ConformalOptions
}

export interface FitReport {
  gamma: number
  /** Fitted T when FitOptions.fitTemperature, else 1 (a T fitted for an older γ does not carry over). */
  temperature: number
  /** Only with fitTemperature: 'lower'/'upper' when T was clamped to an end of [1e-3, 1e3], else null. */
  temperature_bound?: TemperatureBound
  method: FitMethod
  objective: Objective
  /** Only with method "alg": which samples it averaged over. */
  alg_samples?: AlgSamples
  /** Only when constraints were given: the floors as applied. */
  constraints?: Constraints
  n_samples: number
  /** Samples labelled in a fine-tuning class (S) / in an absent class (U). */
  n_fine_tuning: number
  n_absent: number
  /** Samples the method did not use (ALG "fine_tuning" ignores samples labelled in U; sweep uses all). */
  n_ignored: number
  metrics: { uncalibrated: Metrics; active: Metrics; fitted: Metrics }
  curve: CurvePoint[]
  /** Only when conformal options were given. */
  conformal?: ConformalFit
}
