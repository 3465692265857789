// The one call the fit route makes: fit γ (and optionally T, and conformal sets) on a labelled set
// and report the metrics before (uncalibrated), now (active) and after (fitted), plus the
// seen–absent curve. The set is prepared and validated once; every step below reuses it.
import { alg } from './alg.js'
import { fitConformal, checkConformalOptions } from './conformal.js'
import { seenAbsentCurve } from './curve.js'
import { CalibrationInputError } from './errors.js'
import { metricsAt } from './metrics.js'
import { prepare } from './prepare.js'
import { ece, nll } from './scores.js'
import { sweep } from './sweep.js'
import { fitTemperature } from './temperature.js'
import type { Calibration, FitOptions, FitReport, Logits, Metrics, Prepared, TemperatureBound } from './types.js'
import { checkCalibration, checkObjective, requireBothGroups } from './validate.js'

const IDENTITY: Calibration = { gamma: 0, temperature: 1 }

/**
 * Fit a calibration. Without `fitTemperature` the fitted temperature is 1: a temperature fitted
 * for an earlier γ does not carry over to a new one. Options a method does not use are refused
 * (constraints with "alg", alg_samples with "sweep") rather than silently ignored.
 * Throws CalibrationInputError (InfeasibleConstraintError for unmeetable floors) on input the
 * requester can fix; RangeError on inconsistent arrays.
 */
export function fitCalibration(logits: Logits, labels: Int32Array, absent: Uint8Array, opts: FitOptions): FitReport {
  if (opts.method !== 'sweep' && opts.method !== 'alg') {
    throw new CalibrationInputError(`unknown method ${JSON.stringify(opts.method)}; expected "sweep" or "alg"`, 'method')
  }
  checkObjective(opts.objective)
  checkCalibration(opts.active)
  if (opts.constraints !== undefined && opts.method !== 'sweep') {
    throw new CalibrationInputError('constraints apply to method "sweep" only', 'constraints')
  }
  if (opts.alg_samples !== undefined && opts.method !== 'alg') {
    throw new CalibrationInputError('alg_samples applies to method "alg" only', 'alg_samples')
  }
  if (opts.conformal !== undefined) checkConformalOptions(opts.conformal)
  const p = prepare(logits, labels, absent)
  requireBothGroups(p.nClassesS, p.nClassesU)

  let gamma: number
  let nIgnored = 0
  if (opts.method === 'sweep') {
    gamma = sweep(p, opts.objective, opts.constraints).gamma
  } else {
    const r = alg(p, opts.alg_samples)
    gamma = r.gamma
    nIgnored = r.n_ignored
  }
  let temperature = 1
  let bound: TemperatureBound = null
  if (opts.fitTemperature) ({ temperature, bound } = fitTemperature(p, gamma))
  const fitted: Calibration = { gamma, temperature }

  const withScores = opts.fitTemperature || opts.active.temperature !== 1
  const at = (cal: Calibration): Metrics => metricsWith(p, cal, withScores)
  const report: FitReport = {
    gamma,
    temperature,
    method: opts.method,
    objective: opts.objective,
    n_samples: p.n,
    n_fine_tuning: p.nLabelledS,
    n_absent: p.nLabelledU,
    n_ignored: nIgnored,
    metrics: { uncalibrated: at(IDENTITY), active: at(opts.active), fitted: at(fitted) },
    // Keep the curve points of the fitted, active and uncalibrated γ through subsampling.
    curve: seenAbsentCurve(p, { keep: [gamma, opts.active.gamma, 0] }).points,
  }
  // Optional parts appear only when asked for, so a plain fit reports what it always did.
  if (opts.fitTemperature) report.temperature_bound = bound
  if (opts.method === 'alg') report.alg_samples = opts.alg_samples ?? 'fine_tuning'
  if (opts.constraints !== undefined) report.constraints = { ...opts.constraints }
  if (opts.conformal !== undefined) report.conformal = fitConformal(p, fitted, opts.conformal)
  return report
}

function metricsWith(p: Prepared, cal: Calibration, withScores: boolean): Metrics {
  const m = metricsAt(p, cal.gamma)
  if (!withScores) return m
  return { ...m, nll: nll(p, cal), ece: ece(p, cal) }
}
