// Sessions in a worker thread answer exactly as on the main thread, and 'auto' picks the main
// thread for a tiny model.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, copyFixtures, FIXTURE_MODELS } from '../helper.js'

const inputs = [
  [1, 0.5, -1],
  [0.25, -2, 1.5],
  [-1, 1, 0.125],
]

t.test('a worker-thread session gives the same logits and predictions as the main thread', async (t) => {
  const answers: unknown[] = []
  for (const thread of ['main', 'worker']) {
    const repo = copyFixtures(t, ['tiny'])
    const file = join(repo, 'tiny/model.json')
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), session: { thread } }))
    const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo })
    await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: 1.25 } })
    const res = await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs, top_k: 4, return_logits: true } })
    t.equal(res.statusCode, 200, `${thread}: ${res.body}`)
    answers.push(res.json().predictions)
    // Many concurrent requests through the worker: every answer matches its own input.
    const many = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: [inputs[i % 3]], return_logits: true } }),
      ),
    )
    many.forEach((r, i) => t.same(r.json().predictions[0].logits, (answers.at(-1) as Array<{ logits: number[] }>)[i % 3]!.logits))
    // A fit streams its batches through the same session.
    const fit = await app.inject({
      method: 'POST',
      url: '/v1/models/tiny/calibration/fit?dry_run=true',
      headers: { 'content-type': 'application/x-ndjson' },
      payload: inputs.map((x, i) => JSON.stringify({ input: x, label: ['cat', 'bird', 'fish'][i] })).join('\n'),
    })
    t.equal(fit.statusCode, 200, fit.body)
  }
  t.same(answers[1], answers[0], 'worker and main agree exactly')
})

t.test('unloading a worker-thread model ends its worker', async (t) => {
  const repo = copyFixtures(t, ['tiny'])
  const file = join(repo, 'tiny/model.json')
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), session: { thread: 'worker' } }))
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo })
  const res = await app.inject({ method: 'POST', url: '/v2/repository/models/tiny/unload' })
  t.equal(res.json().state, 'UNAVAILABLE')
  const again = await app.inject({ method: 'POST', url: '/v2/repository/models/tiny/load' })
  t.equal(again.json().state, 'READY')
  t.equal((await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs } })).statusCode, 200)
})

t.test('a batch the batcher owns is handed to the worker without a copy; a request view is copied and left alone', async (t) => {
  const { WorkerRunner } = await import('../../src/models/worker-runner.js')
  const { SESSION_DEFAULTS } = await import('../../src/models/manifest.js')
  const { runner } = await WorkerRunner.load(join(FIXTURE_MODELS, 'tiny/2/model.onnx'), ['cpu'], {}, { ...SESSION_DEFAULTS, thread: 'worker' })
  t.teardown(() => runner.close())
  const flat = inputs.flat()
  const view = new Float32Array(new Float32Array([0, ...flat]).buffer, 4, flat.length)
  const fromView = await runner.run(view, inputs.length, false)
  t.equal(view.length, flat.length, 'a view stays attached')
  t.strictSame(Array.from(view), flat, 'and unchanged')
  const owned = Float32Array.from(flat)
  const fromOwned = await runner.run(owned, inputs.length, true)
  t.equal(owned.buffer.byteLength, 0, 'the owned batch was transferred (detached here)')
  t.strictSame(Array.from(fromOwned), Array.from(fromView), 'same logits either way')
  const ownedView = new Float32Array(new Float32Array([0, ...flat]).buffer, 4, flat.length)
  await runner.run(ownedView, inputs.length, true)
  t.equal(ownedView.length, flat.length, 'an owned view into a larger buffer is still copied')
})
