// Public API of the calibration math (pure: typed arrays in, plain objects out). The only module
// callers outside src/calibration import; every other module here has one job and no re-exports.
export type {
  AlgSamples,
  Calibration,
  ConformalBy,
  ConformalFit,
  ConformalOptions,
  ConformalParams,
  ConformalScore,
  Constraints,
  CurvePoint,
  FitMethod,
  FitOptions,
  FitReport,
  Logits,
  Metrics,
  Objective,
  Prediction,
  Prepared,
  ScoredClass,
  TemperatureBound,
  TemperatureFit,
} from './types.js'
export { CalibrationInputError, InfeasibleConstraintError } from './errors.js'
export { addBias, predict } from './apply.js'
export { prepare } from './prepare.js'
export { metricsAt } from './metrics.js'
export { confidenceBin, ece, nll } from './scores.js'
export { seenAbsentCurve } from './curve.js'
export type { CurveOptions } from './curve.js'
export { alg } from './alg.js'
export { sweep } from './sweep.js'
export type { SweepResult } from './sweep.js'
export { fitTemperature, TEMPERATURE_BOUNDS } from './temperature.js'
export { referenceMetrics } from './reference.js'
export type { ReferenceMetrics } from './reference.js'
export { applyConformal, calibratedProbabilities, checkConformalOptions, conformalRank, fitConformal } from './conformal.js'
export { fitCalibration } from './report.js'
