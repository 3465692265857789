// Wire shapes of the fit endpoint and of jobs.
import { z } from 'zod'
import {
  AlgSamplesSchema,
  CalibrationRecordSchema,
  ConformalBySchema,
  ConformalParamsSchema,
  ConformalScoreSchema,
  CurvePointSchema,
  MetricsSchema,
  ModelNameSchema,
  queryBool,
  ReferenceMetricsSchema,
  Sample,
} from './v1.js'

/** A floor on Acc_S/Y or Acc_U/Y: a rate, or "reference" for the reference model's value on the set. */
const floor = z.union([z.number().min(0).max(1), z.literal('reference')])

export const ConstraintsSchema = z
  .strictObject({
    min_acc_s_y: floor.optional().describe('only γ whose Acc_S/Y is at least this compete ("reference": the reference model\'s Acc_S/Y on the set)'),
    min_acc_u_y: floor.optional().describe('only γ whose Acc_U/Y is at least this compete ("reference": the reference model\'s Acc_U/Y on the set)'),
  })
  .describe('sweep only: floors the fitted γ must meet; none met → 400 CALSERVE_INFEASIBLE with the best value attainable')
  .meta({ id: 'FitConstraints' })

export const ConformalRequestSchema = z
  .strictObject({
    alpha: z.number().gt(0).lt(1).describe('miscoverage level in (0, 1): sets hold the label with probability ≥ 1 − α'),
    score: ConformalScoreSchema.optional().describe('default lac'),
    by: ConformalBySchema.optional().describe('default marginal; group works with lac only'),
  })
  .describe('fit split-conformal prediction sets at the fitted γ and T, on the same set')
  .meta({ id: 'ConformalRequest' })

const fitOptions = {
  method: z
    .enum(['sweep', 'alg'])
    .default('sweep')
    .describe('sweep: exact optimum of the objective (needs fine-tuning and absent samples); alg: average logit gap (fine-tuning samples suffice)'),
  objective: z.enum(['accuracy', 'harmonic_mean', 'balanced_accuracy']).default('accuracy').describe('what sweep maximises'),
  dry_run: z.boolean().default(false).describe('compute and report, store nothing'),
  fit_temperature: z.boolean().default(false).describe('also fit a score temperature T after γ'),
  expected_version: z.number().int().min(0).optional().describe('refuse with 409 unless this is the active calibration version'),
  note: z.string().max(2000).optional(),
  async: z.boolean().default(false).describe('run as a job: 202 with a job id (large sets always do)'),
  constraints: ConstraintsSchema.optional(),
  reference_model: ModelNameSchema.optional().describe(
    'a served model (same label names in any order, same input size) run over the same set: metrics.reference, the "reference" floors and the curve\'s reference mark',
  ),
  alg_samples: AlgSamplesSchema.optional().describe('alg only; default fine_tuning'),
  conformal: ConformalRequestSchema.optional(),
}

/** A rate in [0, 1] or "reference", as the query string carries it. */
const queryFloor = z.union([
  z.literal('reference'),
  z
    .string()
    .regex(/^\s*[0-9.eE+-]+\s*$/, 'a number in [0, 1] or "reference"')
    .transform(Number)
    .pipe(z.number().min(0).max(1)),
])

export const FitBodySchema = z
  .strictObject({
    inputs: z.array(Sample).describe('the samples of the labelled set'),
    labels: z.array(z.union([z.string(), z.number().int()])).describe('one label per sample: a label name or a class index'),
    ...fitOptions,
  })
  .meta({ id: 'FitRequest' })

/** The same options, for a set streamed as ndjson or binary: they travel in the query string. */
export const FitQuerySchema = z.strictObject({
  method: fitOptions.method,
  objective: fitOptions.objective,
  dry_run: queryBool.default(false),
  fit_temperature: queryBool.default(false),
  expected_version: z.coerce.number().int().min(0).optional(),
  note: z.string().max(2000).optional(),
  async: queryBool.default(false),
  labels: z.string().optional().describe('for a binary set: comma-separated label names or indices, one per sample'),
  min_acc_s_y: queryFloor.optional().describe('constraints.min_acc_s_y'),
  min_acc_u_y: queryFloor.optional().describe('constraints.min_acc_u_y'),
  reference_model: fitOptions.reference_model,
  alg_samples: fitOptions.alg_samples,
  conformal_alpha: z.coerce.number().gt(0).lt(1).optional().describe('conformal.alpha'),
  conformal_score: ConformalScoreSchema.optional().describe('conformal.score (needs conformal_alpha)'),
  conformal_by: ConformalBySchema.optional().describe('conformal.by (needs conformal_alpha)'),
})

export const JobStateSchema = z.enum(['queued', 'running', 'succeeded', 'failed']).meta({ id: 'JobState' })
export type JobState = z.infer<typeof JobStateSchema>

const nullableRate = z.number().min(0).max(1).nullable()

export const ConformalFitSchema = ConformalParamsSchema.extend({
  too_small: z.boolean().describe('some q̂ is +∞ (null): the set, or a group of it, is too small for this α and every class is in every set'),
  coverage: z
    .object({ overall: nullableRate, s: nullableRate, u: nullableRate })
    .describe('fraction of the set whose label is in its prediction set: overall, labelled in S, labelled in U'),
  mean_set_size: z.number().nullable().describe('mean number of labels per prediction set on the set'),
}).meta({ id: 'ConformalFit' })

export const FitResponseSchema = z
  .object({
    gamma: z.number(),
    temperature: z.number(),
    method: z.enum(['sweep', 'alg']),
    objective: z.enum(['accuracy', 'harmonic_mean', 'balanced_accuracy']),
    n_samples: z.number().int(),
    n_fine_tuning: z.number().int().describe('samples labelled with a fine-tuning class'),
    n_absent: z.number().int().describe('samples labelled with an absent class'),
    n_ignored: z.number().int().describe('samples the method did not use (alg ignores absent-class samples)'),
    metrics: z.object({
      uncalibrated: MetricsSchema,
      active: MetricsSchema,
      fitted: MetricsSchema,
      reference: ReferenceMetricsSchema.optional().describe('with reference_model: the reference model on the set, uncalibrated'),
    }),
    curve: z.array(CurvePointSchema).describe('the seen–absent curve: one point per interval between breakpoints, in γ order'),
    temperature_bound: z
      .enum(['lower', 'upper'])
      .nullable()
      .optional()
      .describe('with fit_temperature: which end of [1e-3, 1e3] T was clamped to, null when inside'),
    alg_samples: AlgSamplesSchema.optional().describe('alg only: which samples it averaged over'),
    constraints: z
      .object({ min_acc_s_y: z.number().optional(), min_acc_u_y: z.number().optional() })
      .optional()
      .describe('the floors as applied, "reference" resolved to the reference model\'s value'),
    conformal: ConformalFitSchema.optional(),
    reference: z.object({ model: z.string(), version: z.number().int() }).optional().describe('the reference model run over the set'),
    calibration: CalibrationRecordSchema.optional().describe('the stored version (absent on a dry run)'),
  })
  .meta({ id: 'FitResponse' })
export type FitResponse = z.infer<typeof FitResponseSchema>

export const JobAcceptedSchema = z.object({ job_id: z.string(), state: JobStateSchema, location: z.string() }).meta({ id: 'JobAccepted' })

export const JobSchema = z
  .object({
    id: z.string(),
    model: z.string(),
    state: JobStateSchema,
    progress: z.object({ done: z.number().int(), total: z.number().int() }),
    result: FitResponseSchema.optional(),
    error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }).optional(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'Job' })
