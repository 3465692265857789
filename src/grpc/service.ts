// inference.GRPCInferenceService: the Open Inference Protocol's gRPC front-end, as thin as REST
// v2's (src/http/v2/routes.ts) over the same data plane and output planning. Each method says what
// access it needs (the same tokens and rules as HTTP, from the `authorization` metadata); every
// call is counted and timed in the HTTP request families with protocol="grpc"; a call whose
// deadline passed is not run, and one whose client gave up is not answered.
import { status, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js'
import type { FastifyInstance } from 'fastify'
import { badInput } from '../errors.js'
import { MODEL_NAME } from '../api/names.js'
import type { ServedModel } from '../models/repository.js'
import type { Access } from '../plugins/auth.js'
import { observeRequest } from '../plugins/metrics.js'
import { buildOutputs, modelMetadata, planOutputs, responseParameters, V2_EXTENSIONS } from '../serving/v2-outputs.js'
import { boolParameter, decodeInferInput, doubleParameter, encodeOutputs, int64Parameter, outputRequest, usesRawContents } from './codec.js'
import { callError, toServiceError } from './errors.js'
import { SERVICE_NAME, type ModelInferRequest, type ModelInferResponse, type ModelRef, type RepositoryModelRequest } from './proto.js'

export interface ServiceOptions {
  /** calserve's version, for the server metadata. */
  version: string
  maxSamples: number
  /** True once the server began to shut down: new calls are refused with UNAVAILABLE. */
  closing: () => boolean
}

/** What a handler may tell the wrapper: which model the call was about (a metrics label). */
interface CallContext {
  principal: string | null
  model(name: string): void
}

type Handler<Req, Res> = (request: Req, ctx: CallContext) => Res | Promise<Res>

export function inferenceService(app: FastifyInstance, opts: ServiceOptions): UntypedServiceImplementation {
  function unary<Req, Res>(method: string, access: Access, handler: Handler<Req, Res>) {
    const route = `/${SERVICE_NAME}/${method}`
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      const started = performance.now()
      let model = ''
      const finish = (code: status) =>
        observeRequest(app.metrics, { protocol: 'grpc', route, method: 'POST', model, status: status[code] }, (performance.now() - started) / 1000)
      const deadline = call.getDeadline()
      // grpc-js gives a Date when the client set a deadline, Infinity otherwise.
      const deadlineMs = deadline === Infinity ? Infinity : new Date(deadline).getTime()
      const deadlinePassed = () => Date.now() >= deadlineMs
      const fail = (code: status, details: string) => {
        finish(code)
        callback(callError(code, details))
      }
      const answer = (response: Res) => {
        // The client gave up or its deadline passed while this ran: grpc-js already answered.
        if (call.cancelled || deadlinePassed()) return finish(deadlinePassed() ? status.DEADLINE_EXCEEDED : status.CANCELLED)
        finish(status.OK)
        callback(null, response)
      }
      const refuse = (err: unknown) => {
        const { error, internal } = toServiceError(err)
        if (internal) app.log.error({ err, method: route }, 'gRPC call failed')
        finish(error.code ?? status.INTERNAL)
        callback(error)
      }
      if (opts.closing()) return fail(status.UNAVAILABLE, 'the server is shutting down')
      if (deadlinePassed()) return fail(status.DEADLINE_EXCEEDED, 'the deadline passed before the call ran')
      const ctx: CallContext = {
        principal: null,
        model(name) {
          if (app.models.has(name)) model = name
        },
      }
      // Run synchronously up to the handler's first await (a sync handler answers in this turn);
      // a throw anywhere, before or after it, is the call's error status.
      let result: Res | Promise<Res>
      try {
        const header = call.metadata.get('authorization')[0]
        ctx.principal = app.authorize(access, typeof header === 'string' ? header : undefined)
        result = handler(call.request, ctx)
      } catch (err) {
        return refuse(err)
      }
      if (result instanceof Promise) result.then(answer, refuse)
      else answer(result)
    }
  }

  const version = (v: string) => (v === '' ? undefined : v)

  return {
    ServerLive: unary('ServerLive', 'public', () => ({ live: true })),
    ServerReady: unary('ServerReady', 'public', () => ({ ready: !app.lifecycle.draining && app.models.settled() })),
    ModelReady: unary<ModelRef, { ready: boolean }>('ModelReady', 'read', (req, ctx) => {
      ctx.model(req.name)
      // Unknown model or version: NOT_FOUND as REST's 404; known but not serving: ready false.
      const served = app.models.get(req.name)
      if (served.state !== 'READY') return { ready: false }
      app.plane.model(req.name, version(req.version))
      return { ready: true }
    }),
    ServerMetadata: unary('ServerMetadata', 'read', () => ({ name: 'calserve', version: opts.version, extensions: V2_EXTENSIONS })),
    ModelMetadata: unary<ModelRef, unknown>('ModelMetadata', 'read', (req, ctx) => {
      ctx.model(req.name)
      const model = app.plane.model(req.name, version(req.version))
      const { parameters: _calibration, ...metadata } = modelMetadata(model, app.plane.calibration(model))
      return metadata
    }),
    ModelInfer: unary<ModelInferRequest, ModelInferResponse>('ModelInfer', 'read', async (req, ctx) => {
      ctx.model(req.model_name)
      const model = app.plane.model(req.model_name, version(req.model_version))
      const plan = planOutputs(model, outputRequest(req))
      const { data, n } = decodeInferInput(req, model.runner.io.input, opts.maxSamples)
      const result = await app.plane.classify(model, data, n, { calibrated: plan.calibrated, topK: plan.topK, sets: plan.sets })
      const p = responseParameters(result)
      return {
        model_name: model.name,
        model_version: String(model.version),
        id: req.id,
        parameters: {
          calibrated: boolParameter(p.calibrated),
          calibration_version: int64Parameter(p.calibration_version),
          gamma: doubleParameter(p.gamma),
          temperature: doubleParameter(p.temperature),
        },
        ...encodeOutputs(buildOutputs(result, plan), usesRawContents(req)),
      }
    }),
    RepositoryIndex: unary<{ ready: boolean }, unknown>('RepositoryIndex', 'admin', (req) => ({
      models: app.models
        .list()
        .filter((m) => !req.ready || m.state === 'READY')
        .map(indexEntry),
    })),
    RepositoryModelLoad: unary<RepositoryModelRequest, object>('RepositoryModelLoad', 'admin', async (req, ctx) => {
      await app.directives.issue(modelName(req), 'load', ctx.principal)
      ctx.model(req.model_name)
      return {}
    }),
    RepositoryModelUnload: unary<RepositoryModelRequest, object>('RepositoryModelUnload', 'admin', async (req, ctx) => {
      ctx.model(req.model_name)
      await app.directives.issue(modelName(req), 'unload', ctx.principal)
      return {}
    }),
  }
}

/** A repository call's model name, checked as REST's path parameter is: it names a folder. */
function modelName(req: RepositoryModelRequest): string {
  if (!MODEL_NAME.test(req.model_name)) throw badInput('model_name: a model name holds only letters, digits, ".", "_" and "-"')
  return req.model_name
}

function indexEntry(m: ServedModel) {
  return { name: m.name, version: m.version === null ? '' : String(m.version), state: m.state, reason: m.reason ?? '' }
}
