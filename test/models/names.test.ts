// Issue 18 item 11: model names that are not plain child folders of the repository (`.`, `..`)
// are refused everywhere, and a symlinked model folder is served the same way at start and
// through the repository API (Triton follows symlinks in its model repository).
import { symlinkSync } from 'node:fs'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { MODEL_NAME } from '../../src/api/names.js'
import { build, copyFixtures } from '../helper.js'

t.test('the name rule refuses . and .. and keeps names with dots', async (t) => {
  for (const bad of ['.', '..', '../x', 'a/b', '']) t.notOk(MODEL_NAME.test(bad), bad)
  for (const good of ['tiny', 'a.b', '...', '.hidden', 'v1.2-final_x']) t.ok(MODEL_NAME.test(good), good)
})

t.test('. and .. are refused by load, unload, metadata, predict and infer; no entry appears anywhere', async (t) => {
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: copyFixtures(t, ['tiny']) })
  for (const name of ['%2e%2e', '%2E', '..%2f', '.']) {
    for (const [method, url] of [
      ['POST', `/v2/repository/models/${name}/load`],
      ['POST', `/v2/repository/models/${name}/unload`],
      ['GET', `/v1/models/${name}`],
      ['PUT', `/v1/models/${name}/calibration`],
      ['GET', `/v2/models/${name}`],
    ] as const) {
      const res = await app.inject({ method, url, ...(method === 'PUT' ? { payload: { gamma: 1 } } : {}) })
      // The URL parser resolves a literal or %2e dot segment first (WHATWG URL rules), so some of
      // these reach another route (/v1/models, /v2/): what matters is that no model is named . or ..
      const named = res.statusCode === 200 ? (res.json() as { name?: string }).name : undefined
      t.ok(res.statusCode === 400 || res.statusCode === 404 || (res.statusCode === 200 && method === 'GET' && named !== '.' && named !== '..'), `${method} ${url}: ${res.statusCode}`)
    }
  }
  // Over a real socket the path arrives as sent (inject would resolve the dot segments first).
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as AddressInfo).port
  const raw = (path: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      req.end()
    })
  for (const name of ['%2e%2e', '%2E', '.', '..'])
    for (const action of ['load', 'unload']) {
      const status = await raw(`/v2/repository/models/${name}/${action}`)
      t.ok(status === 400 || status === 404, `raw POST ${name}/${action}: ${status}`)
    }
  const ready = (await app.inject('/health/ready')).json()
  t.same(Object.keys(ready.models), ['tiny'], 'no . or .. in readiness')
  t.notMatch((await app.inject('/metrics')).body, /model="\.\.?"/, 'nor in the metrics')
  t.same(await app.store.modelDirectives(), [], 'no directive was stored')
})

t.test('a symlinked model folder is READY at start and reloads through the API', async (t) => {
  const repo = copyFixtures(t, ['tiny'])
  symlinkSync(join(repo, 'tiny'), join(repo, 'tiny-link'), 'dir')
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo })
  t.equal(app.models.list().find((m) => m.name === 'tiny-link')?.state, 'READY', 'served at start')
  const load = await app.inject({ method: 'POST', url: '/v2/repository/models/tiny-link/load' })
  t.equal(load.statusCode, 200)
  t.equal(load.json().state, 'READY')
})
