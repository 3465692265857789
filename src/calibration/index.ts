// Public API of the calibration math (pure: typed arrays in, plain objects out).
export type {
  Calibration,
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
} from './types.js'
export { CalibrationInputError } from './errors.js'
export { addBias, predict } from './apply.js'
export { ece, metricsAt, nll, prepare, seenAbsentCurve } from './metrics.js'
export type { CurveOptions } from './metrics.js'
export { alg, fitTemperature, sweep } from './fit.js'
export { fitCalibration } from './report.js'
