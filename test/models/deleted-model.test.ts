// A model unloaded (or loaded) by an operator and then deleted from the repository: its directive
// stays in the store, and each start used to log a warning with a stack for it. Now: one line, no
// stack, naming the model; the other models serve.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import pino from 'pino'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { build, copyFixtures, tempDir, testConfig } from '../helper.js'

t.test("a deleted model's stored directive: one warning at start, without a stack", async (t) => {
  const repo = copyFixtures(t, ['tiny', 'image'])
  const store = `sqlite:${join(tempDir(t), 'calserve.db')}`
  const env = { CALSERVE_MODEL_REPOSITORY: repo, CALSERVE_STORE_URL: store, CALSERVE_RECONCILE_MS: '100' }
  const first = await build(t, env)
  t.equal((await first.inject({ method: 'POST', url: '/v2/repository/models/image/unload' })).statusCode, 200)
  await first.close()
  rmSync(join(repo, 'image'), { recursive: true })

  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>)
      cb()
    },
  })
  const app = await buildApp(testConfig(t, env), { logger: pino({ level: 'warn' }, sink) })
  t.teardown(() => app.close())
  await app.ready()
  await app.modelsLoaded
  // A few reconciles go by.
  await new Promise((r) => setTimeout(r, 400))
  const about = lines.filter((l) => JSON.stringify(l).includes('image'))
  t.equal(about.length, 1, `one line about the deleted model: ${JSON.stringify(about)}`)
  t.match(about[0], { level: 40, model: 'image', action: 'unload', msg: /model 'image' is ignored: the model is not in the repository/ })
  t.notOk(JSON.stringify(about[0]).includes('stack'), 'no stack')
  t.equal((await app.inject({ url: '/v1/models/tiny' })).json().state, 'READY', 'the others serve')
})
