// Repository control: a new version is loaded under load with no failed request, starts
// uncalibrated, and the old version's calibration history is kept; failed loads keep the old
// version serving; unload and load again. A version an open request holds (a fit still uploading)
// is not retired until that request is answered.
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { build, copyFixtures } from '../helper.js'

t.test('a new version swaps in under load with zero failed requests', async (t) => {
  const repo = copyFixtures(t, ['tiny'])
  const v2 = join(repo, 'tiny-v2-staged')
  cpSync(join(repo, 'tiny/2'), v2, { recursive: true })
  rmSync(join(repo, 'tiny/2'), { recursive: true })
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo })
  t.equal((await app.inject({ url: '/v1/models/tiny' })).json().version, 1)
  const put = await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: 2.5, note: 'for v1' } })
  t.equal(put.json().model_version, 1)

  let stop = false
  const seen = { 1: 0, 2: 0 } as Record<number, number>
  const failures: string[] = []
  const loop = async () => {
    while (!stop) {
      const res = await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: [[1, 0.5, -1]] } })
      if (res.statusCode !== 200) failures.push(res.body)
      else seen[res.json().model_version] = (seen[res.json().model_version] ?? 0) + 1
    }
  }
  const loops = Array.from({ length: 4 }, loop)
  await new Promise((r) => setTimeout(r, 100))
  cpSync(v2, join(repo, 'tiny/2'), { recursive: true })
  const load = await app.inject({ method: 'POST', url: '/v2/repository/models/tiny/load' })
  t.equal(load.statusCode, 200, load.body)
  t.same(load.json(), { name: 'tiny', version: '2', state: 'READY' })
  await new Promise((r) => setTimeout(r, 100))
  stop = true
  await Promise.all(loops)
  t.same(failures, [], 'no request failed during the switch')
  t.ok(seen[1]! > 0 && seen[2]! > 0, `served by v1 (${seen[1]}) then v2 (${seen[2]})`)

  const cal = (await app.inject({ url: '/v1/models/tiny/calibration' })).json()
  t.equal(cal.model_version, 2)
  t.equal(cal.version, 0, 'the new version starts uncalibrated')
  const pred = (await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: [[1, 0.5, -1]] } })).json()
  t.equal(pred.model_version, 2)
  t.equal(pred.calibration.gamma, 0)
  const oldHistory = await app.store.history('tiny', 1)
  t.equal(oldHistory.length, 1, 'version 1 keeps its calibration history')
  t.equal(oldHistory[0]!.gamma, 2.5)
})

