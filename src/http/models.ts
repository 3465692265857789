// GET /v1/models and GET /v1/models/{name}: what is served, in what state, with which calibration.
import type { FastifyInstance } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { ErrorBody } from '../errors.js'
import type { ServedModel } from '../models/repository.js'
import { ModelInfoSchema, ModelParams } from '../api/v1.js'

export function modelInfo(app: FastifyInstance, m: ServedModel): z.infer<typeof ModelInfoSchema> {
  const labels = m.manifest?.labels ?? []
  return {
    name: m.name,
    version: m.version,
    state: m.state,
    ...(m.reason ? { reason: m.reason } : {}),
    labels,
    fine_tuning_classes: m.manifest?.fine_tuning_classes ?? [],
    absent_classes: labels.filter((_, i) => m.absent[i] === 1),
    input: m.runner ? m.runner.io.input : (m.manifest?.input ?? null),
    output: m.runner ? { name: m.runner.io.output.name, width: m.runner.outputWidth } : null,
    execution_provider: m.provider,
    execution_provider_fallback: m.fallback,
    description: m.manifest?.description ?? null,
    image: m.image ? { source: m.image.source, preprocessing: m.image.block, color: m.image.color, layout: m.image.layout } : null,
    calibration: m.state === 'READY' && m.version !== null ? app.calibrations.get(m.name, m.version) : null,
  }
}

const routes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/models',
    {
      schema: {
        tags: ['models'],
        summary: 'List the models in the repository',
        response: { 200: z.object({ models: z.array(ModelInfoSchema) }) },
      },
    },
    async () => ({ models: app.models.list().map((m) => modelInfo(app, m)) }),
  )

  app.get(
    '/v1/models/:name',
    {
      schema: {
        tags: ['models'],
        summary: 'Describe one model',
        params: ModelParams,
        response: { 200: ModelInfoSchema, 404: ErrorBody },
      },
    },
    async (req) => modelInfo(app, app.models.get(req.params.name)),
  )
}
export default routes
