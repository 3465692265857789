// Decorates the app with the store and the in-memory active calibrations, which follow the store's
// notifications and reconcile periodically.
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { ActiveCalibrations } from '../store/active.js'
import { createStore } from '../store/index.js'
import type { Store } from '../store/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    store: Store
    calibrations: ActiveCalibrations
  }
}

export default fp(
  async (app, opts: { config: Config }) => {
    const store = createStore(opts.config.storeUrl)
    const calibrations = new ActiveCalibrations(
      store,
      (err) => app.log.warn({ err }, 'could not refresh the active calibrations'),
      (record) =>
        app.log.info({ model: record.model, model_version: record.model_version, version: record.version, gamma: record.gamma }, 'calibration active'),
    )
    try {
      await store.init()
      await calibrations.start(opts.config.reconcileMs)
    } catch (err) {
      // A store that opened halfway (a pool, a LISTEN connection, timers) must not keep the
      // process alive after a failed start.
      calibrations.stop()
      await store.close().catch(() => {})
      throw err
    }
    app.decorate('store', store)
    app.decorate('calibrations', calibrations)
    app.addHook('onClose', async () => {
      calibrations.stop()
      await store.close()
    })
  },
  { name: 'calserve-store' },
)