t.test('a failed load keeps the old version serving; unload and load again', async (t) => {
  const repo = copyFixtures(t, ['tiny', 'image'])
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo })
  mkdirSync(join(repo, 'tiny/3'))
  writeFileSync(join(repo, 'tiny/3/model.onnx'), 'not an onnx file')
  const bad = await app.inject({ method: 'POST', url: '/v2/repository/models/tiny/load' })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().error.code, 'CALSERVE_MODEL_LOAD_FAILED')
  t.match(bad.json().error.message, /version 2 keeps serving/)
  t.equal((await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: [[1, 2, 3]] } })).json().model_version, 2)
  rmSync(join(repo, 'tiny/3'), { recursive: true })

  const unload = await app.inject({ method: 'POST', url: '/v2/repository/models/image/unload' })
  t.same(unload.json(), { name: 'image', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' })
  const refused = await app.inject({ method: 'POST', url: '/v1/models/image/predict', payload: { inputs: [[1, 2, 3, 4]] } })
  t.equal(refused.statusCode, 503)
  t.equal(refused.json().error.code, 'CALSERVE_MODEL_NOT_READY')
  const index = (await app.inject({ method: 'POST', url: '/v2/repository/index' })).json()
  t.same(index, [
    { name: 'image', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' },
    { name: 'tiny', version: '2', state: 'READY' },
  ])
  t.same((await app.inject({ method: 'POST', url: '/v2/repository/index', payload: { ready: true } })).json(), [{ name: 'tiny', version: '2', state: 'READY' }])
  const again = await app.inject({ method: 'POST', url: '/v2/repository/models/image/load' })
  t.equal(again.json().state, 'READY')
  t.equal((await app.inject({ method: 'POST', url: '/v1/models/image/predict', payload: { inputs: [[1, 2, 3, 4]] } })).statusCode, 200)

  const unknown = await app.inject({ method: 'POST', url: '/v2/repository/models/nope/load' })
  t.equal(unknown.statusCode, 404)
  const traversal = await app.inject({ method: 'POST', url: '/v2/repository/models/..%2F..%2Fetc/load' })
  t.equal(traversal.statusCode, 400, 'a name with slashes never reaches the file system')

  // A model folder added after start is picked up by load.
  cpSync(join(repo, 'tiny'), join(repo, 'tiny-copy'), { recursive: true })
  const added = await app.inject({ method: 'POST', url: '/v2/repository/models/tiny-copy/load' })
  t.equal(added.json().state, 'READY')
  t.equal((await app.inject({ url: '/v1/models/tiny-copy' })).statusCode, 200)
})

t.test('repository control needs an admin token when tokens are configured', async (t) => {
  const app = await build(t, { CALSERVE_ADMIN_TOKENS: 'ops:ops-secret-1', CALSERVE_API_TOKENS: 'app:app-secret-1' })
  t.equal((await app.inject({ method: 'POST', url: '/v2/repository/index' })).statusCode, 401)
  t.equal((await app.inject({ method: 'POST', url: '/v2/repository/models/tiny/unload', headers: { authorization: 'Bearer app-secret-1' } })).statusCode, 403)
  t.equal((await app.inject({ method: 'POST', url: '/v2/repository/index', headers: { authorization: 'Bearer ops-secret-1' } })).statusCode, 200)
})

t.test('a load during a slow fit upload: the old version serves the fit to its end, then retires', async (t) => {
  const repo = copyFixtures(t, ['tiny'])
  const v2 = join(repo, 'tiny-v2-staged')
  cpSync(join(repo, 'tiny/2'), v2, { recursive: true })
  rmSync(join(repo, 'tiny/2'), { recursive: true })
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const labels = ['cat', 'dog', 'bird', 'fish']
  const lines = (from: number, n: number) =>
    Array.from({ length: n }, (_, k) => {
      const i = from + k
      return JSON.stringify({ input: [((i * 13) % 29) / 7 - 2, ((i * 7) % 31) / 8 - 2, ((i * 5) % 23) / 6 - 2], label: labels[i % 4] }) + '\n'
    }).join('')

  // An ndjson fit whose body arrives in two parts: the first (more than one 256-sample batch, so
  // version 1 has run for it) before the load, the second after version 1 would have retired.
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: '/v1/models/tiny/calibration/fit?note=slow', headers: { 'content-type': 'application/x-ndjson' } },
      (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (d: string) => (body += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      },
    )
    req.on('error', reject)
    req.write(lines(0, 300))
    void (async () => {
      await new Promise((r) => setTimeout(r, 300))
      cpSync(v2, join(repo, 'tiny/2'), { recursive: true })
      const load = await app.inject({ method: 'POST', url: '/v2/repository/models/tiny/load' })
      t.equal(load.json().version, '2', `version 2 loaded while the fit uploads (${load.body})`)
      // Past the idle time after which a replaced version retires (1 s).
      await new Promise((r) => setTimeout(r, 1600))
      req.end(lines(300, 300))
    })()
  })
  const res = await answer
  t.equal(res.status, 200, `the fit is answered (${res.body.slice(0, 300)})`)
  const fit = JSON.parse(res.body) as { n_samples: number; calibration: { model_version: number; note: string } }
  t.equal(fit.n_samples, 600, 'every line of both parts')
  t.same([fit.calibration.model_version, fit.calibration.note], [1, 'slow'], 'stored for the version it started with')
  const pred = (await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: [[1, 0.5, -1]] } })).json()
  t.equal(pred.model_version, 2, 'new requests go to version 2')
})
