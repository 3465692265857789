// The end of every fit, whatever carried the set: choose γ (and T, and conformal sets) with the
// pure calibration code, store the new version unless it is a dry run, and make it active here at
// once. A reference model, when named, was run over the same set by the collector: its metrics
// come back as metrics.reference and stand for the "reference" floors.
import type { z } from 'zod'
import type { ConstraintsSchema, FitResponse } from '../api/fit.js'
import {
  CalibrationInputError,
  checkConformalOptions,
  fitCalibration,
  InfeasibleConstraintError,
  referenceMetrics,
  type AlgSamples,
  type ConformalFit,
  type ConformalOptions,
  type ConformalParams,
  type Constraints,
  type FitMethod,
  type FitReport,
  type Objective,
  type ReferenceMetrics,
} from '../calibration/index.js'
import { badInput, CalserveError, versionConflict } from '../errors.js'
import type { ReadyModel } from '../models/repository.js'
import type { CurveMark } from '../store/types.js'
import { activate, type ActivateDeps } from './activate.js'
import type { CollectedSet, ReferenceRun } from './collector.js'
import type { DataPlane } from './plane.js'

/** Floors as a client sends them: a rate, or "reference" for the reference model's value. */
export type RequestedConstraints = z.infer<typeof ConstraintsSchema>

/** What a client asks of a fit, whatever transport carried the set. */
export interface FitRequest {
  method: FitMethod
  objective: Objective
  dry_run: boolean
  fit_temperature: boolean
  expected_version?: number | undefined
  note?: string | undefined
  created_by?: string | null
  constraints?: RequestedConstraints | undefined
  reference_model?: string | undefined
  alg_samples?: AlgSamples | undefined
  conformal?: ConformalOptions | undefined
}

export type FitDeps = ActivateDeps

const FLOORS = ['min_acc_s_y', 'min_acc_u_y'] as const
const SIDE = {
  min_acc_s_y: { metric: 'acc_s_y', name: 'Acc_S/Y', group: 'a fine-tuning' },
  min_acc_u_y: { metric: 'acc_u_y', name: 'Acc_U/Y', group: 'an absent' },
} as const

/**
 * Refuses a fit that can't mean anything or can't be stored, before any inference is spent on it,
 * and resolves its reference model (returned as the run the collector makes beside the fit).
 */
export function checkFitPreconditions(deps: FitDeps & { plane: Pick<DataPlane, 'model'> }, model: ReadyModel, opts: FitRequest): ReferenceRun | undefined {
  if (!model.absent.includes(1))
    throw badInput(`model '${model.name}' has no absent classes (every label is a fine-tuning class), so γ has no effect`, {
      field: 'model',
    })
  if (opts.constraints !== undefined && opts.method !== 'sweep') throw badInput('constraints apply to method "sweep" only', { field: 'constraints' })
  if (opts.alg_samples !== undefined && opts.method !== 'alg') throw badInput('alg_samples applies to method "alg" only', { field: 'alg_samples' })
  if (opts.conformal !== undefined) {
    try {
      checkConformalOptions(opts.conformal)
    } catch (err) {
      if (err instanceof CalibrationInputError) throw badInput(err.message, { field: err.field })
      throw err
    }
  }
  for (const floor of FLOORS) {
    if (opts.constraints?.[floor] === 'reference' && opts.reference_model === undefined)
      throw badInput(`constraints.${floor} is "reference", which needs reference_model: the served model whose ${SIDE[floor].name} is the floor`, {
        field: `constraints.${floor}`,
      })
  }
  const reference = opts.reference_model === undefined ? undefined : referenceRun(deps.plane, model, opts.reference_model)
  const active = deps.calibrations.get(model.name, model.version).version
  if (!opts.dry_run && opts.expected_version !== undefined && opts.expected_version !== active) throw versionConflict(opts.expected_version, active)
  return reference
}

const list = (names: string[]) => names.slice(0, 10).join(', ') + (names.length > 10 ? `, … (${names.length} in all)` : '')

/** The served model named as reference, if it can stand beside `model`: same label names (any order), same input size. */
function referenceRun(plane: Pick<DataPlane, 'model'>, model: ReadyModel, name: string): ReferenceRun {
  let ref: ReadyModel
  try {
    ref = plane.model(name)
  } catch (err) {
    if (err instanceof CalserveError) throw badInput(`reference_model '${name}': ${err.message}`, { field: 'reference_model', reference_model: name })
    throw err
  }
  const labels = model.manifest.labels
  const missing = labels.filter((l) => !ref.labelIndex.has(l))
  const extra = ref.manifest.labels.filter((l) => !model.labelIndex.has(l))
  if (missing.length > 0 || extra.length > 0)
    throw badInput(
      `reference_model '${name}' has other labels than model '${model.name}'` +
        (missing.length ? `; it lacks ${list(missing)}` : '') +
        (extra.length ? `; it has ${list(extra)}, which '${model.name}' does not` : ''),
      { field: 'reference_model', reference_model: name, missing, extra },
    )
  if (ref.runner.sampleSize !== model.runner.sampleSize)
    throw badInput(
      `reference_model '${name}' takes samples of ${ref.runner.sampleSize} numbers, model '${model.name}' of ${model.runner.sampleSize}: they cannot run over the same set`,
      { field: 'reference_model', reference_model: name, sample_size: ref.runner.sampleSize, expected: model.runner.sampleSize },
    )
  return { model: ref, columns: Int32Array.from(labels, (l) => ref.labelIndex.get(l)!) }
}

