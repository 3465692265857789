// A load or unload made through one replica reaches the others (two apps on one PostgreSQL schema
// stand for two replicas), and a replica that starts later honours an earlier unload.
import { cpSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, copyFixtures } from '../helper.js'
import { freshSchemaUrl, reachable } from '../pg.js'

async function until(check: () => Promise<boolean>, ms = 5000): Promise<number> {
  const t0 = performance.now()
  while (performance.now() - t0 < ms) {
    if (await check()) return performance.now() - t0
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`not within ${ms} ms`)
}

const unreachable = await reachable()
if (unreachable !== null) t.plan(0, `skipped: PostgreSQL is not reachable (${unreachable})`)
else
  t.test('load and unload through one replica reach the other', async (t) => {
    const repo = copyFixtures(t, ['tiny', 'image'])
    const staged = join(repo, '..', `${repo.split('/').pop()}-v2`)
    cpSync(join(repo, 'tiny/2'), staged, { recursive: true })
    rmSync(join(repo, 'tiny/2'), { recursive: true })
    t.teardown(() => rmSync(staged, { recursive: true, force: true }))
    const { url } = freshSchemaUrl(t)
    const env = { CALSERVE_MODEL_REPOSITORY: repo, CALSERVE_STORE_URL: url, CALSERVE_RECONCILE_MS: '500' }
    const a = await build(t, env)
    const b = await build(t, env)
    const versionOn = async (app: typeof a) => (await app.inject({ url: '/v1/models/tiny' })).json().version as number
    t.equal(await versionOn(b), 1)

    cpSync(staged, join(repo, 'tiny/2'), { recursive: true })
    const load = await a.inject({ method: 'POST', url: '/v2/repository/models/tiny/load' })
    t.equal(load.json().version, '2')
    const took = await until(async () => (await versionOn(b)) === 2)
    t.comment(`the new version reached the other replica in ${took.toFixed(0)} ms`)

    const unload = await b.inject({ method: 'POST', url: '/v2/repository/models/image/unload' })
    t.equal(unload.json().state, 'UNAVAILABLE')
    await until(async () => (await a.inject({ url: '/v1/models/image' })).json().state === 'UNAVAILABLE')

    // A replica started after the unload keeps the model unloaded.
    const c = await build(t, env)
    t.equal((await c.inject({ url: '/v1/models/image' })).json().state, 'UNAVAILABLE')
    t.equal(await versionOn(c), 2)

    // An unknown model records nothing.
    t.equal((await a.inject({ method: 'POST', url: '/v2/repository/models/nope/unload' })).statusCode, 404)
    t.same((await a.store.modelDirectives()).map((d) => [d.model, d.action, d.generation]).sort(), [
      ['image', 'unload', 1],
      ['tiny', 'load', 1],
    ])
  })
