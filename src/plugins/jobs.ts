// Decorates the app with the fit job runner (src/serving/jobs.ts): started once the store is open,
// drained on close so a job in flight finishes before the process exits.
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { JobRunner } from '../serving/jobs.js'

declare module 'fastify' {
  interface FastifyInstance {
    jobs: JobRunner
  }
}

export default fp(
  async (app, opts: { config: Config }) => {
    const { maxQueuedJobs, jobLeaseMs, jobRetentionMs } = opts.config
    const jobs = new JobRunner(app.store, app.log, { maxQueued: maxQueuedJobs, leaseMs: jobLeaseMs, retentionMs: jobRetentionMs })
    await jobs.start()
    app.decorate('jobs', jobs)
    app.addHook('onClose', () => jobs.drain())
  },
  { name: 'calserve-jobs', dependencies: ['calserve-store'] },
)
