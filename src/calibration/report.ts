// The one call the fit route makes: fit γ (and optionally T) on a labelled set and report the
// metrics before (uncalibrated), now (active) and after (fitted), plus the seen–absent curve.
import { alg } from './alg.js'
import { CalibrationInputError } from './errors.js'
import { metricsAt, prepare } from './metrics.js'
import { seenAbsentCurve } from './curve.js'
import { ece, nll } from './scores.js'
import { sweep } from './sweep.js'
import { fitTemperature } from './temperature.js'
import type { Calibration, FitOptions, FitReport, Logits, Metrics, Prepared } from './types.js'
import { checkCalibration, checkObjective, requireBothGroups } from './validate.js'

// Defined in types.ts (callers import them from either module).
export type { FitOptions, FitReport } from './types.js'

const IDENTITY: Calibration = { gamma: 0, temperature: 1 }

/**
 * Fit a calibration. Without `fitTemperature` the fitted temperature is 1: a temperature fitted
 * for an earlier γ does not carry over to a new one.
 */
export function fitCalibration(logits: Logits, labels: Int32Array, absent: Uint8Array, opts: FitOptions): FitReport {
  if (opts.method !== 'sweep' && opts.method !== 'alg') {
    throw new CalibrationInputError(`unknown method ${JSON.stringify(opts.method)}; expected "sweep" or "alg"`, 'method')
  }
  checkObjective(opts.objective)
  checkCalibration(opts.active)
  const p = prepare(logits, labels, absent)
  requireBothGroups(p.nClassesS, p.nClassesU)

  let gamma: number
  let nIgnored = 0
  if (opts.method === 'sweep') {
    gamma = sweep(p, opts.objective).gamma
  } else {
    const r = alg(logits, labels, absent)
    gamma = r.gamma
    nIgnored = r.n_ignored
  }
  const temperature = opts.fitTemperature ? fitTemperature(logits, labels, absent, gamma) : 1
  const fitted: Calibration = { gamma, temperature }

  const withScores = opts.fitTemperature || opts.active.temperature !== 1
  const at = (cal: Calibration): Metrics => metricsWith(p, logits, labels, absent, cal, withScores)
  return {
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
}

function metricsWith(
  p: Prepared,
  logits: Logits,
  labels: Int32Array,
  absent: Uint8Array,
  cal: Calibration,
  withScores: boolean,
): Metrics {
  const m = metricsAt(p, cal.gamma)
  if (!withScores) return m
  return { ...m, nll: nll(logits, labels, absent, cal), ece: ece(logits, labels, absent, cal) }
}
