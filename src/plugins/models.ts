// Decorates the app with the model repository. Models load after the server is ready (so
// /health/ready can answer 503 while they load); `modelsLoaded` settles when every model is READY
// or FAILED.
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { ModelDirectives } from '../models/directives.js'
import { ModelRepository } from '../models/repository.js'

declare module 'fastify' {
  interface FastifyInstance {
    models: ModelRepository
    /** Loads and unloads that reach every replica (through the store). */
    directives: ModelDirectives
    modelsLoaded: Promise<void>
  }
}

export default fp(
  async (app, opts: { config: Config }) => {
    const { batchSize, inferenceSeconds, queueSeconds } = app.metrics
    const models = new ModelRepository(
      opts.config.modelRepository,
      opts.config.executionProviders,
      app.log,
      (model) => ({
        ran(n, seconds) {
          batchSize.observe({ model }, n)
          inferenceSeconds.observe({ model }, seconds)
        },
        queued(seconds) {
          queueSeconds.observe({ model }, seconds)
        },
      }),
      opts.config.modelName,
    )
    let loaded!: () => void
    let failed!: (err: unknown) => void
    const modelsLoaded = new Promise<void>((res, rej) => ((loaded = res), (failed = rej)))
    const directives = new ModelDirectives(app.store, models, app.log)
    app.decorate('models', models)
    app.decorate('directives', directives)
    app.decorate('modelsLoaded', modelsLoaded)
    app.addHook('onReady', async () => {
      models
        .loadAll()
        .then(() => directives.start(opts.config.reconcileMs))
        .then(loaded, (err: unknown) => {
        app.log.error({ err }, 'the model repository could not be loaded')
        failed(err)
      })
    })
    app.addHook('onClose', async () => {
      await modelsLoaded.catch(() => {})
      directives.stop()
      await models.close()
    })
  },
  { name: 'calserve-models', dependencies: ['calserve-metrics', 'calserve-store'] },
)
