// POST /v1/models/{name}/calibration/fit, GET /v1/jobs/{id} and the curve picture. The front-end
// only picks the reader for the body's encoding (src/inputs/fit-sets.ts); the intake
// (src/serving/intake.ts) runs the set through the model and fits, now or as a job.
import type { Readable } from 'node:stream'
import multipart from '@fastify/multipart'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { FitBodySchema, FitQuerySchema, FitResponseSchema, JobAcceptedSchema, JobSchema } from '../api/fit.js'
import { IMAGE_SET_TYPES, MULTIPART, NDJSON, OCTET_STREAM } from '../api/media-types.js'
import { ModelParams } from '../api/v1.js'
import { badInput, CalserveError, ErrorBody } from '../errors.js'
import { float32FitSet, imageNdjsonFitSet, imagePartsFitSet, imageTarFitSet, jsonFitSet, ndjsonFitSet } from '../inputs/fit-sets.js'
import { fitSetTooLarge } from '../inputs/lines.js'
import { renderCurveSvg } from '../render/curve-svg.js'
import type { FitRequest } from '../serving/fit.js'
import { intakeFit, type FitSet } from '../serving/intake.js'

const LABELS_HEADER = 'calserve-labels'

export interface FitRouteOptions {
  fitSyncMaxSamples: number
  /** Streamed sets (ndjson, binary): counted by their readers. */
  fitBodyLimitBytes: number
  /** JSON sets are parsed whole: bounded well below V8's string limit. */
  fitJsonBodyLimitBytes: number
  fitMaxLineBytes: number
  maxImagePixels: number
  /** The largest encoded image part of a multipart set. */
  maxImageBytes: number
}

