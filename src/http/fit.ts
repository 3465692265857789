// POST /v1/models/{name}/calibration/fit, GET /v1/jobs/{id} and the curve picture. The set comes
// as JSON or as a stream of ndjson lines; either way it is run through the model one batch at a
// time and only the logits are kept. Large sets (or async: true) become jobs.
import type { Readable } from 'node:stream'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { renderCurveSvg } from '../render/curve-svg.js'
import { badInput, CalserveError, ErrorBody } from '../errors.js'
import { LogitCollector, resolveLabel } from '../serving/collector.js'
import { checkFitPreconditions, completeFit, type FitOptions } from '../serving/fit.js'
import { JobRunner } from '../serving/jobs.js'
import { readFloat32Stream } from '../inputs/float32-stream.js'
import { readNdjson } from '../inputs/ndjson.js'
import type { ReadyModel } from '../models/repository.js'
import { decodeSample } from '../inputs/tensor.js'
import { NDJSON, OCTET_STREAM } from '../api/media-types.js'
import { readImageNdjson, readImageParts, readImageTar } from '../inputs/image-fit.js'
import { FitBodySchema, FitQuerySchema, FitResponseSchema, JobAcceptedSchema, JobSchema } from '../api/fit.js'
import { ModelParams } from '../api/v1.js'

const LABELS_HEADER = 'calserve-labels'
const MAX_LINE_BYTES = 64 * 1024 * 1024

declare module 'fastify' {
  interface FastifyInstance {
    jobs: JobRunner
  }
}

// Image sets (issue 13): a tar in ImageFolder layout, optionally gzip-compressed.
const IMAGE_TAR_TYPES = ['application/x-tar', 'application/gzip', 'application/x-gzip']
const MULTIPART = 'multipart/form-data'

