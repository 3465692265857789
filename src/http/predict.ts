// POST /v1/models/{name}/predict: samples as JSON, or as raw little-endian float32
// (application/octet-stream, options in the query string) to skip JSON number parsing; for a
// model with an image block also images: one PNG/JPEG/WebP body (options in the query string),
// multipart/form-data file parts (options as fields), or JSON {"images": [base64, …]}. Decodes the
// samples, calls the data plane, encodes its classification as API v1's response.
import multipart from '@fastify/multipart'
import { validatorCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { MULTIPART, OCTET_STREAM } from '../api/media-types.js'
import { ModelParams, PredictQuerySchema, PredictRequestSchema, PredictResponseSchema, type PredictResponse } from '../api/v1.js'
import { badInput, CalserveError, ErrorBody } from '../errors.js'
import { checkJsonBudget, maxSampleNumbers, sampleBudget } from '../inputs/json-budget.js'
import { scanJsonSamples, ScannedSamples, type MemberKind } from '../inputs/json-samples.js'
import { readBody } from '../inputs/lines.js'
import { decodeFloat32Body, decodeJsonSamples, MAX_SAMPLE_DEPTH } from '../inputs/tensor.js'
import { base64Image, decodeImages, imagePlanOf, type EncodedImage } from '../inputs/image-batch.js'
import { IMAGE_MEDIA_TYPES } from '../inputs/image.js'
import { labelOf, type Classification } from '../serving/plane.js'
import { fastSerializerCompiler } from './fast-serializer.js'

interface PredictOptions {
  top_k: number
  calibrated: boolean
  return_logits: boolean
  return_sets: boolean
}

/** PredictRequestSchema's options, for the one-pass scan of the common JSON body; defaults as there. */
const SCANNED_OPTIONS: Record<keyof PredictOptions, MemberKind> = {
  top_k: 'positive-integer',
  calibrated: 'boolean',
  return_logits: 'boolean',
  return_sets: 'boolean',
}
/** The options' defaults, as the schemas give them (the query's and the body's are the same). */
const DEFAULT_OPTIONS: PredictOptions = PredictQuerySchema.parse({})

/** What a request for a model that cannot serve may hold before it is refused unparsed. */
const UNSERVED_BUDGET = {
  maxDepth: MAX_SAMPLE_DEPTH + 2,
  maxValues: 65_536,
  because: 'the model cannot serve',
  maxNumbers: 65_536,
  numbersBecause: 'the model cannot serve',
}

const routes: FastifyPluginAsyncZod<{
  /** Binary bodies: float32, images, each multipart part. */
  bodyLimit: number
  /** JSON bodies, parsed on the event loop. */
  jsonBodyLimit: number
  maxSamples: number
  maxJsonNumbers: number
  maxImagePixels: number
}> = async (app, opts) => {
  const tooMany = (n: number) =>
    badInput(`${n} samples in one request; at most ${opts.maxSamples} (CALSERVE_MAX_PREDICT_SAMPLES)`, { field: 'inputs', max: opts.maxSamples })
  const limits = { maxPixels: opts.maxImagePixels }
  app.addContentTypeParser(OCTET_STREAM, { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (_req, body, done) => done(null, body))
  app.addContentTypeParser([...IMAGE_MEDIA_TYPES], { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (_req, body, done) => done(null, body))
  // multipart/form-data: @fastify/multipart, registered here so that only predict and fit take it;
  // the handler reads the parts.
  await app.register(multipart, { limits: { fileSize: opts.bodyLimit, files: opts.maxSamples, fields: 32, parts: opts.maxSamples + 32 } })
  // JSON has a byte limit of its own, below the binary one: JSON.parse, the schema and the decoder
  // hold the event loop in proportion to the body, float32 costs a copy. As Triton and KServe
  // advise, large batches go binary. Then JSON is scanned before it is parsed: a body deeper or
  // larger than any request the model accepts (CALSERVE_MAX_PREDICT_SAMPLES samples of its size,
  // CALSERVE_MAX_JSON_NUMBERS numbers) is refused before JSON.parse, the schema and the decoder
  // spend event-loop time on it (src/inputs/json-budget.ts). Envelope: {inputs: [sample]}.
  const defaultJson = app.getDefaultJsonParser('error', 'error')
  const modelOrNull = (name: string) => {
    try {
      return app.plane.model(name)
    } catch {
      return null
    }
  }
  const jsonTooLarge = () =>
    new CalserveError(
      'PAYLOAD_TOO_LARGE',
      `the JSON body is larger than ${opts.jsonBodyLimit} bytes (CALSERVE_PREDICT_JSON_BODY_LIMIT_BYTES); send large batches as ${OCTET_STREAM} float32, up to ${opts.bodyLimit} bytes (CALSERVE_PREDICT_BODY_LIMIT_BYTES)`,
      { field: 'body', limit: opts.jsonBodyLimit },
    )
  const sampleLimits = { maxSamples: opts.maxSamples, maxJsonNumbers: opts.maxJsonNumbers }
  // Read here, not by Fastify: the route's bodyLimit (the binary one) would override a parser's.
  app.addContentTypeParser('application/json', (req, payload, done) => {
    readBody(payload, req.headers['content-length'], opts.jsonBodyLimit, jsonTooLarge).then(
      (body) => {
        try {
          // A model that can't serve gets a small budget: its request fails anyway (400 on its name,
          // 404, 503), and only after the body was parsed and the params validated, in that order.
          const model = modelOrNull((req.params as { name: string }).name)
          // The common body, {"inputs": [[…], …]} and options, decodes in one pass (the schema then
          // passes it through, below); any other goes through the budget, JSON.parse and the schema.
          if (model) {
            const size = model.runner.sampleSize
            const scanned = scanJsonSamples(body, 'inputs', size, maxSampleNumbers(sampleLimits, size), SCANNED_OPTIONS)
            if (scanned) {
              done(null, scanned)
              return
            }
          }
          checkJsonBudget(body, model ? sampleBudget(sampleLimits, model.runner.sampleSize, MAX_SAMPLE_DEPTH, 2) : UNSERVED_BUDGET)
        } catch (err) {
          done(err as Error, undefined)
          return
        }
        void defaultJson(req, body.toString('utf8'), done)
      },
      (err: Error) => done(err, undefined),
    )
  })

  app.post(
    '/v1/models/:name/predict',
    {
      bodyLimit: opts.bodyLimit,
      serializerCompiler: fastSerializerCompiler,
      // A body the one-pass scan decoded holds only what the schema accepts.
      validatorCompiler: (route) => {
        const validate = validatorCompiler(route as unknown as Parameters<typeof validatorCompiler>[0])
        return route.httpPart === 'body' ? (data: unknown) => (data instanceof ScannedSamples ? { value: data } : validate(data)) : validate
      },
      schema: {
        tags: ['inference'],
        summary: 'Classify samples with the active calibration',
        description: `JSON: {inputs, top_k, calibrated, return_logits, return_sets}, at most CALSERVE_PREDICT_JSON_BODY_LIMIT_BYTES (4 MiB) and CALSERVE_MAX_JSON_NUMBERS numbers. return_sets adds each sample's conformal prediction_set; 400 when the active calibration has none, or with calibrated false. ${OCTET_STREAM}: the samples as raw little-endian float32, back to back (shape from the model, count from the length), at most CALSERVE_PREDICT_BODY_LIMIT_BYTES (16 MiB): the way to send large batches; options in the query string.`,
        params: ModelParams,
        querystring: PredictQuerySchema,
        body: {
          content: {
            'application/json': { schema: PredictRequestSchema },
            [OCTET_STREAM]: {
              schema: z.any().describe('n × prod(input.shape) float32, little-endian'),
            },
            ...Object.fromEntries(
              IMAGE_MEDIA_TYPES.map((t) => [
                t,
                {
                  schema: z.any().describe('one image, for a model with an image block'),
                },
              ]),
            ),
            [MULTIPART]: {
              schema: z.any().describe('one or more image file parts; top_k, calibrated, return_logits, return_sets as fields'),
            },
          },
        } as unknown as typeof PredictRequestSchema,
        response: {
          200: PredictResponseSchema,
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          413: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (req) => {
      const model = app.plane.model(req.params.name)
      let data: Float32Array
      let n: number
      let options: PredictOptions
      const type = mediaType(req.headers['content-type'])
      if (type === MULTIPART) {
        imagePlanOf(model)
        const images: EncodedImage[] = []
        const fields: Record<string, string> = {}
        for await (const part of req.parts()) {
          if (part.type === 'file') {
            if (images.length >= opts.maxSamples) throw tooMany(images.length + 1)
            images.push({
              bytes: await part.toBuffer(),
              where: `part '${part.fieldname}'${part.filename ? ` (${part.filename})` : ''}`,
            })
          } else fields[part.fieldname] = String(part.value)
        }
        const parsed = PredictQuerySchema.safeParse(fields)
        if (!parsed.success)
          throw badInput(`multipart fields: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'fields'}: ${i.message}`).join('; ')}`, { field: 'body' })
        ;({ data, n } = await decodeImages(model, images, limits))
        options = parsed.data
        return classify(model, data, n, options)
      }
      // No body and no content type: Fastify validates nothing, so refuse it here.
      if ((req.body as unknown) == null) throw badInput('the body is empty: send {"inputs": [...]} as application/json', { field: 'body' })
      const body: unknown = req.body
      if (body instanceof ScannedSamples) {
        ;({ data, n } = body)
        options = { ...DEFAULT_OPTIONS, ...body.members }
      } else if (Buffer.isBuffer(req.body) && (IMAGE_MEDIA_TYPES as readonly string[]).includes(type)) {
        ;({ data, n } = await decodeImages(model, [{ bytes: req.body, where: 'the image (body)' }], limits))
        options = req.query
      } else if (Buffer.isBuffer(req.body)) {
        ;({ data, n } = decodeFloat32Body(req.body, model.runner.sampleSize))
        if (n > opts.maxSamples) throw tooMany(n)
        options = req.query
      } else if (req.body.images !== undefined) {
        const { images, inputs: _none, ...rest } = req.body
        if (images.length > opts.maxSamples) throw tooMany(images.length)
        imagePlanOf(model)
        ;({ data, n } = await decodeImages(
          model,
          images.map((s, i) => base64Image(s, `images[${i}]`)),
          limits,
        ))
        options = rest
      } else {
        const { inputs = [], images: _none, ...rest } = req.body
        if (inputs.length > opts.maxSamples) throw tooMany(inputs.length)
        data = decodeJsonSamples(inputs, model.runner.sampleSize)
        n = inputs.length
        options = rest
      }
      return classify(model, data, n, options)
    },
  )

  const classify = async (model: ReturnType<typeof app.plane.model>, data: Float32Array, n: number, options: PredictOptions) => {
    const classes = model.manifest.labels.length
    if (options.top_k > classes) throw badInput(`top_k is ${options.top_k} but the model has ${classes} classes`, { field: 'top_k', max: classes })
    const result = await app.plane.classify(model, data, n, {
      calibrated: options.calibrated,
      topK: options.top_k,
      sets: options.return_sets,
    })
    return encodePredict(result, options.return_logits)
  }
}

const mediaType = (contentType: string | undefined) => (contentType ?? '').split(';')[0]!.trim().toLowerCase()
export default routes

/** A classification as API v1's predict response. */
export function encodePredict(result: Classification, returnLogits: boolean): PredictResponse {
  const { model, calibration, raw, c } = result
  const labels = model.manifest.labels
  return {
    model: model.name,
    model_version: model.version,
    calibration: {
      applied: result.calibrated,
      version: calibration.version,
      gamma: calibration.gamma,
      temperature: calibration.temperature,
      ...(result.sets && calibration.conformal ? { conformal: calibration.conformal } : {}),
    },
    predictions: result.predictions.map((row, i) => ({
      label: labelOf(labels, row.index),
      index: row.index,
      score: row.score,
      absent: model.absent[row.index] === 1,
      top_k: row.top_k.map((t) => ({
        label: labelOf(labels, t.index),
        index: t.index,
        score: t.score,
      })),
      ...(result.sets ? { prediction_set: result.sets[i]!.map((e) => ({ label: labelOf(labels, e.index), index: e.index, score: e.score })) } : {}),
      ...(returnLogits ? { logits: Array.from(raw.subarray(i * c, (i + 1) * c)) } : {}),
    })),
  }
}
