// The wire shapes of API v1. Each is registered in zod's global registry with an id, so the
// OpenAPI document refers to it as a component instead of repeating it per route.
import { z } from 'zod'
import type { ConformalParams, CurvePoint, Metrics, ReferenceMetrics } from '../calibration/index.js'
import { shallowArray } from './arrays.js'
import { MODEL_NAME } from './names.js'

const nullableRate = z.number().min(0).max(1).nullable()

export const CalibrationMethodSchema = z
  .enum(['none', 'manual', 'sweep', 'alg', 'rollback'])
  .describe('how the version was made; none is the uncalibrated identity (version 0)')
  .meta({ id: 'CalibrationMethod' })
export type CalibrationMethod = z.infer<typeof CalibrationMethodSchema>

export const MetricsSchema = z
  .object({
    acc_s_y: nullableRate.describe('accuracy over samples of fine-tuning classes, argmax over all classes'),
    acc_u_y: nullableRate.describe('accuracy over samples of absent classes, argmax over all classes'),
    acc_y_y: nullableRate.describe('accuracy over all samples'),
    acc_s_s: nullableRate.describe('accuracy over fine-tuning-class samples, argmax restricted to fine-tuning classes'),
    acc_u_u: nullableRate.describe('accuracy over absent-class samples, argmax restricted to absent classes'),
    harmonic_mean: nullableRate,
    balanced_accuracy: nullableRate,
    ausuc: nullableRate.describe('area under the seen–absent curve'),
    nll: z.number().nullable().optional(),
    ece: z.number().nullable().optional(),
  })
  .describe('A metric the set cannot define (no absent-class samples, say) is null.')
  .meta({ id: 'Metrics' }) satisfies z.ZodType<Metrics>

export const CurvePointSchema = z
  .object({
    gamma: z.number().describe('the representative γ of one interval between breakpoints (its midpoint; ±1 beyond the ends)'),
    acc_s_y: nullableRate,
    acc_u_y: nullableRate,
    acc_y_y: nullableRate,
  })
  .meta({ id: 'CurvePoint' }) satisfies z.ZodType<CurvePoint>

export const CurveMarkSchema = z
  .object({
    name: z.string().describe('which calibration this point is: uncalibrated, fitted, reference, …'),
    model: z.string().optional().describe("the reference mark's model (its point is that model's, uncalibrated)"),
    gamma: z.number(),
    acc_s_y: nullableRate,
    acc_u_y: nullableRate,
  })
  .meta({ id: 'CurveMark' })
export type CurveMark = z.infer<typeof CurveMarkSchema>

export const CalibrationCurveSchema = z
  .object({
    model: z.string(),
    model_version: z.number().int(),
    version: z.number().int().min(1).describe('the calibration version the fit stored'),
    ausuc: nullableRate.describe('area under the full seen–absent curve'),
    points: z
      .array(CurvePointSchema)
      .describe(
        'one point per interval between breakpoints, in γ order (at most 2001: a longer curve is subsampled, keeping both ends and the points of the fitted, active and uncalibrated γ)',
      ),
    marks: z.array(CurveMarkSchema).describe('the calibrations of interest at fit time'),
  })
  .meta({ id: 'CalibrationCurve' })

export const AlgSamplesSchema = z
  .enum(['fine_tuning', 'all'])
  .describe("which samples ALG averages over: fine_tuning (the paper's text: samples labelled in S) or all (its released code: every sample)")
  .meta({ id: 'AlgSamples' })

export const ConformalScoreSchema = z
  .enum(['lac', 'aps'])
  .describe('lac: 1 − p of the label; aps: cumulative p down to the label')
  .meta({ id: 'ConformalScore' })
export const ConformalBySchema = z
  .enum(['marginal', 'group'])
  .describe('marginal: one q̂; group (lac only): q̂_S and q̂_U, a coverage guarantee per group')
  .meta({ id: 'ConformalBy' })

/** q̂ is null for +∞: the set was too small for this α, and every class is in every set. */
const qhat = z.number().nullable()

export const ConformalParamsSchema = z
  .object({
    alpha: z.number().gt(0).lt(1).describe('miscoverage level: sets hold the label with probability ≥ 1 − α'),
    score: ConformalScoreSchema,
    by: ConformalBySchema,
    qhat: qhat.optional().describe('by marginal: the score threshold (null: +∞)'),
    qhat_s: qhat.optional().describe('by group: the threshold of the fine-tuning classes (null: +∞)'),
    qhat_u: qhat.optional().describe('by group: the threshold of the absent classes (null: +∞)'),
  })
  .describe('a split-conformal calibration at the stored γ and temperature')
  .meta({ id: 'ConformalParams' }) satisfies z.ZodType<ConformalParams>

