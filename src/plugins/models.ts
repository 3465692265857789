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
      // Each model's label children are made once, when its observer is: not per batch.
      (model) => {
        const size = batchSize.labels({ model })
        const inference = inferenceSeconds.labels({ model })
        const queue = queueSeconds.labels({ model })
        return {
          ran(n, seconds) {
            size.observe(n)
            inference.observe(seconds)
          },
          queued(seconds) {
            queue.observe(seconds)
          },
        }
      },
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
