// calserve with its gRPC server on a loopback port, and a client generated at run time from the
// committed proto/grpc_predict_v2.proto, as any client of the protocol would build one.
import { credentials, loadPackageDefinition, Metadata, type Client, type ServiceError } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { protoPath as HEALTH_PROTO } from 'grpc-health-check'
import { buildApp } from '../../src/app.js'
import { startGrpcServer, type GrpcServer } from '../../src/grpc/server.js'
import { testConfig } from '../helper.js'

export const COMMITTED_PROTO = resolve(import.meta.dirname, '../../proto/grpc_predict_v2.proto')

interface Teardown {
  teardown(fn: () => unknown): void
}

type Ctor = new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => Client

const options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true }
const inference = loadPackageDefinition(loadSync(COMMITTED_PROTO, options)) as unknown as { inference: { GRPCInferenceService: Ctor } }
const healthPkg = loadPackageDefinition(loadSync(HEALTH_PROTO, options)) as unknown as { grpc: { health: { v1: { Health: Ctor } } } }

export interface Served {
  app: FastifyInstance
  grpc: GrpcServer
  client: Client
  health: Client
  /** Closes the gRPC server (once) with this grace period. */
  close(graceMs?: number): Promise<void>
}

/** An app on the fixtures (or `env`'s repository) with gRPC on a free loopback port; all closed on teardown. */
export async function serve(t: Teardown, env: Record<string, string> = {}): Promise<Served> {
  // No load shedding: on this shared machine the event loop lags while the sessions warm up, and
  // REST's answers (the reference here) would be 503s that no gRPC call sees.
  const config = testConfig(t, { CALSERVE_GRPC_PORT: '0', CALSERVE_MAX_EVENT_LOOP_DELAY_MS: '0', ...env })
  const app = await buildApp(config)
  await app.ready()
  const grpc = await startGrpcServer(app, { ...config, grpcPort: 0 })
  const address = `127.0.0.1:${grpc.port}`
  const client = new inference.inference.GRPCInferenceService(address, credentials.createInsecure())
  const health = new healthPkg.grpc.health.v1.Health(address, credentials.createInsecure())
  let closed: Promise<void> | undefined
  const close = (graceMs = 5000) => (closed ??= grpc.close(graceMs))
  t.teardown(async () => {
    client.close()
    health.close()
    await close()
    await app.close()
  })
  await app.modelsLoaded
  return { app, grpc, client, health, close }
}

export interface CallOptions {
  token?: string
  /** Milliseconds from now. */
  deadlineMs?: number
}

/** One unary call as a promise; rejects with the ServiceError. */
export function call<Res = Record<string, unknown>>(client: Client, method: string, request: unknown, opts: CallOptions = {}): Promise<Res> {
  const metadata = new Metadata()
  if (opts.token) metadata.set('authorization', `Bearer ${opts.token}`)
  const callOptions = opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs }
  const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method]
  if (!fn) throw new Error(`no method ${method} on the client`)
  return new Promise((res, rej) => fn.call(client, request, metadata, callOptions, (err: ServiceError | null, value: Res) => (err ? rej(err) : res(value))))
}

/** The ServiceError a call rejects with (fails the test's expectation when it resolves). */
export async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p
  } catch (err) {
    return err as ServiceError
  }
  throw new Error('the call succeeded; a failure was expected')
}
