// GET /v1/models/{name}/calibration/curve: the seen–absent curve of the last fit of the served model
// version as JSON (the dashboard draws it and reads metrics at any γ from it). The same stored curve
// as curve.svg; 404 CALSERVE_NOT_FOUND until the model version has been fitted.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { CalserveError, ErrorBody } from '../errors.js'
import { CalibrationCurveSchema, ModelParams } from '../api/v1.js'

const routes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/models/:name/calibration/curve',
    {
      schema: {
        tags: ['calibration'],
        summary: 'The seen–absent curve of the last fit, as JSON',
        description:
          'Acc_S/Y, Acc_U/Y and Acc_Y/Y of the set of the newest fit (sweep or alg) of the served model version, one point per interval between breakpoints of γ. 404 when the model version has not been fitted.',
        params: ModelParams,
        response: { 200: CalibrationCurveSchema, 404: ErrorBody, 503: ErrorBody },
      },
    },
    async (req) => {
      const model = app.models.ready(req.params.name)
      const curve = await app.store.lastCurve(model.name, model.version)
      if (!curve)
        throw new CalserveError('NOT_FOUND', `model '${model.name}' version ${model.version} has not been fitted yet`, { model: model.name })
      return {
        model: model.name,
        model_version: model.version,
        version: curve.version,
        ausuc: curve.ausuc,
        points: curve.points,
        marks: curve.marks,
      }
    },
  )
}
export default routes