const routes: FastifyPluginAsyncZod<{ fitSyncMaxSamples: number; fitBodyLimitBytes: number; maxImagePixels: number }> = async (app, opts) => {
  const jobs = new JobRunner(app.store, app.log)
  app.decorate('jobs', jobs)
  app.addHook('onClose', () => jobs.drain())
  // The ndjson body reaches the handler as the raw stream, read line by line there.
  app.addContentTypeParser(NDJSON, (_req, payload, done) => done(null, payload))
  app.addContentTypeParser(OCTET_STREAM, (_req, payload, done) => done(null, payload))
  app.addContentTypeParser(IMAGE_TAR_TYPES, (_req, payload, done) => done(null, payload))

  const deps = { store: app.store, calibrations: app.calibrations }

  /** Runs a fit now, or as a job when asked to or when the set is large. */
  const dispatch = async (
    model: ReadyModel,
    n: number,
    options: FitOptions & { async: boolean },
    collect: (progress: (done: number) => void) => Promise<import('../serving/collector.js').CollectedSet>,
    reply: import('fastify').FastifyReply,
  ) => {
    if (!options.async && n <= opts.fitSyncMaxSamples) return completeFit(deps, model, await collect(() => {}), options)
    const job = await jobs.submit(model.name, n, async (progress) => completeFit(deps, model, await collect(progress), options))
    const location = `/v1/jobs/${job.id}`
    return reply.code(202).header('location', location).send({ job_id: job.id, state: job.state, location })
  }

  app.post(
    '/v1/models/:name/calibration/fit',
    {
      config: { access: 'admin' },
      bodyLimit: opts.fitBodyLimitBytes,
      schema: {
        tags: ['calibration'],
        summary: 'Fit γ (and optionally a temperature) from a labelled set',
        description: `Send the set as JSON ({inputs, labels, options}) or as ${NDJSON}: one {"input": sample, "label": name or index} per line, options in the query string. Sets larger than the sync limit, or with async: true, answer 202 with a job to poll at /v1/jobs/{id}.`,
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
              IMAGE_TAR_TYPES.map((t) => [t, { schema: z.any().describe('for a model with an image block: a tar (optionally gzip) of <label>/<name>.png|jpg|jpeg|webp') }]),
            ),
            [MULTIPART]: { schema: z.any().describe('for a model with an image block: image file parts whose field name is the label') },
          },
        } as unknown as typeof FitBodySchema,
        response: { 200: FitResponseSchema, 202: JobAcceptedSchema, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const model = app.models.ready(req.params.name)
      // --- image sets (issue 13), to fold into the new intake ---------------------------------
      const imageType = mediaType(req.headers['content-type'])
      const imageLimits = { maxBytes: opts.fitBodyLimitBytes, maxLineBytes: MAX_LINE_BYTES, maxPixels: opts.maxImagePixels }
      if (IMAGE_TAR_TYPES.includes(imageType) || imageType === MULTIPART || (imageType === NDJSON && model.image)) {
        const options = { ...req.query, created_by: req.principal }
        checkFitPreconditions(deps, model, options)
        const collector = new LogitCollector(model, app.plane)
        if (imageType === MULTIPART) await readImageParts(req.parts(), model, collector, imageLimits)
        else if (imageType === NDJSON) await readImageNdjson(req.body as unknown as Readable, model, collector, imageLimits)
        else await readImageTar(req.body as unknown as Readable, model, collector, imageLimits)
        const set = await collector.finish()
        return dispatch(model, set.n, options, async () => set, reply)
      }
      // -------------------------------------------------------------------------------------------
      // No body and no content type: Fastify validates nothing, so refuse it here.
      if ((req.body as unknown) == null) throw badInput('the body is empty: send the labelled set as JSON, ndjson or float32', { field: 'body' })
      if (isOctetStream(req.headers['content-type'])) {
        const options = { ...req.query, created_by: req.principal }
        checkFitPreconditions(deps, model, options)
        const labels = binaryLabels(model, req.query.labels ?? headerValue(req.headers[LABELS_HEADER]))
        const collector = new LogitCollector(model, app.plane, labels.length)
        await readFloat32Stream(req.body as unknown as Readable, collector, labels, opts.fitBodyLimitBytes)
        const set = await collector.finish()
        return dispatch(model, set.n, options, async () => set, reply)
      }
      if (isNdjson(req.headers['content-type'])) {
        const options = { ...req.query, created_by: req.principal }
        checkFitPreconditions(deps, model, options)
        const collector = new LogitCollector(model, app.plane)
        await readNdjson(req.body as unknown as Readable, model, collector, {
          maxBytes: opts.fitBodyLimitBytes,
          maxLineBytes: MAX_LINE_BYTES,
        })
        const set = await collector.finish()
        return dispatch(model, set.n, options, async () => set, reply)
      }
      const { inputs, labels: given, ...rest } = req.body
      const options = { ...rest, created_by: req.principal }
      checkFitPreconditions(deps, model, options)
      if (inputs.length !== given.length)
        throw badInput(`inputs has ${inputs.length} samples but labels has ${given.length}`, {
          field: 'labels',
          inputs: inputs.length,
          labels: given.length,
        })
      if (inputs.length === 0) throw badInput('the fit set is empty: send at least one labelled sample', { field: 'inputs' })
      const labels = given.map((l, i) => resolveLabel(model, l, `labels[${i}]`))
      const runsAsJob = options.async || inputs.length > opts.fitSyncMaxSamples
      // A job must not fail later on input that could be refused now: check every sample first.
      if (runsAsJob) {
        const scratch = new Float32Array(model.runner.sampleSize)
        inputs.forEach((s, i) => decodeSample(s, scratch, { where: `inputs[${i}]`, details: { field: 'inputs', sample: i } }))
      }
      return dispatch(model, inputs.length, options, async (progress) => {
        const collector = new LogitCollector(model, app.plane, inputs.length, progress)
        for (let i = 0; i < inputs.length; i++) {
          decodeSample(inputs[i], collector.slot(), { where: `inputs[${i}]`, details: { field: 'inputs', sample: i } })
          await collector.commit(labels[i]!)
        }
        return collector.finish()
      }, reply)
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
      const model = app.models.ready(req.params.name)
      const curve = await app.store.lastCurve(model.name, model.version)
      if (!curve)
        throw new CalserveError('NOT_FOUND', `model '${model.name}' version ${model.version} has not been fitted yet`, { model: model.name })
      reply.type('image/svg+xml; charset=utf-8')
      return renderCurveSvg({
        title: `${model.name} v${model.version}, calibration ${curve.version}`,
        curves: [{ name: 'seen–absent curve', points: curve.points, ausuc: curve.ausuc }],
        marks: curve.marks,
      })
    },
  )
}

/** Labels of a binary fit set: comma-separated names or indices, one per sample. */
function binaryLabels(model: ReadyModel, list: string | undefined): number[] {
  if (list === undefined)
    throw badInput(`a binary fit set needs its labels in the query string (labels=) or the ${LABELS_HEADER} header`, { field: 'labels' })
  const items = list.split(',').map((s) => s.trim())
  return items.map((item, i) => resolveLabel(model, /^[0-9]+$/.test(item) && !model.labelIndex.has(item) ? Number(item) : item, `labels[${i}]`))
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v
}

const mediaType = (contentType: string | undefined) => (contentType ?? '').split(';')[0]!.trim().toLowerCase()
const isNdjson = (contentType: string | undefined) => mediaType(contentType) === NDJSON
const isOctetStream = (contentType: string | undefined) => mediaType(contentType) === OCTET_STREAM

export default routes
