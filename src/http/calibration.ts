// The calibration of a model's served version: read it, set it by hand, list its history, roll
// it back. Writes go to the store, which appends a version in one transaction; the in-memory copy
// is updated from the record the store returns, so the answer and the next predict agree.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { CalserveError, ErrorBody } from '../errors.js'
import type { ReadyModel } from '../models/repository.js'
import { activate } from '../serving/activate.js'
import { CalibrationRecordSchema, HistoryQuerySchema, HistorySchema, ModelParams, RollbackSchema, SetCalibrationSchema } from '../api/v1.js'

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody }

const routes: FastifyPluginAsyncZod = async (app) => {
  const served = (name: string): ReadyModel => app.plane.model(name)

  app.get(
    '/v1/models/:name/calibration',
    {
      schema: {
        tags: ['calibration'],
        summary: 'The active calibration of the served model version',
        params: ModelParams,
        response: { 200: CalibrationRecordSchema, ...errors },
      },
    },
    async (req) => {
      const model = served(req.params.name)
      return app.plane.calibration(model)
    },
  )

  app.put(
    '/v1/models/:name/calibration',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['calibration'],
        summary: 'Set γ (and temperature) by hand as the next version',
        params: ModelParams,
        body: SetCalibrationSchema,
        response: { 200: CalibrationRecordSchema, ...errors },
      },
    },
    async (req) => {
      const model = served(req.params.name)
      const { gamma, temperature, expected_version, note } = req.body
      return activate(
        app,
        { model: model.name, model_version: model.version, gamma, temperature, method: 'manual', note: note ?? null, created_by: req.principal },
        expected_version,
      )
    },
  )

  app.get(
    '/v1/models/:name/calibration/history',
    {
      schema: {
        tags: ['calibration'],
        summary: 'The stored calibration versions of the served model version, newest first, one page at a time',
        description:
          'At most `limit` versions per answer; `next` is the cursor (a version) to pass as `before` for the older ones, null on the last page. A cursor by version stays put while new versions are appended.',
        params: ModelParams,
        querystring: HistoryQuerySchema,
        response: { 200: HistorySchema, ...errors },
      },
    },
    async (req) => {
      const model = served(req.params.name)
      const { limit, before } = req.query
      // One more than asked: whether it comes back says if there is an older page.
      const rows = await app.store.history(model.name, model.version, { limit: limit + 1, ...(before === undefined ? {} : { before }) })
      const versions = rows.slice(0, limit)
      return { versions, next: rows.length > limit ? versions[versions.length - 1]!.version : null }
    },
  )

  app.post(
    '/v1/models/:name/calibration/rollback',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['calibration'],
        summary: 'Make a stored version active again',
        description:
          'Appends a new version (method "rollback", source_version = the restored version) carrying the restored γ and temperature, so version numbers only grow and the history shows the rollback.',
        params: ModelParams,
        body: RollbackSchema,
        response: { 200: CalibrationRecordSchema, ...errors },
      },
    },
    async (req) => {
      const model = served(req.params.name)
      const { version, expected_version, note } = req.body
      const source = await app.store.get(model.name, model.version, version)
      if (!source)
        throw new CalserveError('VERSION_NOT_FOUND', `calibration version ${version} of model '${model.name}' does not exist`, {
          field: 'version',
          version,
        })
      return activate(
        app,
        {
          model: model.name,
          model_version: model.version,
          gamma: source.gamma,
          temperature: source.temperature,
          method: 'rollback',
          objective: source.objective,
          source_version: source.version,
          n_samples: source.n_samples,
          digest: source.digest,
          metrics: source.metrics,
          alg_samples: source.alg_samples,
          conformal: source.conformal,
          reference: source.reference,
          note: note ?? null,
          created_by: req.principal,
        },
        expected_version,
      )
    },
  )
}
export default routes
