// The Open Inference Protocol (KServe v2 REST), registered under the /v2 prefix: health, server and
// model metadata, model readiness and inference, with Triton's binary tensor data and
// classification extensions. Inference goes through the same batcher and calibration as v1 predict
// (the data plane, with the outputs of src/serving/v2-outputs.ts that gRPC shares); every error answers the protocol's {"error": "message"}.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { validatorCompiler } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { OCTET_STREAM } from '../../api/media-types.js'
import type { ReadyModel } from '../../models/repository.js'
import { fastSerializerCompiler } from '../fast-serializer.js'
import { checkJsonBudget, maxSampleNumbers, sampleBudget } from '../../inputs/json-budget.js'
import { readBody } from '../../inputs/lines.js'
import { CalserveError } from '../../errors.js'
import { MAX_SAMPLE_DEPTH } from '../../inputs/tensor.js'
import { decodeInput, encodeResponse, parseInferRequest, type ParsedRequest } from './codec.js'
import { scanInferRequest } from '../../inputs/json-samples.js'
import { bytesElements, decodeImages } from '../../inputs/image-batch.js'
import { v2Error, v2ErrorHandler } from './errors.js'
import { buildOutputs, modelMetadata, planOutputs, responseParameters, V2_EXTENSIONS } from '../../serving/v2-outputs.js'
import { V2Error, V2InferenceRequest, V2InferenceResponse, V2ModelMetadata, V2ModelParams, V2ServerMetadata, V2VersionParams } from '../../api/v2.js'

const TAGS = ['open inference protocol']

const errors = { 400: V2Error, 401: V2Error, 403: V2Error, 404: V2Error, 503: V2Error }
const EmptyBody = z.void().describe('an empty body: the status code is the answer')

export interface V2Options {
  /** calserve's version, for the server metadata. */
  version: string
  /** The whole body of a request with binary tensor data. */
  bodyLimit: number
  /** A JSON request, or the JSON part of one with binary tensor data: parsed on the event loop. */
  jsonBodyLimit: number
  maxSamples: number
  maxJsonNumbers: number
  /** CALSERVE_MAX_IMAGE_PIXELS, for BYTES inputs of encoded images. */
  maxImagePixels: number
}