/** "reference" floors replaced by the reference model's value on the set. */
function resolveConstraints(requested: RequestedConstraints | undefined, ref: ReferenceMetrics | undefined): Constraints | undefined {
  if (requested === undefined) return undefined
  const out: Constraints = {}
  for (const floor of FLOORS) {
    const v = requested[floor]
    if (v === undefined) continue
    if (v !== 'reference') {
      out[floor] = v
      continue
    }
    const value = ref?.[SIDE[floor].metric] ?? null
    if (value === null)
      throw badInput(`constraints.${floor} constrains ${SIDE[floor].name}, but the set has no samples labelled in ${SIDE[floor].group} class`, {
        field: `constraints.${floor}`,
      })
    out[floor] = value
  }
  return out
}

/** What the record keeps of a conformal fit: the parameters predict needs, not the report on the set. */
function conformalParams(c: ConformalFit): ConformalParams {
  const { alpha, score, by } = c
  return by === 'group' ? { alpha, score, by, qhat_s: c.qhat_s ?? null, qhat_u: c.qhat_u ?? null } : { alpha, score, by, qhat: c.qhat ?? null }
}

export async function completeFit(deps: FitDeps, model: ReadyModel, set: CollectedSet, opts: FitRequest): Promise<FitResponse> {
  const active = deps.calibrations.get(model.name, model.version)
  const ref = set.reference
  let report: FitReport
  let refMetrics: ReferenceMetrics | undefined
  try {
    if (ref) refMetrics = referenceMetrics({ data: ref.logits, n: set.n, c: set.c }, set.labels, model.absent)
    const constraints = resolveConstraints(opts.constraints, refMetrics)
    report = fitCalibration({ data: set.logits, n: set.n, c: set.c }, set.labels, model.absent, {
      method: opts.method,
      objective: opts.objective,
      fitTemperature: opts.fit_temperature,
      active: { gamma: active.gamma, temperature: active.temperature },
      ...(constraints ? { constraints } : {}),
      ...(opts.alg_samples ? { alg_samples: opts.alg_samples } : {}),
      ...(opts.conformal ? { conformal: opts.conformal } : {}),
    })
  } catch (err) {
    if (err instanceof InfeasibleConstraintError) {
      const fromReference = opts.constraints?.[err.floor] === 'reference'
      throw new CalserveError(
        'INFEASIBLE',
        err.message + (fromReference ? ` (the floor is reference model '${ref!.model.name}''s ${SIDE[err.floor].name} on the set)` : ''),
        { field: err.field, floor: err.floor, value: err.value, best: err.best, ...(fromReference ? { reference_model: ref!.model.name } : {}) },
      )
    }
    if (err instanceof CalibrationInputError) throw badInput(err.message, { field: err.field })
    throw err
  }
  const response: FitResponse = {
    ...report,
    metrics: { ...report.metrics, ...(refMetrics ? { reference: refMetrics } : {}) },
    ...(ref ? { reference: { model: ref.model.name, version: ref.model.version } } : {}),
  }
  if (opts.dry_run) return response
  const { uncalibrated, fitted } = report.metrics
  const marks: CurveMark[] = [
    { name: 'uncalibrated', gamma: 0, acc_s_y: uncalibrated.acc_s_y, acc_u_y: uncalibrated.acc_u_y },
    { name: 'fitted', gamma: report.gamma, acc_s_y: fitted.acc_s_y, acc_u_y: fitted.acc_u_y },
  ]
  if (ref && refMetrics) marks.push({ name: 'reference', model: ref.model.name, gamma: 0, acc_s_y: refMetrics.acc_s_y, acc_u_y: refMetrics.acc_u_y })
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
      alg_samples: report.alg_samples ?? null,
      conformal: report.conformal ? conformalParams(report.conformal) : null,
      reference: ref && refMetrics ? { model: ref.model.name, version: ref.model.version, metrics: refMetrics } : null,
      curve: { points: report.curve, marks },
    },
    opts.expected_version,
  )
  return { ...response, calibration: record }
}
