// POST /v2/repository/index lists what is on disk, as Triton's index does (issue 18, item 15): a
// model folder added after the start appears before anyone loads it, UNAVAILABLE, and a load then
// makes it READY. It used to appear only after its load.
import { cpSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, copyFixtures, FIXTURE_MODELS } from '../../helper.js'

t.test('a model folder not loaded yet is in the index as UNAVAILABLE', async (t) => {
  const repo = copyFixtures(t, ['tiny'])
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo })
  const index = async (payload?: object) => (await app.inject({ method: 'POST', url: '/v2/repository/index', ...(payload ? { payload } : {}) })).json()
  t.same(await index(), [{ name: 'tiny', version: '2', state: 'READY' }])

  cpSync(join(FIXTURE_MODELS, 'image'), join(repo, 'image'), { recursive: true })
  mkdirSync(join(repo, 'not a model name'))
  t.same(
    await index(),
    [
      { name: 'image', state: 'UNAVAILABLE', reason: 'not loaded' },
      { name: 'tiny', version: '2', state: 'READY' },
    ],
    'the new folder is listed (a folder whose name is no model name is not)',
  )
  t.same(await index({ ready: true }), [{ name: 'tiny', version: '2', state: 'READY' }], 'ready: true leaves it out')
  t.equal((await app.inject({ url: '/v1/models/image' })).statusCode, 404, 'v1 lists what is served, as before')

  t.equal((await app.inject({ method: 'POST', url: '/v2/repository/models/image/load' })).json().state, 'READY')
  t.same(await index(), [
    { name: 'image', version: '1', state: 'READY' },
    { name: 'tiny', version: '2', state: 'READY' },
  ])
})
