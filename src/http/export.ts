// GET /v1/models/{name}/calibration/export.onnx: the served model's ONNX with the active calibration
// (or a stored version, ?version=N) appended to its logits output, for runtimes that serve ONNX
// themselves (Triton, ONNX Runtime in an app, a browser). A read: the same access as the other
// calibration GETs.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { ExportQuerySchema, ModelParams } from '../api/v1.js'
import { OCTET_STREAM } from '../api/media-types.js'
import { CalserveError, ErrorBody } from '../errors.js'
import { exportCalibrated } from '../serving/export.js'
import { identityCalibration } from '../store/active.js'
import type { CalibrationRecord } from '../store/types.js'

const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } })

const routes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/models/:name/calibration/export.onnx',
    {
      schema: {
        tags: ['calibration'],
        summary: 'The served ONNX model with its calibration baked in',
        description:
          'The model.onnx of the served version with one Add of the constant γ·1[absent] to its logits output and, when the temperature T ≠ 1, one Div by T; the output keeps its name, so it then carries (logits + γ·1[absent]) / T. ' +
          'metadata_props record calserve.model, calserve.model_version, calserve.calibration_version, calserve.calibration_method, calserve.gamma, calserve.temperature, calserve.output, calserve.fine_tuning_classes and calserve.absent_classes (JSON arrays of labels), and calserve.conformal (JSON) when the version has a conformal calibration. ' +
          'Content-Disposition names the file `<model>-v<model_version>-cal<version>.onnx`. 409 CALSERVE_NOT_EXPORTABLE for a graph the rewrite cannot take (its logits output not produced by a node, opset < 7).',
        params: ModelParams,
        querystring: ExportQuerySchema,
        response: {
          200: {
            description: 'the calibrated ONNX model',
            content: { [OCTET_STREAM]: { schema: z.string().meta({ format: 'binary' }) } },
          },
          400: json(ErrorBody, 'a bad query string'),
          401: json(ErrorBody, 'no token where one is needed'),
          403: json(ErrorBody, 'a token that is not accepted'),
          404: json(ErrorBody, 'no such model, or no such calibration version'),
          409: json(ErrorBody, 'the graph cannot take the calibration'),
          503: json(ErrorBody, 'the model is not ready'),
        },
      },
    },
    async (req, reply) => {
      const model = app.plane.model(req.params.name)
      const { version } = req.query
      const active = app.plane.calibration(model)
      let calibration: CalibrationRecord | null = active
      if (version !== undefined && version !== active.version)
        calibration = version === 0 ? identityCalibration(model.name, model.version) : await app.store.get(model.name, model.version, version)
      if (!calibration)
        throw new CalserveError('VERSION_NOT_FOUND', `calibration version ${version} of model '${model.name}' version ${model.version} does not exist`, {
          field: 'version',
          version,
        })
      const { bytes, filename } = await exportCalibrated(model, calibration)
      reply.type(OCTET_STREAM)
      reply.header('content-disposition', `attachment; filename="${filename}"`)
      reply.header('x-calserve-calibration-version', String(calibration.version))
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    },
  )
}
export default routes