export const ReferenceMetricsSchema = z
  .object({
    acc_s_y: nullableRate,
    acc_u_y: nullableRate,
    acc_y_y: nullableRate,
    harmonic_mean: nullableRate,
    balanced_accuracy: nullableRate,
    ausuc: nullableRate.describe("area under the reference model's own seen–absent curve"),
  })
  .describe("a reference model's metrics on the fit set at γ = 0, over the fit model's S and U")
  .meta({ id: 'ReferenceMetrics' }) satisfies z.ZodType<ReferenceMetrics>

export const CalibrationReferenceSchema = z
  .object({
    model: z.string().describe('the served model run over the fit set as the reference'),
    version: z.number().int().describe('its model version'),
    metrics: ReferenceMetricsSchema,
  })
  .meta({ id: 'CalibrationReference' })

export const CalibrationRecordSchema = z
  .object({
    model: z.string(),
    model_version: z.number().int().describe('the model version (folder) this calibration belongs to'),
    version: z.number().int().min(0).describe('calibration version; 0 is the uncalibrated identity'),
    gamma: z.number().describe('bias added to the logits of absent classes'),
    temperature: z.number().positive().describe('scores are softmax((logits + γ·1[absent]) / temperature)'),
    method: CalibrationMethodSchema,
    objective: z.string().nullable(),
    source_version: z.number().int().nullable().describe('for a rollback: the version restored'),
    created_at: z.string().nullable(),
    created_by: z.string().nullable(),
    note: z.string().nullable(),
    n_samples: z.number().int().nullable(),
    digest: z.string().nullable().describe('sha256 of the fit set'),
    metrics: MetricsSchema.nullable(),
    alg_samples: AlgSamplesSchema.nullable().describe('for an alg fit: which samples it averaged over'),
    conformal: ConformalParamsSchema.nullable().describe('the conformal calibration fitted with this version, if any'),
    reference: CalibrationReferenceSchema.nullable().describe('the reference model of a fit, with its metrics on the fit set'),
  })
  .meta({ id: 'CalibrationRecord' })
/** A stored calibration. Version 0 (method "none") is the implicit identity of an uncalibrated model. */
export type CalibrationRecord = z.infer<typeof CalibrationRecordSchema>

export const ModelNameSchema = z.string().regex(MODEL_NAME, 'a model name holds only letters, digits, ".", "_" and "-"')

export const ModelParams = z.object({ name: ModelNameSchema })

export const ModelStateSchema = z
  .enum(['READY', 'LOADING', 'FAILED', 'UNAVAILABLE'])
  .describe('UNAVAILABLE: unloaded by an operator')
  .meta({ id: 'ModelState' })

export const ModelInfoSchema = z
  .object({
    name: z.string(),
    version: z.number().int().nullable().describe('the served model version (highest version folder)'),
    state: ModelStateSchema,
    reason: z.string().optional().describe('why the model is FAILED'),
    labels: z.array(z.string()),
    fine_tuning_classes: z.array(z.string()),
    absent_classes: z.array(z.string()),
    input: z.object({ name: z.string(), shape: z.array(z.number().int()), dtype: z.string() }).nullable(),
    output: z.object({ name: z.string(), width: z.number().int() }).nullable(),
    execution_provider: z.string().nullable(),
    execution_provider_fallback: z.string().nullable().describe('why an earlier execution provider was not used'),
    description: z.string().nullable(),
    image: z
      .object({
        source: z.enum(['model.json', 'preprocessor_config.json']).describe('where the preprocessing was read from'),
        preprocessing: z.record(z.string(), z.unknown()).describe("the image block as applied (Hugging Face's field names)"),
        color: z.string(),
        layout: z.string(),
      })
      .nullable()
      .optional()
      .describe('how encoded images (PNG, JPEG, WebP) become the input; null: tensors only'),
    calibration: CalibrationRecordSchema.nullable(),
  })
  .meta({ id: 'ModelInfo' })

export const Sample = shallowArray().describe('one sample: an array of numbers, flat or nested, holding exactly prod(input.shape) numbers')

