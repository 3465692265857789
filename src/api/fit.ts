// Wire shapes of the fit endpoint and of jobs.
import { z } from 'zod'
import { CalibrationRecordSchema, CurvePointSchema, MetricsSchema, queryBool, Sample } from './v1.js'

const fitOptions = {
  method: z.enum(['sweep', 'alg']).default('sweep').describe('sweep: exact optimum of the objective (needs fine-tuning and absent samples); alg: average logit gap (fine-tuning samples suffice)'),
  objective: z.enum(['accuracy', 'harmonic_mean', 'balanced_accuracy']).default('accuracy').describe('what sweep maximises'),
  dry_run: z.boolean().default(false).describe('compute and report, store nothing'),
  fit_temperature: z.boolean().default(false).describe('also fit a score temperature T after γ'),
  expected_version: z.number().int().min(0).optional().describe('refuse with 409 unless this is the active calibration version'),
  note: z.string().max(2000).optional(),
  async: z.boolean().default(false).describe('run as a job: 202 with a job id (large sets always do)'),
}

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
})

export const JobStateSchema = z.enum(['queued', 'running', 'succeeded', 'failed']).meta({ id: 'JobState' })
export type JobState = z.infer<typeof JobStateSchema>

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
    metrics: z.object({ uncalibrated: MetricsSchema, active: MetricsSchema, fitted: MetricsSchema }),
    curve: z.array(CurvePointSchema).describe('the seen–absent curve: one point per interval between breakpoints, in γ order'),
    calibration: CalibrationRecordSchema.optional().describe('the stored version (absent on a dry run)'),
  })
  .meta({ id: 'FitResponse' })
export type FitResponse = z.infer<typeof FitResponseSchema>

export const JobAcceptedSchema = z
  .object({ job_id: z.string(), state: JobStateSchema, location: z.string() })
  .meta({ id: 'JobAccepted' })

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
