// The gRPC server beside the HTTP one: inference.GRPCInferenceService, the standard
// grpc.health.v1.Health (SERVING once the models settled, NOT_SERVING from the start of a drain:
// what a Kubernetes gRPC probe asks) and server reflection. Started and stopped by main.ts with the
// HTTP server; close() lets in-flight calls finish within the grace period and refuses new ones.
import { Server, ServerCredentials, status, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js'
import { ReflectionService } from '@grpc/reflection'
import type { FastifyInstance } from 'fastify'
import { HealthImplementation, type ServingStatus } from 'grpc-health-check'
import { API_VERSION } from '../app.js'
import type { Config } from '../config.js'
import { loadDefinition, SERVICE_NAME } from './proto.js'
import { inferenceService } from './service.js'

export interface GrpcServer {
  /** The bound port (the one asked for, or the one chosen for 0). */
  port: number
  /** Health turns NOT_SERVING (the drain before the close); calls are still served. */
  drain(): void
  /** New calls are refused (UNAVAILABLE), in-flight ones finish; past `graceMs` the rest are cut. */
  close(graceMs: number): Promise<void>
}

/** Keepalive: ping an idle connection every minute, drop it when a ping goes unanswered 20 s. */
const KEEPALIVE = {
  'grpc.keepalive_time_ms': 60_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.keepalive_permit_without_calls': 1,
}

export async function startGrpcServer(
  app: FastifyInstance,
  config: Pick<Config, 'host' | 'grpcPort' | 'grpcMaxMessageBytes' | 'maxPredictSamples'>,
): Promise<GrpcServer> {
  const { packageDefinition, service } = loadDefinition()
  const server = new Server({
    'grpc.max_receive_message_length': config.grpcMaxMessageBytes,
    ...KEEPALIVE,
    // Channelz keeps per-call counters and timestamps for a debugging service calserve does not
    // serve: off, it is one cost less on every call.
    'grpc.enable_channelz': 0,
  })
  let closing = false
  server.addService(service, inferenceService(app, { version: API_VERSION, maxSamples: config.maxPredictSamples, closing: () => closing }))

  // The overall status ('') and the inference service's, as the health protocol names them.
  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' })
  const setHealth = (s: ServingStatus) => {
    health.setStatus('', s)
    health.setStatus(SERVICE_NAME, s)
  }
  const refresh = () => setHealth(!app.lifecycle.draining && !closing && app.models.settled() ? 'SERVING' : 'NOT_SERVING')
  // Watch streams never end on their own, and tryShutdown waits for every open call: keep them to
  // end them (UNAVAILABLE, after their NOT_SERVING) when the server closes.
  const watches = new Set<ServerWritableStream<unknown, unknown>>()
  health.addToServer({
    addService(definition, implementation: UntypedServiceImplementation) {
      const watch = implementation['watch'] as (call: ServerWritableStream<unknown, unknown>) => void
      server.addService(definition, {
        ...implementation,
        watch(call: ServerWritableStream<unknown, unknown>) {
          watches.add(call)
          const forget = () => watches.delete(call)
          call.on('cancelled', forget)
          call.on('finish', forget)
          watch(call)
        },
      })
    },
  })
  new ReflectionService(packageDefinition).addToServer(server)
  refresh()
  app.modelsLoaded.then(refresh, refresh)

  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${config.grpcPort}`, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  )
  return {
    port,
    drain() {
      setHealth('NOT_SERVING')
    },
    close(graceMs) {
      closing = true
      setHealth('NOT_SERVING')
      for (const call of watches) call.emit('error', { code: status.UNAVAILABLE, details: 'the server is shutting down' })
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown()
          resolve()
        }, graceMs)
        server.tryShutdown(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    },
  }
}
