// buildApp(config) -> Fastify: external plugins, then calserve's decorators, then routes.
// main.ts listens and handles signals; tests call buildApp through test/helper.ts.
import swagger from '@fastify/swagger'
import rateLimit from '@fastify/rate-limit'
import swaggerUi from '@fastify/swagger-ui'
import underPressure from '@fastify/under-pressure'
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import type { Config } from './config.js'
import { CalserveError, errorBody } from './errors.js'
import { errorHandler } from './http/error-handler.js'
import { closeUnreadBodies } from './http/linger.js'
import { redactQuery } from './http/redact.js'
import { transform, transformObject } from './http/openapi-transform.js'
import authPlugin from './plugins/auth.js'
import metricsPlugin from './plugins/metrics.js'
import modelsPlugin from './plugins/models.js'
import jobsPlugin from './plugins/jobs.js'
import planePlugin from './plugins/plane.js'
import storePlugin from './plugins/store.js'
import calibrationRoutes from './http/calibration.js'
import curveRoutes from './http/curve.js'
import exportRoutes from './http/export.js'
import healthRoutes from './http/health.js'
import modelRoutes from './http/models.js'
import fitRoutes from './http/fit.js'
import predictRoutes from './http/predict.js'
import repositoryRoutes from './http/v2/repository.js'
import uiRoutes from './http/ui.js'
import v2Routes from './http/v2/routes.js'

export const API_VERSION = '0.1.0'

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: { draining: boolean }
    /** Every route as registered, with the access it asks for and its own body limit. */
    routeTable: RouteEntry[]
  }
}

export interface RouteEntry {
  method: string
  url: string
  access: 'public' | 'read' | 'admin'
  bodyLimit: number | undefined
}

export interface AppDeps {
  /** A pino logger or logger options; defaults to JSON logs at the configured level. */
  logger?: FastifyServerOptions['logger'] | FastifyServerOptions['loggerInstance']
}

export function loggerOptions(config: Config) {
  return {
    level: config.logLevel,
    // Tokens never reach the log (the admin-auth work adds more paths).
    redact: { paths: ['req.headers.authorization', 'req.headers["x-api-key"]'], censor: '[redacted]' },
    serializers: {
      // Fastify's request serializer, with secrets in the query string redacted (and the headers
      // kept, for the redact paths above); a plain object logged as `req` passes through the same.
      req: (req: Partial<FastifyRequest>) => ({
        method: req.method,
        url: typeof req.url === 'string' ? redactQuery(req.url) : req.url,
        headers: req.headers,
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
    },
  }
}

/**
 * Node's timeouts for receiving a request: the whole request (headers and body) within
 * `requestTimeoutMs`, the headers within the same or Node's own 60 s if that is less (nginx's
 * client_header_timeout and client_body_timeout bound each in the same way). Node checks them
 * every connectionsCheckingInterval (30 s by default), so a short timeout is checked more often:
 * a tenth of it, at least every 100 ms.
 */
export function requestTimeouts(requestTimeoutMs: number): { requestTimeout: number; headersTimeout: number; connectionsCheckingInterval: number } {
  if (requestTimeoutMs === 0) return { requestTimeout: 0, headersTimeout: 60_000, connectionsCheckingInterval: 30_000 }
  return {
    requestTimeout: requestTimeoutMs,
    headersTimeout: Math.min(60_000, requestTimeoutMs),
    connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(requestTimeoutMs / 10))),
  }
}

