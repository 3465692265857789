// Liveness, readiness and Prometheus metrics.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { ModelStateSchema } from '../api/v1.js'

const Ready = z.object({
  ready: z.boolean(),
  models: z.record(z.string(), ModelStateSchema),
  store: z
    .object({ kind: z.string(), state: z.enum(['open', 'closed', 'unavailable']), error: z.string().nullable().optional() })
    .describe('serving goes on while the store is unavailable (with the last known calibrations); writes answer 503'),
})

const routes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/health/live',
    { config: { access: 'public' }, schema: { tags: ['health'], summary: 'The process is up', response: { 200: z.object({ live: z.literal(true) }) } } },
    async () => ({ live: true as const }),
  )

  app.get(
    '/health/ready',
    {
      config: { access: 'public' },
      schema: {
        tags: ['health'],
        summary: 'Every model finished loading (READY or FAILED) and the store is open',
        response: { 200: Ready, 503: Ready },
      },
    },
    async (_req, reply) => {
      const models = Object.fromEntries(app.models.list().map((m) => [m.name, m.state]))
      const ready = !app.lifecycle.draining && app.models.settled()
      const body = { ready, models, store: { kind: app.store.kind, ...app.store.state() } }
      return reply.code(ready ? 200 : 503).send(body)
    },
  )

  app.get(
    '/metrics',
    { config: { access: 'public' }, schema: { tags: ['health'], summary: 'Prometheus metrics', produces: ['text/plain'], response: { 200: z.string() } } },
    async (_req, reply) => {
      reply.type(app.metrics.registry.contentType)
      return app.scrapeMetrics()
    },
  )
}
export default routes
