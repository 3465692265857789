// Process entry: read the configuration, build the app, listen, and shut down gracefully.
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'

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
  closeWithGrace({ delay: config.shutdownGraceMs }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
  })
  const address = await app.listen({ host: config.host, port: config.port })
  app.log.info({ address, store: config.storeUrl, models: config.modelRepository }, `calserve listening on ${address}`)
  await app.modelsLoaded.catch(() => {})
  const states = app.models.list().map((m) => `${m.name}:${m.state}`)
  app.log.info({ models: states }, `models loaded; try ${address}/v1/models and ${address}/docs`)
}

main().catch((err: unknown) => {
  process.stderr.write(`calserve failed to start: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exit(1)
})
