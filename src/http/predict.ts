// POST /v1/models/{name}/predict: samples as JSON, or as raw little-endian float32
// (application/octet-stream, options in the query string) to skip JSON number parsing. Decodes the
// samples, calls the data plane, encodes its classification as API v1's response.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { OCTET_STREAM } from '../api/media-types.js'
import { ModelParams, PredictQuerySchema, PredictRequestSchema, PredictResponseSchema, type PredictResponse } from '../api/v1.js'
import { badInput, ErrorBody } from '../errors.js'
import { checkJsonBudget, sampleBudget } from '../inputs/json-budget.js'
import { decodeFloat32Body, decodeJsonSamples, MAX_SAMPLE_DEPTH } from '../inputs/tensor.js'
import type { Classification } from '../serving/plane.js'
import { fastSerializerCompiler } from './fast-serializer.js'

interface PredictOptions {
  top_k: number
  calibrated: boolean
  return_logits: boolean
}

/** What a request for a model that cannot serve may hold before it is refused unparsed. */
const UNSERVED_BUDGET = { maxDepth: MAX_SAMPLE_DEPTH + 2, maxValues: 65_536, because: 'the model cannot serve' }

const routes: FastifyPluginAsyncZod<{ bodyLimit: number; maxSamples: number }> = async (app, opts) => {
  const tooMany = (n: number) =>
    badInput(`${n} samples in one request; at most ${opts.maxSamples} (CALSERVE_MAX_PREDICT_SAMPLES)`, { field: 'inputs', max: opts.maxSamples })
  app.addContentTypeParser(OCTET_STREAM, { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (_req, body, done) => done(null, body))
  // JSON is scanned before it is parsed: a body deeper or larger than any request the model accepts
  // (CALSERVE_MAX_PREDICT_SAMPLES samples of its size) is refused before JSON.parse, the schema and
  // the decoder spend event-loop time on it (src/inputs/json-budget.ts). Envelope: {inputs: [sample]}.
  const defaultJson = app.getDefaultJsonParser('error', 'error')
  const modelOrNull = (name: string) => {
    try {
      return app.plane.model(name)
    } catch {
      return null
    }
  }
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (req, body: Buffer, done) => {
    try {
      // A model that can't serve gets a small budget: its request fails anyway (400 on its name,
      // 404, 503), and only after the body was parsed and the params validated, in that order.
      const model = modelOrNull((req.params as { name: string }).name)
      checkJsonBudget(body, model ? sampleBudget(opts.maxSamples, model.runner.sampleSize, MAX_SAMPLE_DEPTH, 2) : UNSERVED_BUDGET)
    } catch (err) {
      done(err as Error, undefined)
      return
    }
    defaultJson(req, body.toString('utf8'), done)
  })

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
      const model = app.plane.model(req.params.name)
      // No body and no content type: Fastify validates nothing, so refuse it here.
      if ((req.body as unknown) == null) throw badInput('the body is empty: send {"inputs": [...]} as application/json', { field: 'body' })
      let data: Float32Array
      let n: number
      let options: PredictOptions
      if (Buffer.isBuffer(req.body)) {
        ;({ data, n } = decodeFloat32Body(req.body, model.runner.sampleSize))
        if (n > opts.maxSamples) throw tooMany(n)
        options = req.query
      } else {
        const { inputs, ...rest } = req.body
        if (inputs.length > opts.maxSamples) throw tooMany(inputs.length)
        data = decodeJsonSamples(inputs, model.runner.sampleSize)
        n = inputs.length
        options = rest
      }
      const classes = model.manifest.labels.length
      if (options.top_k > classes)
        throw badInput(`top_k is ${options.top_k} but the model has ${classes} classes`, { field: 'top_k', max: classes })
      const result = await app.plane.classify(model, data, n, { calibrated: options.calibrated, topK: options.top_k })
      return encodePredict(result, options.return_logits)
    },
  )
}
export default routes

/** A classification as API v1's predict response. */
export function encodePredict(result: Classification, returnLogits: boolean): PredictResponse {
  const { model, calibration, raw, c } = result
  const labels = model.manifest.labels
  const label = (index: number) => labels[index] ?? String(index)
  return {
    model: model.name,
    model_version: model.version,
    calibration: { applied: result.calibrated, version: calibration.version, gamma: calibration.gamma, temperature: calibration.temperature },
    predictions: result.predictions.map((row, i) => ({
      label: label(row.index),
      index: row.index,
      score: row.score,
      absent: model.absent[row.index] === 1,
      top_k: row.top_k.map((t) => ({ label: label(t.index), index: t.index, score: t.score })),
      ...(returnLogits ? { logits: Array.from(raw.subarray(i * c, (i + 1) * c)) } : {}),
    })),
  }
}
