// Process entry: read the configuration, build the app, listen, and shut down gracefully.
// `npm start` runs it as `node --import tsx src/main.ts`: one process that receives signals itself.
// Under `tsx src/main.ts` a second process relayed them and SIGKILLed the server 60 ms later when
// its event loop was busy.
import { buildApp } from './app.js'
import { ConfigError, isLoopback, loadConfig } from './config.js'
import { startGrpcServer, type GrpcServer } from './grpc/server.js'
import { Connections } from './http/connections.js'
import { drainer, stopOnSignals } from './shutdown.js'

async function main(): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
  const app = await buildApp(config)
  let grpc: GrpcServer | null = null
  const connections = new Connections(app.server)
  // On SIGTERM (src/shutdown.ts): readiness turns 503, a pause of CALSERVE_SHUTDOWN_DELAY_MS for
  // load balancers to stop sending, then the listeners close, in-flight requests and fit jobs
  // finish, and the sessions and the store close.
  const drain = drainer(
    {
      begin() {
        app.lifecycle.draining = true
        grpc?.drain()
      },
      async close() {
        await connections.takeBacklog()
        // gRPC first: its in-flight calls need the models that app.close() closes.
        await grpc?.close(config.shutdownGraceMs)
        await app.close()
      },
      expire() {
        const closed = connections.closeUnanswered()
        if (closed > 0) app.log.warn({ closed }, 'closed the connections whose request had not arrived whole')
      },
    },
    { delayMs: config.shutdownDelayMs, graceMs: config.shutdownGraceMs, log: app.log },
  )
  stopOnSignals(drain, app.log)
  const address = await app.listen({ host: config.host, port: config.port })
  if (config.grpcPort > 0) {
    grpc = await startGrpcServer(app, config)
    app.log.info({ port: grpc.port }, `gRPC (inference.GRPCInferenceService) listening on ${config.host}:${grpc.port}`)
  }
  if (config.adminTokens.length === 0)
    app.log.warn(
      isLoopback(config.host)
        ? 'no CALSERVE_ADMIN_TOKENS: calibration writes are open to anyone on this machine (the server listens on loopback only)'
        : `no CALSERVE_ADMIN_TOKENS and CALSERVE_ALLOW_INSECURE=1: anyone who can reach ${config.host} can change calibrations`,
    )
  app.log.info({ address, store: redactUrl(config.storeUrl), models: config.modelRepository }, `calserve listening on ${address}`)
  await app.modelsLoaded.catch(() => {})
  const states = app.models.list().map((m) => `${m.name}:${m.state}`)
  app.log.info({ models: states }, `models loaded; try ${address}/v1/models and ${address}/docs`)
}

/** The store URL without its password (postgres://user:secret@host → postgres://user:***@host). */
function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (!u.password) return url
    u.password = '***'
    return u.toString()
  } catch {
    return url
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`calserve failed to start: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exit(1)
})
