// Issue 18 item 16, generated from the route table (app.routeTable, filled by an onRoute
// hook) so a new route can't be missed: every route that changes state is admin-only — no token
// 401, an API token 403, whichever tokens are configured. Each route's own body limit (item 17) is
// tested in test/http/body-limits.test.ts.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from '../helper.js'

/** POST routes that only read: inference. Every other non-GET route must be admin. */
const READ_POSTS = new Set(['/v1/models/:name/predict', '/v2/models/:name/infer', '/v2/models/:name/versions/:version/infer'])
const ADMIN = 'ops-secret-1'
const API = 'app-secret-1'

const concrete = (url: string) => url.replace(':name', 'tiny').replace(':version', '2').replace(':id', 'nope')

function writeRoutes(app: FastifyInstance) {
  return app.routeTable.filter((r) => !['GET', 'HEAD', 'OPTIONS'].includes(r.method) && !READ_POSTS.has(r.url))
}

for (const [what, env] of [
  ['admin and API tokens', { CALSERVE_ADMIN_TOKENS: `ops:${ADMIN}`, CALSERVE_API_TOKENS: `app:${API}` }],
  ['admin tokens only', { CALSERVE_ADMIN_TOKENS: `ops:${ADMIN}` }],
] as const) {
  t.test(`every write route is admin-only (${what})`, async (t) => {
    const app = await build(t, env)
    const routes = writeRoutes(app)
    const urls = routes.map((r) => `${r.method} ${r.url}`)
    // The ones the issue names must be among them (the table is what the checks come from).
    for (const known of [
      'PUT /v1/models/:name/calibration',
      'POST /v1/models/:name/calibration/rollback',
      'POST /v1/models/:name/calibration/fit',
      'POST /v2/repository/index',
      'POST /v2/repository/models/:name/load',
      'POST /v2/repository/models/:name/unload',
    ])
      t.ok(urls.includes(known), `${known} is in the table`)
    for (const r of routes) {
      const where = `${r.method} ${r.url}`
      t.equal(r.access, 'admin', `${where} declares access: 'admin'`)
      const send = (headers: Record<string, string>) =>
        app.inject({ method: r.method as 'POST', url: concrete(r.url), headers: { 'content-type': 'application/json', ...headers }, payload: '{}' })
      const none = await send({})
      t.equal(none.statusCode, 401, `${where} with no token: ${none.body}`)
      if ('CALSERVE_API_TOKENS' in env) {
        const api = await send({ authorization: `Bearer ${API}` })
        t.equal(api.statusCode, 403, `${where} with an API token: ${api.body}`)
      }
      const unknown = await send({ authorization: 'Bearer not-a-token-at-all' })
      t.equal(unknown.statusCode, 403, `${where} with an unknown token`)
      const admin = await send({ authorization: `Bearer ${ADMIN}` })
      t.not(admin.statusCode, 401, `${where} with the admin token is let through`)
      t.not(admin.statusCode, 403, `${where} with the admin token is let through`)
    }
    t.same(await app.store.history('tiny', 2), [], 'no calibration was written (the admin sends were all empty bodies)')
  })
}