export async function buildApp(config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  const logger = deps.logger ?? loggerOptions(config)
  const app = Fastify({
    ...(isPinoInstance(logger) ? { loggerInstance: logger } : { logger }),
    // Fastify's own two lines per request cost about a fifth of a small model's throughput
    // (bench/README.md); calserve writes at most one, as CALSERVE_ACCESS_LOG says (see below).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    // A client that trickles its headers or its body can't hold a connection forever. Node reads
    // these when the server is created: set afterwards (Fastify's requestTimeout alone does that),
    // headersTimeout stayed at 60 s and a slow body outlived a 10 s timeout by minutes.
    requestTimeout: config.requestTimeoutMs,
    http: requestTimeouts(config.requestTimeoutMs),
    // A request that reaches the server while it closes came on a connection accepted before the
    // listener closed (src/http/connections.ts keeps those open): it is answered, with
    // `connection: close`, rather than refused with 503 after it was sent.
    return503OnClosing: false,
    // /v1/models/x/ is /v1/models/x: clients that add a slash are served, not refused.
    routerOptions: { ignoreTrailingSlash: true },
    // A URL the router refuses before any route runs (bad percent-encoding, a path parameter past
    // its length limit) still gets the one error body, not Fastify's own.
    frameworkErrors: (err, _req, reply) => {
      const status = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 400
      void (reply as unknown as FastifyReply).code(status).send(errorBody('CALSERVE_BAD_INPUT', err.message, { fastify_code: err.code }))
    },
  }).withTypeProvider<ZodTypeProvider>()

  // The route table, kept as routes register: tests generate the access and body-limit checks of
  // every write route from it, so a new route can't be left out of them.
  const routeTable: RouteEntry[] = []
  app.decorate('routeTable', routeTable)
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routeTable.push({ method, url: route.url, access: route.config?.access ?? 'read', bodyLimit: route.bodyLimit })
  })
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.setErrorHandler(errorHandler(errorBody))
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody('CALSERVE_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`))
  })
  // Bodies are JSON, ndjson or raw float32 (the routes add the last two). Fastify's built-in
  // text/plain parser would hand a string to handlers whose schema lists only those types, which
  // skip validation for it: refuse text/plain with 415 instead.
  app.removeContentTypeParser('text/plain')
  // While draining, every answer closes its connection. A keep-alive connection whose request was
  // in flight when the close began is not idle when Fastify closes the idle ones, and would hold
  // the close open until its keep-alive timeout (72 s) — past the grace period.
  // So does an answer sent before its body was read (src/http/linger.ts).
  const lifecycle = { draining: false }
  closeUnreadBodies(app, () => lifecycle.draining)

  // The access log: one line per answered request ('all'), only for answers of 400 and above
  // ('errors', the default: failures stay visible, successes cost nothing), or none ('off'). Values
  // in the query string named like secrets are redacted (src/http/redact.ts).
  if (config.accessLog !== 'off')
    app.addHook('onResponse', (req, reply, done) => {
      if (config.accessLog === 'all' || reply.statusCode >= 400)
        req.log.info({ method: req.method, url: redactQuery(req.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 1000) / 1000 }, 'request')
      done()
    })

  // External plugins.
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'calserve',
        version: API_VERSION,
        description:
          'Inference for fine-tuned ONNX classifiers with a calibrated bias γ added to the logits of the classes absent from fine-tuning (Mai et al., NeurIPS 2024).',
      },
      tags: [{ name: 'inference' }, { name: 'models' }, { name: 'calibration' }, { name: 'health' }, { name: 'repository' }],
    },
    transform,
    transformObject,
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  // Load shedding: while the event loop lags (or the heap is past its bound), answer 503 with
  // Retry-After at once instead of letting every request's latency grow.
  await app.register(underPressure, {
    maxEventLoopDelay: config.maxEventLoopDelayMs,
    maxHeapUsedBytes: config.maxHeapUsedBytes,
    retryAfter: 1,
    // Health, metrics and docs still answer under pressure: a probe must see the process alive.
    // A rejection reaches the route's own error handler (under-pressure passes it to next), so a
    // shed request gets its protocol's error body and Retry-After, like any other 503.
    pressureHandler: async (req: FastifyRequest, _reply: FastifyReply, type: string, value: number | undefined) => {
      if (req.routeOptions.config?.access === 'public') return
      throw new CalserveError('OVERLOADED', `the server is overloaded (${type}${value === undefined ? '' : ` ${Math.round(value)}`}); retry shortly`)
    },
  })
  await app.register(authPlugin, { config })
  if (config.rateLimitPerMinute > 0)
    await app.register(rateLimit, {
      max: config.rateLimitPerMinute,
      timeWindow: 60_000,
      // Per token when there is one, per address otherwise.
      keyGenerator: (req) => req.principal ?? req.ip,
      hook: 'preHandler',
      // What this returns is thrown, so it reaches the error handler like any CalserveError.
      errorResponseBuilder: (_req, ctx) => new CalserveError('RATE_LIMITED', `more than ${ctx.max} requests a minute; retry in ${Math.ceil(ctx.ttl / 1000)} s`),
    })

  // calserve's decorators. `lifecycle.draining` turns /health/ready to 503 before the listener
  // closes, so a load balancer stops sending new work first.
  app.decorate('lifecycle', lifecycle)
  app.addHook('preClose', async () => {
    app.lifecycle.draining = true
  })
  await app.register(metricsPlugin)
  await app.register(storePlugin, { config })
  await app.register(modelsPlugin, { config })
  await app.register(planePlugin)
  await app.register(jobsPlugin, { config })

  // Routes.
  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () => app.swagger())
  await app.register(healthRoutes)
  await app.register(modelRoutes)
  await app.register(predictRoutes, {
    bodyLimit: config.predictBodyLimitBytes,
    jsonBodyLimit: config.predictJsonBodyLimitBytes,
    maxSamples: config.maxPredictSamples,
    maxJsonNumbers: config.maxJsonNumbers,
    maxImagePixels: config.maxImagePixels,
  })
  await app.register(calibrationRoutes)
  await app.register(repositoryRoutes)
  await app.register(fitRoutes, {
    fitSyncMaxSamples: config.fitSyncMaxSamples,
    fitBodyLimitBytes: config.fitBodyLimitBytes,
    fitJsonBodyLimitBytes: config.fitJsonBodyLimitBytes,
    fitMaxLineBytes: config.fitMaxLineBytes,
    maxImagePixels: config.maxImagePixels,
    maxImageBytes: config.predictBodyLimitBytes,
  })
  await app.register(curveRoutes)
  await app.register(exportRoutes)
  await app.register(uiRoutes)
  await app.register(v2Routes, {
    prefix: '/v2',
    version: API_VERSION,
    bodyLimit: config.predictBodyLimitBytes,
    jsonBodyLimit: config.predictJsonBodyLimitBytes,
    maxSamples: config.maxPredictSamples,
    maxJsonNumbers: config.maxJsonNumbers,
    maxImagePixels: config.maxImagePixels,
  })
  return app
}

function isPinoInstance(x: unknown): x is FastifyServerOptions['loggerInstance'] {
  return typeof x === 'object' && x !== null && typeof (x as { child?: unknown }).child === 'function'
}