const routes: FastifyPluginAsyncZod<V2Options> = async (app, opts) => {
  // Errors of these routes (and of the hooks before them: auth, rate limit) answer {"error": "…"}.
  // A URL no route matches keeps calserve's own 404 body (test/http/bad-input.test.ts).
  app.setErrorHandler(v2ErrorHandler)
  // Every body reaches the handler as bytes: a JSON request, or a JSON header followed by binary
  // tensor data, whatever the content type says. The handler parses it (codec.ts), so the
  // body schema below documents the request and is not run by Fastify a second time.
  // Only the protocol's two types: text/plain, forms and a body with no type are what a page on
  // another site can make a browser send without a preflight (issue 18 item 12); anything else is
  // 415 naming the accepted types.
  // The JSON (the whole body, or the Inference-Header-Content-Length bytes before the binary data)
  // has a byte limit of its own below the binary one: JSON.parse holds the event loop in proportion
  // to it, binary tensor data costs a copy; as Triton and KServe advise, large tensors go binary.
  // Read here, not by Fastify: the route's bodyLimit would override a parser's.
  app.removeAllContentTypeParsers()
  const jsonTooLarge = () =>
    new CalserveError(
      'PAYLOAD_TOO_LARGE',
      `the JSON is larger than ${opts.jsonBodyLimit} bytes (CALSERVE_PREDICT_JSON_BODY_LIMIT_BYTES); send large tensors as binary tensor data (parameters.binary_data_size, the Inference-Header-Content-Length header, ${OCTET_STREAM}), up to ${opts.bodyLimit} bytes (CALSERVE_PREDICT_BODY_LIMIT_BYTES)`,
      { limit: opts.jsonBodyLimit },
    )
  const bodyTooLarge = () =>
    new CalserveError('PAYLOAD_TOO_LARGE', `the body is larger than ${opts.bodyLimit} bytes (CALSERVE_PREDICT_BODY_LIMIT_BYTES)`, { limit: opts.bodyLimit })
  app.addContentTypeParser(['application/json', OCTET_STREAM], (req, payload, done) => {
    const header = jsonHeaderLength(req)
    // A header that is not a byte count is refused by the codec, once the body (at most the binary limit) is in.
    const json = header === undefined ? undefined : /^\d+$/.test(header) ? Number(header) : NaN
    if (json !== undefined && json > opts.jsonBodyLimit) return done(jsonTooLarge(), undefined)
    const [limit, refuse] = json === undefined ? [opts.jsonBodyLimit, jsonTooLarge] : [opts.bodyLimit, bodyTooLarge]
    readBody(payload, req.headers['content-length'], limit, refuse).then(
      (body) => done(null, body),
      (err: Error) => done(err, undefined),
    )
  })
  app.setValidatorCompiler((route) =>
    route.httpPart === 'body' ? (data: unknown) => ({ value: data }) : validatorCompiler(route as Parameters<typeof validatorCompiler>[0]),
  )
  const defaultJson = app.getDefaultJsonParser('error', 'error') as unknown as (
    req: unknown,
    body: string,
    done: (err: Error | null, value?: unknown) => void,
  ) => void
  const parseJson = (text: string): unknown => {
    let value: unknown
    let failure: Error | null = null
    defaultJson(null, text, (err, v) => {
      failure = err
      value = v
    })
    if (failure) throw failure as Error
    return value
  }

  app.get('/', { schema: { tags: TAGS, summary: 'Server metadata', response: { 200: V2ServerMetadata, ...errors } } }, async () => ({
    name: 'calserve',
    version: opts.version,
    extensions: V2_EXTENSIONS,
  }))

  app.get(
    '/health/live',
    { config: { access: 'public' }, schema: { tags: TAGS, summary: 'The server is live', response: { 200: EmptyBody } } },
    async (_req, reply) => reply.code(200).send(),
  )

  app.get(
    '/health/ready',
    {
      config: { access: 'public' },
      schema: {
        tags: TAGS,
        summary: 'The server is ready: every model finished loading (READY or FAILED), as /health/ready',
        response: { 200: EmptyBody, 503: V2Error },
      },
    },
    async (_req, reply) => {
      if (app.lifecycle.draining) return reply.code(503).send(v2Error('the server is shutting down'))
      if (!app.models.settled()) return reply.code(503).send(v2Error('the models are still loading'))
      return reply.code(200).send()
    },
  )

  const metadata = (model: ReadyModel): V2ModelMetadata => modelMetadata(model, app.plane.calibration(model))

  const infer = async (req: FastifyRequest<{ Params: { name: string; version?: string } }>, reply: FastifyReply) => {
    const model = app.plane.model(req.params.name, req.params.version)
    const headerLength = jsonHeaderLength(req)
    // The JSON part is scanned before it is parsed (src/inputs/json-budget.ts): nothing deeper or
    // larger than a request of maxSamples samples is handed to JSON.parse. Envelope:
    // {inputs: [{data: sample…}]}, one level more for parameters.
    const body = req.body as Buffer | undefined
    const size = model.runner.sampleSize
    // The common all-JSON request (one FP32 input, outputs by name) is decoded in one pass
    // (src/inputs/json-samples.ts); its data then goes through decodeTensor as the binary data it
    // now is, with the same checks. Any other request is scanned and parsed as below.
    const scanned = body && headerLength === undefined ? scanInferRequest(body, maxSampleNumbers(opts, size)) : null
    if (body && !scanned) {
      const jsonEnd = headerLength !== undefined && /^\d+$/.test(headerLength) ? Math.min(Number(headerLength), body.byteLength) : body.byteLength
      checkJsonBudget(body, sampleBudget(opts, size, MAX_SAMPLE_DEPTH, 4), 0, jsonEnd)
    }
    const parsed: ParsedRequest = scanned
      ? { request: scanned.request, binary: [Buffer.from(scanned.data.buffer, scanned.data.byteOffset, scanned.data.byteLength)] }
      : parseInferRequest(body, headerLength, parseJson)
    const { request } = parsed
    const plan = planOutputs(model, request)
    const first = request.inputs[0]
    const { data, n } =
      first?.datatype === 'BYTES' && model.image && request.inputs.length === 1 && first.name === model.runner.io.input.name
        ? await decodeImages(model, bytesElements({ ...first, bytes: parsed.binary[0] ?? null }, opts.maxSamples), { maxPixels: opts.maxImagePixels })
        : decodeInput(parsed, model.runner.io.input, opts.maxSamples)
    const result = await app.plane.classify(model, data, n, { calibrated: plan.calibrated, topK: plan.topK, sets: plan.sets })
    const head = {
      model_name: model.name,
      model_version: String(model.version),
      ...(request.id !== undefined ? { id: request.id } : {}),
      parameters: responseParameters(result),
    }
    const encoded = encodeResponse(head, buildOutputs(result, plan))
    if (encoded.kind === 'json') return reply.type('application/json').send(encoded.body)
    return reply.header('inference-header-content-length', String(encoded.headerLength)).type(OCTET_STREAM).send(encoded.body)
  }

  const inferSchema = (which: string, params: typeof V2ModelParams | typeof V2VersionParams) => ({
    bodyLimit: opts.bodyLimit,
    serializerCompiler: fastSerializerCompiler,
    schema: {
      tags: TAGS,
      summary: `Inference with ${which}`,
      description:
        'The logits output comes back calibrated (γ added to the absent classes) unless parameters.calibrated is false; label, score and class_index are the calibrated prediction. ' +
        'Binary tensor data: an Inference-Header-Content-Length header gives the JSON length, inputs carry parameters.binary_data_size and their bytes follow the JSON, little-endian; ' +
        'outputs asked with binary_data (or the request’s binary_data_output) come back the same way, with the header. ' +
        'The JSON is at most CALSERVE_PREDICT_JSON_BODY_LIMIT_BYTES (4 MiB) and CALSERVE_MAX_JSON_NUMBERS numbers; large tensors go as binary tensor data, the whole body up to CALSERVE_PREDICT_BODY_LIMIT_BYTES (16 MiB).',
      params,
      body: {
        content: {
          'application/json': { schema: V2InferenceRequest },
          [OCTET_STREAM]: { schema: z.any().describe('the JSON request (Inference-Header-Content-Length bytes), then the binary tensor data') },
        },
      } as unknown as typeof V2InferenceRequest,
      response: {
        200: {
          content: {
            'application/json': { schema: V2InferenceResponse },
            [OCTET_STREAM]: { schema: z.any().describe('the JSON response (Inference-Header-Content-Length bytes), then the binary outputs') },
          },
        },
        ...errors,
        413: V2Error,
        429: V2Error,
      },
    },
  })

  // Each route twice, as the protocol has them: the model's served version, and a version by number.
  app.get(
    '/models/:name',
    { schema: { tags: TAGS, summary: 'Metadata of a model', params: V2ModelParams, response: { 200: V2ModelMetadata, ...errors } } },
    async (req) => metadata(app.plane.model(req.params.name)),
  )
  app.get(
    '/models/:name/versions/:version',
    { schema: { tags: TAGS, summary: 'Metadata of this version of a model', params: V2VersionParams, response: { 200: V2ModelMetadata, ...errors } } },
    async (req) => metadata(app.plane.model(req.params.name, req.params.version)),
  )
  app.get(
    '/models/:name/ready',
    { schema: { tags: TAGS, summary: 'Whether a model is ready', params: V2ModelParams, response: { 200: EmptyBody, ...errors } } },
    async (req, reply) => {
      app.plane.model(req.params.name)
      return reply.code(200).send()
    },
  )
  app.get(
    '/models/:name/versions/:version/ready',
    { schema: { tags: TAGS, summary: 'Whether this version of a model is ready', params: V2VersionParams, response: { 200: EmptyBody, ...errors } } },
    async (req, reply) => {
      app.plane.model(req.params.name, req.params.version)
      return reply.code(200).send()
    },
  )
  app.post('/models/:name/infer', inferSchema('a model', V2ModelParams), infer)
  app.post('/models/:name/versions/:version/infer', inferSchema('this version of a model', V2VersionParams), infer)
}
/** The Inference-Header-Content-Length header, trimmed: the JSON's length in a request with binary tensor data. */
function jsonHeaderLength(req: FastifyRequest): string | undefined {
  const header = req.headers['inference-header-content-length']
  return (Array.isArray(header) ? header[0] : header)?.trim()
}

export default routes
