// A calibration set over HTTP survives a real process restart on the same SQLite file.
import { join } from 'node:path'
import t from 'tap'
import { tempDir } from '../helper.js'
import { breakpoint, checkPrediction, expectedPrediction, fixture, logitsOf } from '../http/expected.js'
import { call, start, stop, waitReady } from './process.js'

const tiny = fixture('tiny')

t.test('γ persists across SIGTERM and restart', async (t) => {
  const file = join(tempDir(t, 'calserve-e2e-'), 'calserve.db')
  const env = { CALSERVE_STORE_URL: `sqlite:${file}` }
  const x = [1, 0.5, 0.25]
  const z = logitsOf(tiny, 2, x)
  const gamma = breakpoint(tiny, z) + 0.125 + 0.1 + 0.2 // past the breakpoint, and not a short decimal
  const before = expectedPrediction(tiny, z, 0, 1, 4)
  const after = expectedPrediction(tiny, z, gamma, 1, 4)
  t.not(after.label, before.label, 'the chosen γ flips the sample')

  const first = await start(t, env)
  await waitReady(first)
  const p0 = await call(first, 'POST', '/v1/models/tiny/predict', { inputs: [x], top_k: 4 })
  t.equal(p0.status, 200, p0.text)
  checkPrediction(t, p0.json.predictions[0], before, 'before γ')
  const put = await call(first, 'PUT', '/v1/models/tiny/calibration', { gamma, note: 'before restart' })
  t.equal(put.status, 200, put.text)
  t.match(put.json, { version: 1, model_version: 2, note: 'before restart' })
  t.ok(Object.is(put.json.gamma, gamma))
  const exit = await stop(first)
  t.same(exit, { code: 0, signal: null }, 'exits 0 on SIGTERM')
  t.ok(
    first.logs().some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM'),
    'logs the shutdown',
  )

  const second = await start(t, env)
  const ready = await waitReady(second)
  t.match(ready, { ready: true, models: { tiny: 'READY' }, store: { kind: 'sqlite' } })
  const p1 = await call(second, 'POST', '/v1/models/tiny/predict', { inputs: [x], top_k: 4 })
  t.equal(p1.status, 200, p1.text)
  t.same(p1.json.calibration, { applied: true, version: 1, gamma, temperature: 1 })
  t.ok(Object.is(p1.json.calibration.gamma, gamma), 'γ bit-exact after the restart')
  checkPrediction(t, p1.json.predictions[0], after, 'after restart')
  const h = await call(second, 'GET', '/v1/models/tiny/calibration/history')
  t.equal(h.json.versions.length, 1)
  t.equal(h.json.versions[0].note, 'before restart')
  t.same(await stop(second), { code: 0, signal: null })
})