export const PredictRequestSchema = z
  .strictObject({
    inputs: z.array(Sample).optional().describe('the samples to classify (or images)'),
    images: z
      .array(z.string())
      .optional()
      .describe('instead of inputs, for a model with an image block: PNG, JPEG or WebP images, base64 (a data: URL prefix is allowed)'),
    top_k: z.number().int().min(1).default(1).describe('how many classes to return per sample, best first'),
    calibrated: z.boolean().default(true).describe('false: predict from the raw logits, γ not added'),
    return_logits: z.boolean().default(false).describe('return the raw model logits of each sample'),
    return_sets: z
      .boolean()
      .default(false)
      .describe("add each sample's conformal prediction_set (needs an active calibration fitted with conformal, and the calibrated output)"),
  })
  .refine((r) => (r.inputs === undefined) !== (r.images === undefined), 'give either inputs or images')
  .meta({ id: 'PredictRequest' })

/** "true"/"false" (or 1/0) in a query string. */
export const queryBool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')

/** Predict options for a binary body, where they travel in the query string. */
export const PredictQuerySchema = z.strictObject({
  top_k: z.coerce.number().int().min(1).default(1),
  calibrated: queryBool.default(true),
  return_logits: queryBool.default(false),
  return_sets: queryBool.default(false),
})

const ScoredClassSchema = z.object({ label: z.string(), index: z.number().int(), score: z.number() })

export const PredictResponseSchema = z
  .object({
    model: z.string(),
    model_version: z.number().int(),
    calibration: z.object({
      applied: z.boolean(),
      version: z.number().int(),
      gamma: z.number(),
      temperature: z.number(),
      conformal: ConformalParamsSchema.optional().describe('with return_sets: the conformal calibration the sets used'),
    }),
    predictions: z.array(
      z.object({
        label: z.string(),
        index: z.number().int(),
        score: z.number(),
        absent: z.boolean().describe('whether the predicted class was absent from fine-tuning'),
        top_k: z.array(ScoredClassSchema),
        prediction_set: z
          .array(ScoredClassSchema)
          .optional()
          .describe(
            'with return_sets: the conformal set, in rank order (calibrated p descending, ties by index), score = p; it holds the label with probability ≥ 1 − α',
          ),
        logits: z.array(z.number()).optional(),
      }),
    ),
  })
  .meta({ id: 'PredictResponse' })
export type PredictResponse = z.infer<typeof PredictResponseSchema>

/** |γ| past any logit scale a classifier has, and far inside float32: z + γ stays finite. */
export const MAX_GAMMA = 1e30
/** (z + γ) / T stays within float32 for |z + γ| ≤ 1e30 + float32-sized logits. */
export const MIN_TEMPERATURE = 1e-6
export const MAX_TEMPERATURE = 1e6

export const SetCalibrationSchema = z
  .strictObject({
    // Bounded so the calibrated logits stay finite in float32 (max 3.4e38) whatever the model's own
    // logits: γ = 1e308 was stored, after which every v2 JSON infer failed (issue 18 item 12).
    gamma: z.number().min(-MAX_GAMMA).max(MAX_GAMMA).describe(`bias for the absent classes, |γ| ≤ ${MAX_GAMMA}`),
    temperature: z
      .number()
      .min(MIN_TEMPERATURE)
      .max(MAX_TEMPERATURE)
      .default(1)
      .describe(`score temperature in [${MIN_TEMPERATURE}, ${MAX_TEMPERATURE}]; argmax is unaffected`),
    expected_version: z.number().int().min(0).optional().describe('refuse with 409 unless this is the active calibration version'),
    note: z.string().max(2000).optional(),
  })
  .meta({ id: 'SetCalibration' })

export const RollbackSchema = z
  .strictObject({
    version: z.number().int().min(1).describe('the stored calibration version to make active again'),
    expected_version: z.number().int().min(0).optional(),
    note: z.string().max(2000).optional(),
  })
  .meta({ id: 'Rollback' })

export const ExportQuerySchema = z.strictObject({
  version: z.coerce
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional()
    .describe('the stored calibration version to bake in (default: the active one; 0 is the uncalibrated identity)'),
})

/** A history page: the newest versions by default; `before` is the `next` of the previous page. */
export const HISTORY_DEFAULT_LIMIT = 50
export const HISTORY_MAX_LIMIT = 500

export const HistoryQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(HISTORY_MAX_LIMIT).default(HISTORY_DEFAULT_LIMIT).describe(`versions per page (at most ${HISTORY_MAX_LIMIT})`),
  before: z.coerce
    .number()
    .int()
    .min(1)
    .max(2 ** 31 - 1)
    .optional()
    .describe('only versions older than this one: the `next` of the previous page'),
})

export const HistorySchema = z
  .object({
    versions: z.array(CalibrationRecordSchema).describe('newest first'),
    next: z.number().int().nullable().describe('pass as `before` for the next (older) page; null on the last page'),
  })
  .meta({ id: 'CalibrationHistory' })
