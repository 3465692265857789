// POST /v1/models/{name}/predict: samples as JSON, or as raw little-endian float32
// (application/octet-stream, options in the query string) to skip JSON number parsing.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { badInput, ErrorBody } from '../errors.js'
import { runPredict } from '../models/inference.js'
import { decodeFloat32Body, decodeJsonSamples } from '../models/tensor.js'
import { fastSerializerCompiler } from './fast-serializer.js'
import { OCTET_STREAM } from './media-types.js'
import { ModelParams, PredictQuerySchema, PredictRequestSchema, PredictResponseSchema } from './schemas.js'

const routes: FastifyPluginAsyncZod<{ bodyLimit: number; maxSamples: number }> = async (app, opts) => {
  const tooMany = (n: number) =>
    badInput(`${n} samples in one request; at most ${opts.maxSamples} (CALSERVE_MAX_PREDICT_SAMPLES)`, { field: 'inputs', max: opts.maxSamples })
  app.addContentTypeParser(OCTET_STREAM, { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (_req, body, done) => done(null, body))

  app.post(
    '/v1/models/:name/predict',
    {
      bodyLimit: opts.bodyLimit,
      serializerCompiler: fastSerializerCompiler,
      schema: {
        tags: ['inference'],
        summary: 'Classify samples with the active calibration',
        description: `JSON: {inputs, top_k, calibrated, return_logits}. ${OCTET_STREAM}: the samples as raw little-endian float32, back to back (shape from the model, count from the length); options in the query string.`,
        params: ModelParams,
        querystring: PredictQuerySchema,
        body: {
          content: {
            'application/json': { schema: PredictRequestSchema },
            [OCTET_STREAM]: { schema: z.any().describe('n × prod(input.shape) float32, little-endian') },
          },
        } as unknown as typeof PredictRequestSchema,
        response: { 200: PredictResponseSchema, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 413: ErrorBody, 503: ErrorBody },
      },
    },
    async (req) => {
      const model = app.models.ready(req.params.name)
      const calibration = app.calibrations.get(model.name, model.version)
      // No body and no content type: Fastify validates nothing, so refuse it here.
      if ((req.body as unknown) == null) throw badInput('the body is empty: send {"inputs": [...]} as application/json', { field: 'body' })
      if (Buffer.isBuffer(req.body)) {
        const { data, n } = decodeFloat32Body(req.body, model.runner.sampleSize)
        if (n > opts.maxSamples) throw tooMany(n)
        const q = req.query
        return runPredict(model, calibration, data, n, { topK: q.top_k, calibrated: q.calibrated, returnLogits: q.return_logits }, app.infer)
      }
      const { inputs, top_k, calibrated, return_logits } = req.body
      if (inputs.length > opts.maxSamples) throw tooMany(inputs.length)
      const data = decodeJsonSamples(inputs, model.runner.sampleSize)
      return runPredict(model, calibration, data, inputs.length, { topK: top_k, calibrated, returnLogits: return_logits }, app.infer)
    },
  )
}
export default routes
