// The end of every fit, whatever carried the set: choose γ (and T) with the pure calibration code,
// store the new version unless it is a dry run, and make it active here at once.
import type { FitResponse } from '../api/fit.js'
import { CalibrationInputError, fitCalibration, type FitMethod, type FitReport, type Objective } from '../calibration/index.js'
import { badInput, versionConflict } from '../errors.js'
import type { ReadyModel } from '../models/repository.js'
import type { CurveMark } from '../store/types.js'
import { activate, type ActivateDeps } from './activate.js'
import type { CollectedSet } from './collector.js'

/** What a client asks of a fit, whatever transport carried the set. */
export interface FitRequest {
  method: FitMethod
  objective: Objective
  dry_run: boolean
  fit_temperature: boolean
  expected_version?: number | undefined
  note?: string | undefined
  created_by?: string | null
}

export type FitDeps = ActivateDeps

/** Refuses a fit that can't mean anything or can't be stored, before any inference is spent on it. */
export function checkFitPreconditions(deps: FitDeps, model: ReadyModel, opts: FitRequest): void {
  if (!model.absent.includes(1))
    throw badInput(`model '${model.name}' has no absent classes (every label is a fine-tuning class), so γ has no effect`, {
      field: 'model',
    })
  const active = deps.calibrations.get(model.name, model.version).version
  if (!opts.dry_run && opts.expected_version !== undefined && opts.expected_version !== active)
    throw versionConflict(opts.expected_version, active)
}

export async function completeFit(deps: FitDeps, model: ReadyModel, set: CollectedSet, opts: FitRequest): Promise<FitResponse> {
  const active = deps.calibrations.get(model.name, model.version)
  let report: FitReport
  try {
    report = fitCalibration({ data: set.logits, n: set.n, c: set.c }, set.labels, model.absent, {
      method: opts.method,
      objective: opts.objective,
      fitTemperature: opts.fit_temperature,
      active: { gamma: active.gamma, temperature: active.temperature },
    })
  } catch (err) {
    if (err instanceof CalibrationInputError) throw badInput(err.message, { field: err.field })
    throw err
  }
  if (opts.dry_run) return report
  const { uncalibrated, fitted } = report.metrics
  const marks: CurveMark[] = [
    { name: 'uncalibrated', gamma: 0, acc_s_y: uncalibrated.acc_s_y, acc_u_y: uncalibrated.acc_u_y },
    { name: 'fitted', gamma: report.gamma, acc_s_y: fitted.acc_s_y, acc_u_y: fitted.acc_u_y },
  ]
  const record = await activate(
    deps,
    {
      model: model.name,
      model_version: model.version,
      gamma: report.gamma,
      temperature: report.temperature,
      method: opts.method,
      objective: opts.method === 'sweep' ? opts.objective : null,
      note: opts.note ?? null,
      created_by: opts.created_by ?? null,
      n_samples: set.n,
      digest: set.digest,
      metrics: fitted,
      curve: { points: report.curve, marks },
    },
    opts.expected_version,
  )
  return { ...report, calibration: record }
}
