// Model repository control, as in the Open Inference Protocol's repository extension (Triton):
// list the models on disk with their state (a folder not loaded is UNAVAILABLE), (re)load one from the repository — a new version folder becomes
// the served version once it is warm — and unload one. Admin-protected like the other writes; a
// load or unload through one replica reaches every replica (models/directives.ts).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { ErrorBody } from '../../errors.js'
import { ModelParams, ModelStateSchema } from '../../api/v1.js'

const IndexEntry = z
  .object({
    name: z.string(),
    version: z.string().optional().describe('the served version, as a string as the protocol has it'),
    state: ModelStateSchema,
    reason: z.string().optional(),
  })
  .meta({ id: 'RepositoryIndexEntry' })

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 503: ErrorBody }

const routes: FastifyPluginAsyncZod = async (app) => {
  const entry = (m: { name: string; version: number | null; state: z.infer<typeof ModelStateSchema>; reason: string | null }) => ({
    name: m.name,
    ...(m.version === null ? {} : { version: String(m.version) }),
    state: m.state,
    ...(m.reason ? { reason: m.reason } : {}),
  })

  app.post(
    '/v2/repository/index',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['repository'],
        summary: 'Every model of the repository with its state and served version',
        body: z.strictObject({ ready: z.boolean().optional().describe('only models that are READY') }).nullish(),
        response: { 200: z.array(IndexEntry), ...errors },
      },
    },
    async (req) => {
      // What is on disk, as Triton lists it: a folder not loaded (yet) is UNAVAILABLE.
      const known = app.models.list()
      const onDisk = (await app.models.listOnDisk()).filter((name) => !app.models.has(name))
      const all = [...known.map(entry), ...onDisk.map((name) => ({ name, state: 'UNAVAILABLE' as const, reason: 'not loaded' }))]
      return all.filter((m) => !req.body?.ready || m.state === 'READY').sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    },
  )

  app.post(
    '/v2/repository/models/:name/load',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['repository'],
        summary: 'Load or reload a model: its highest version serves once warm, with no failed request during the switch',
        params: ModelParams,
        body: z.strictObject({ parameters: z.record(z.string(), z.unknown()).optional() }).nullish(),
        response: { 200: IndexEntry, ...errors },
      },
    },
    async (req) => entry(await app.directives.issue(req.params.name, 'load', req.principal)),
  )

  app.post(
    '/v2/repository/models/:name/unload',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['repository'],
        summary: 'Stop serving a model (in-flight requests finish first)',
        params: ModelParams,
        body: z.strictObject({ parameters: z.record(z.string(), z.unknown()).optional() }).nullish(),
        response: { 200: IndexEntry, ...errors },
      },
    },
    async (req) => entry(await app.directives.issue(req.params.name, 'unload', req.principal)),
  )
}
export default routes
