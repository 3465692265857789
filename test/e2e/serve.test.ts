// The real process over real HTTP: models, predict, set, history, rollback, metrics, and a clean
// exit on SIGTERM; and a bad configuration refused at boot.
import { join } from 'node:path'
import t from 'tap'
import { tempDir } from '../helper.js'
import { checkPrediction, expectedPrediction, fixture, logitsOf } from '../http/expected.js'
import { call, start, stop, waitReady } from './process.js'

const tiny = fixture('tiny')

t.test('serve, calibrate, roll back, shut down', async (t) => {
  const file = join(tempDir(t, 'calserve-e2e-'), 'calserve.db')
  const server = await start(t, { CALSERVE_STORE_URL: `sqlite:${file}` })
  const ready = await waitReady(server)
  t.same(ready, {
    ready: true,
    models: { image: 'READY', tiny: 'READY', two_outputs: 'READY' },
    store: { kind: 'sqlite', state: 'open' },
  })

  const models = await call(server, 'GET', '/v1/models')
  t.equal(models.status, 200)
  t.same(
    models.json.models.map((m: { name: string; version: number; state: string }) => [m.name, m.version, m.state]),
    [
      ['image', 1, 'READY'],
      ['tiny', 2, 'READY'],
      ['two_outputs', 1, 'READY'],
    ],
  )
  t.match((await call(server, 'GET', '/v1/models/tiny')).json, { labels: ['cat', 'dog', 'bird', 'fish'], absent_classes: ['bird', 'fish'] })

  const xs = [
    [1, 0.5, 0.25],
    [0, 1, 2],
  ]
  const predict = async () => (await call(server, 'POST', '/v1/models/tiny/predict', { inputs: xs, top_k: 4, return_logits: true })).json
  const p0 = await predict()
  xs.forEach((x, i) => {
    const z = logitsOf(tiny, 2, x)
    t.strictSame(p0.predictions[i].logits, z)
    checkPrediction(t, p0.predictions[i], expectedPrediction(tiny, z, 0, 1, 4), `uncalibrated ${i}`)
  })

  const g1 = 0.5
  const g2 = -1.5
  t.match((await call(server, 'PUT', '/v1/models/tiny/calibration', { gamma: g1, expected_version: 0 })).json, { version: 1, gamma: g1 })
  t.match((await call(server, 'PUT', '/v1/models/tiny/calibration', { gamma: g2, temperature: 2, expected_version: 1 })).json, { version: 2 })
  const conflict = await call(server, 'PUT', '/v1/models/tiny/calibration', { gamma: 9, expected_version: 1 })
  t.equal(conflict.status, 409)
  t.match(conflict.json, { error: { code: 'CALSERVE_VERSION_CONFLICT', details: { active_version: 2 } } })

  const p2 = await predict()
  t.same(p2.calibration, { applied: true, version: 2, gamma: g2, temperature: 2 })
  xs.forEach((x, i) => checkPrediction(t, p2.predictions[i], expectedPrediction(tiny, logitsOf(tiny, 2, x), g2, 2, 4), `γ=${g2} T=2, sample ${i}`))

  const rb = await call(server, 'POST', '/v1/models/tiny/calibration/rollback', { version: 1 })
  t.equal(rb.status, 200, rb.text)
  t.match(rb.json, { version: 3, method: 'rollback', source_version: 1, gamma: g1, temperature: 1 })
  const h = await call(server, 'GET', '/v1/models/tiny/calibration/history')
  t.same(
    h.json.versions.map((r: { version: number; method: string; gamma: number }) => [r.version, r.method, r.gamma]),
    [
      [3, 'rollback', g1],
      [2, 'manual', g2],
      [1, 'manual', g1],
    ],
  )
  const p3 = await predict()
  t.match(p3.calibration, { version: 3, gamma: g1 })
  xs.forEach((x, i) => checkPrediction(t, p3.predictions[i], expectedPrediction(tiny, logitsOf(tiny, 2, x), g1, 1, 4), `after rollback, sample ${i}`))

  const missing = await call(server, 'POST', '/v1/models/tiny/calibration/rollback', { version: 42 })
  t.equal(missing.status, 404)
  t.equal(missing.json.error.code, 'CALSERVE_VERSION_NOT_FOUND')

  const metrics = await call(server, 'GET', '/metrics')
  t.match(metrics.text, /calserve_calibration_version\{[^}]*model="tiny"[^}]*\} 3/)
  t.match(metrics.text, /calserve_requests_total\{[^}]*route="\/v1\/models\/:name\/predict"[^}]*model="tiny"[^}]*\} 3/)

  t.ok(
    server.logs().some((l) => typeof l.msg === 'string' && l.msg.startsWith('calserve listening on')),
    'JSON logs at info',
  )
  const exit = await stop(server)
  t.same(exit, { code: 0, signal: null }, 'exits 0 on SIGTERM')
  t.notOk(
    server.logs().some((l) => Number(l.level) >= 50),
    'no error logged',
  )
})

t.test('a bad configuration exits 2 naming the variable', async (t) => {
  const server = await start(t, { CALSERVE_LOG_LEVEL: 'loud', CALSERVE_STORE_URL: 'sqlite::memory:' })
  const exit = await server.exited
  t.same(exit, { code: 2, signal: null })
  t.match(server.output(), /CALSERVE_LOG_LEVEL/)
})
