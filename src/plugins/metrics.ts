// Prometheus metrics through prom-client, one registry per app so that several apps in one
// process (tests) don't share counters. Request latency is kept apart from inference compute time.
// Names follow Prometheus conventions: the process and Node.js metrics under their standard
// names (process_*, nodejs_*) so stock dashboards find them, calserve's own under calserve_,
// counters and only counters end in _total, and every name ends in its unit.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { CalserveError } from '../errors.js'

export interface ServiceMetrics {
  registry: Registry
  requests: Counter<'route' | 'method' | 'model' | 'status' | 'protocol'>
  requestSeconds: Histogram<'route' | 'method' | 'model' | 'protocol'>
  batchSize: Histogram<'model'>
  /** Requests refused with 503 CALSERVE_OVERLOADED: a full batching queue or the process under pressure. */
  shed: Counter<'route' | 'model' | 'reason'>
  inferenceSeconds: Histogram<'model'>
  queueSeconds: Histogram<'model'>
  calibrationVersion: Gauge<'model' | 'model_version'>
  calibrationGamma: Gauge<'model' | 'model_version'>
  /** The request families' label children, one per label set seen (observeRequest). */
  requestSeries: Map<string, RequestSeries>
}

/** One label set's children of the request families: counted and timed without building label objects per request. */
interface RequestSeries {
  requests: Counter.Internal
  seconds: Histogram.Internal<'route' | 'method' | 'model' | 'protocol'>
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ServiceMetrics
    /** The Prometheus text exposition, with the calibration gauges read fresh. */
    scrapeMetrics: () => Promise<string>
  }
}

const GAUGES_NAMED_LIKE_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']

export function createMetrics(): ServiceMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  // prom-client names three gauges *_total (handle, request and resource counts), which
  // Prometheus reads as counters; the same numbers stay available by type in
  // nodejs_active_handles, nodejs_active_requests and nodejs_active_resources (sum them).
  for (const name of GAUGES_NAMED_LIKE_COUNTERS) registry.removeSingleMetric(name)
  const registers = [registry]
  return {
    registry,
    requests: new Counter({
      name: 'calserve_requests_total',
      help: 'requests by protocol (http, grpc), route, model and status',
      labelNames: ['route', 'method', 'model', 'status', 'protocol'],
      registers,
    }),
    requestSeconds: new Histogram({
      name: 'calserve_request_duration_seconds',
      help: 'request latency (HTTP and gRPC), from receipt to response',
      labelNames: ['route', 'method', 'model', 'protocol'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
    batchSize: new Histogram({
      name: 'calserve_inference_batch_samples',
      help: 'samples per onnxruntime run',
      labelNames: ['model'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers,
    }),
    shed: new Counter({
      name: 'calserve_shed_requests_total',
      help: "requests refused with 503 CALSERVE_OVERLOADED, by reason: queue (the model's batching queue is full) or pressure (event loop or heap past its limit)",
      labelNames: ['route', 'model', 'reason'],
      registers,
    }),
    inferenceSeconds: new Histogram({
      name: 'calserve_inference_duration_seconds',
      help: 'time spent in onnxruntime per batch run',
      labelNames: ['model'],
      buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    queueSeconds: new Histogram({
      name: 'calserve_queue_duration_seconds',
      help: 'time a request waited in the batching queue before its run started',
      labelNames: ['model'],
      buckets: [0.00005, 0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
      registers,
    }),
    calibrationVersion: new Gauge({
      name: 'calserve_calibration_version',
      help: 'active calibration version of each served model version',
      labelNames: ['model', 'model_version'],
      registers,
    }),
    calibrationGamma: new Gauge({
      name: 'calserve_calibration_gamma',
      help: 'active γ of each served model version',
      labelNames: ['model', 'model_version'],
      registers,
    }),
    requestSeries: new Map(),
  }
}

export interface RequestLabels {
  protocol: 'http' | 'grpc'
  /** HTTP: the route's URL pattern; gRPC: the method's path, /inference.GRPCInferenceService/ModelInfer. */
  route: string
  method: string
  /** A model of the repository, or '' (never a name a client made up). */
  model: string
  /** HTTP: the status code; gRPC: the status name (OK, NOT_FOUND…). */
  status: string
}

/**
 * Counts and times one answered request, whichever front-end answered it. The label children are
 * made once per label set and kept: the label values are bounded (route patterns, models of the
 * repository, status codes), and a request then costs a map lookup instead of two label objects.
 */
export function observeRequest(metrics: ServiceMetrics, labels: RequestLabels, seconds: number): void {
  const key = `${labels.protocol}\u0000${labels.route}\u0000${labels.method}\u0000${labels.model}\u0000${labels.status}`
  let series = metrics.requestSeries.get(key)
  if (series === undefined) {
    const { protocol, route, method, model, status } = labels
    series = {
      requests: metrics.requests.labels({ protocol, route, method, model, status }),
      seconds: metrics.requestSeconds.labels({ protocol, route, method, model }),
    }
    metrics.requestSeries.set(key, series)
  }
  series.requests.inc()
  series.seconds.observe(seconds)
}

/** Reads the calibration gauges from the in-memory state at scrape time, so they can't drift from it. */
function collectCalibrations(app: FastifyInstance, metrics: ServiceMetrics): void {
  metrics.calibrationVersion.reset()
  metrics.calibrationGamma.reset()
  for (const model of app.models.list()) {
    if (model.state !== 'READY' || model.version === null) continue
    const record = app.calibrations.get(model.name, model.version)
    const labels = { model: model.name, model_version: String(model.version) }
    metrics.calibrationVersion.set(labels, record.version)
    metrics.calibrationGamma.set(labels, record.gamma)
  }
}

export default fp(
  async (app) => {
    const metrics = createMetrics()
    app.decorate('metrics', metrics)
    app.decorate('scrapeMetrics', async () => {
      collectCalibrations(app, metrics)
      return metrics.registry.metrics()
    })
    // Only names of models that exist become label values: a scan of random names must not
    // grow the series without bound.
    const modelLabel = (req: FastifyRequest): string => {
      const name = (req.params as { name?: string } | undefined)?.name
      return name && app.models.has(name) ? name : ''
    }
    // A callback hook, not an async one: an async hook costs Fastify a promise and a turn per request.
    app.addHook('onResponse', (req, reply, done) => {
      const route = req.routeOptions.url ?? 'unmatched'
      observeRequest(
        metrics,
        { protocol: 'http', route, method: req.method, model: modelLabel(req), status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      )
      done()
    })
    // Both kinds of shedding throw CALSERVE_OVERLOADED into the route's error handler (v1 and v2
    // bodies differ, the error does not): the batcher's full queue says how full it was.
    app.addHook('onError', async (req, _reply, err) => {
      if (!(err instanceof CalserveError) || err.code !== 'CALSERVE_OVERLOADED') return
      const reason = (err.details as { max_queue_size?: number } | undefined)?.max_queue_size === undefined ? 'pressure' : 'queue'
      metrics.shed.inc({ route: req.routeOptions.url ?? 'unmatched', model: modelLabel(req), reason })
    })
  },
  { name: 'calserve-metrics' },
)
