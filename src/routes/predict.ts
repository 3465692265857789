// POST /v1/models/{name}/predict
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { ErrorBody } from '../errors.js'
import { runPredict } from '../models/inference.js'
import { decodeJsonSamples } from '../models/tensor.js'
import { ModelParams, PredictRequestSchema, PredictResponseSchema } from './schemas.js'

const routes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/models/:name/predict',
    {
      schema: {
        tags: ['inference'],
        summary: 'Classify samples with the active calibration',
        params: ModelParams,
        body: PredictRequestSchema,
        response: { 200: PredictResponseSchema, 400: ErrorBody, 404: ErrorBody, 503: ErrorBody },
      },
    },
    async (req) => {
      const model = app.models.ready(req.params.name)
      const { inputs, top_k, calibrated, return_logits } = req.body
      const data = decodeJsonSamples(inputs, model.runner.sampleSize)
      const calibration = app.calibrations.get(model.name, model.version)
      return runPredict(model, calibration, data, inputs.length, { topK: top_k, calibrated, returnLogits: return_logits }, app.infer)
    },
  )
}
export default routes