const routes: FastifyPluginAsyncZod<FitRouteOptions> = async (app, opts) => {
  // Streamed bodies reach the handler as the raw stream; their readers count the bytes. A JSON body
  // is parsed whole by Fastify's own parser (which refuses __proto__ keys), under its own limit: no
  // route-level bodyLimit here, since Fastify lets a route's limit override every parser's.
  app.addContentTypeParser(NDJSON, (_req, payload, done) => done(null, payload))
  app.addContentTypeParser(OCTET_STREAM, (_req, payload, done) => done(null, payload))
  app.addContentTypeParser(IMAGE_SET_TYPES, (_req, payload, done) => done(null, payload))
  // Image parts named by their label; the readers bound the set's bytes, each part one image.
  await app.register(multipart, { limits: { fileSize: opts.maxImageBytes, files: Number.MAX_SAFE_INTEGER, fields: 32 } })
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: opts.fitJsonBodyLimitBytes }, app.getDefaultJsonParser('error', 'error'))

  const deps = { store: app.store, calibrations: app.calibrations, plane: app.plane, jobs: app.jobs }

  app.post(
    '/v1/models/:name/calibration/fit',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['calibration'],
        summary: 'Fit γ (and optionally a temperature) from a labelled set',
        description: `Send the set as JSON ({inputs, labels, options}; at most CALSERVE_FIT_JSON_BODY_LIMIT_BYTES) or streamed, of any size up to CALSERVE_FIT_BODY_LIMIT_BYTES: ${NDJSON}, one {"input": sample, "label": name or index} per line, or ${OCTET_STREAM} float32 with the labels in the query string or the ${LABELS_HEADER} header; options in the query string. Sets larger than the sync limit, or with async: true, answer 202 with a job to poll at /v1/jobs/{id}.`,
        params: ModelParams,
        querystring: FitQuerySchema,
        body: {
          content: {
            'application/json': { schema: FitBodySchema },
            [NDJSON]: { schema: z.any().describe('one {"input": [...], "label": "..."} per line') },
            [OCTET_STREAM]: {
              schema: z.any().describe('n × prod(input.shape) float32, little-endian; labels in the query string or the calserve-labels header'),
            },
            ...Object.fromEntries(
              IMAGE_SET_TYPES.map((t) => [
                t,
                { schema: z.any().describe('for a model with an image block: a tar (optionally gzip) of <label>/<name>.png|jpg|jpeg|webp') },
              ]),
            ),
            [MULTIPART]: { schema: z.any().describe('for a model with an image block: image file parts whose field name is the label') },
          },
        } as unknown as typeof FitBodySchema,
        response: {
          200: FitResponseSchema,
          202: JobAcceptedSchema,
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
          413: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const model = app.plane.model(req.params.name)
      const type = mediaType(req.headers['content-type'])
      const stream = req.body as unknown as Readable
      const { labels: queryLabels, ...query } = req.query
      const imageLimits = { maxBytes: opts.fitBodyLimitBytes, maxLineBytes: opts.fitMaxLineBytes, maxPixels: opts.maxImagePixels }
      let set: FitSet
      let options: FitRequest & { async: boolean } = fitOptionsFromQuery(query)
      // A streamed set's reader counts its bytes as they come; one that declares more than the
      // limit is refused before any is read (JSON's parser checks its own limit the same way).
      if (type !== 'application/json' && Number(req.headers['content-length']) > opts.fitBodyLimitBytes) throw fitSetTooLarge(opts.fitBodyLimitBytes)
      if (type === MULTIPART) set = imagePartsFitSet(model, req.parts(), imageLimits)
      else if ((req.body as unknown) == null)
        // No body and no content type: Fastify validates nothing, so refuse it here.
        throw badInput('the body is empty: send the labelled set as JSON, ndjson, float32 or images', { field: 'body' })
      else if (IMAGE_SET_TYPES.includes(type)) set = imageTarFitSet(model, stream, imageLimits)
      else if (type === NDJSON)
        set = model.image
          ? imageNdjsonFitSet(model, stream, imageLimits)
          : ndjsonFitSet(model, stream, { maxBytes: opts.fitBodyLimitBytes, maxLineBytes: opts.fitMaxLineBytes })
      else if (type === OCTET_STREAM)
        set = float32FitSet(
          model,
          stream,
          queryLabels ?? headerValue(req.headers[LABELS_HEADER]),
          opts.fitBodyLimitBytes,
          `the query string (labels=) or the ${LABELS_HEADER} header`,
        )
      else {
        const { inputs, labels, ...rest } = req.body
        options = rest
        set = jsonFitSet(model, inputs, labels)
      }
      const outcome = await intakeFit(deps, model, set, { ...options, created_by: req.principal }, opts.fitSyncMaxSamples)
      if (outcome.kind === 'done') return outcome.response
      const { job } = outcome
      const location = `/v1/jobs/${job.id}`
      return reply.code(202).header('location', location).send({ job_id: job.id, state: job.state, location })
    },
  )

  app.get(
    '/v1/jobs/:id',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['calibration'],
        summary: 'State, progress and result of a fit job',
        params: z.object({ id: z.string().max(100) }),
        response: { 200: JobSchema, 404: ErrorBody },
      },
    },
    async (req) => {
      const job = await app.store.getJob(req.params.id)
      if (!job) throw new CalserveError('JOB_NOT_FOUND', `no job '${req.params.id}'`, { job_id: req.params.id })
      const { result, error, ...rest } = job
      return { ...rest, ...(result ? { result: result as z.infer<typeof FitResponseSchema> } : {}), ...(error ? { error } : {}) }
    },
  )

  app.get(
    '/v1/models/:name/calibration/curve.svg',
    {
      schema: {
        tags: ['calibration'],
        summary: 'The seen–absent curve of the last fit, as a standalone SVG',
        params: ModelParams,
        produces: ['image/svg+xml'],
        response: { 200: z.string(), 404: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const model = app.plane.model(req.params.name)
      const curve = await app.store.lastCurve(model.name, model.version)
      if (!curve) throw new CalserveError('NOT_FOUND', `model '${model.name}' version ${model.version} has not been fitted yet`, { model: model.name })
      reply.type('image/svg+xml; charset=utf-8')
      return renderCurveSvg({
        title: `${model.name} v${model.version}, calibration ${curve.version}`,
        curves: [{ name: 'seen–absent curve', points: curve.points, ausuc: curve.ausuc }],
        marks: curve.marks,
      })
    },
  )
}

/** The query string's flat fit options (min_acc_s_y, conformal_alpha, …) in the JSON body's shape. */
function fitOptionsFromQuery(query: Omit<z.infer<typeof FitQuerySchema>, 'labels'>): FitRequest & { async: boolean } {
  const { min_acc_s_y, min_acc_u_y, conformal_alpha, conformal_score, conformal_by, ...rest } = query
  const options: FitRequest & { async: boolean } = rest
  if (min_acc_s_y !== undefined || min_acc_u_y !== undefined)
    options.constraints = { ...(min_acc_s_y === undefined ? {} : { min_acc_s_y }), ...(min_acc_u_y === undefined ? {} : { min_acc_u_y }) }
  if (conformal_alpha !== undefined)
    options.conformal = { alpha: conformal_alpha, ...(conformal_score ? { score: conformal_score } : {}), ...(conformal_by ? { by: conformal_by } : {}) }
  else if (conformal_score !== undefined || conformal_by !== undefined)
    throw badInput(`${conformal_score !== undefined ? 'conformal_score' : 'conformal_by'} needs conformal_alpha, the miscoverage level in (0, 1)`, {
      field: 'conformal_alpha',
    })
  return options
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v
}

const mediaType = (contentType: string | undefined) => (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? ''

export default routes
