// The access log writes at most one line per request, as CALSERVE_ACCESS_LOG says, with secrets in
// the query string redacted. Fastify's own two lines per request are off.
import { Writable } from 'node:stream'
import pino from 'pino'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { testConfig } from '../helper.js'

async function appWithLog(t: Test, accessLog: string) {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    },
  })
  const config = testConfig(t, { CALSERVE_ACCESS_LOG: accessLog, CALSERVE_LOG_LEVEL: 'info' })
  const app = await buildApp(config, { logger: pino({ level: 'info' }, sink) })
  t.teardown(() => app.close())
  await app.ready()
  await app.modelsLoaded
  return { app, requests: () => lines.filter((l) => l['msg'] === 'request' || l['msg'] === 'incoming request' || l['msg'] === 'request completed') }
}

t.test('errors (the default): a 200 writes nothing, a 404 one line, its token redacted', async (t) => {
  const { app, requests } = await appWithLog(t, 'errors')
  await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: [[0, 1, 2]] } })
  t.equal(requests().length, 0)
  await app.inject({ url: '/v1/models/nope?token=secret-token' })
  t.equal(requests().length, 1)
  t.match(requests()[0], { msg: 'request', method: 'GET', url: '/v1/models/nope?token=[redacted]', status: 404 })
  t.notMatch(JSON.stringify(requests()), /secret-token/)
})

t.test('all: one line per request; off: none', async (t) => {
  const all = await appWithLog(t, 'all')
  for (let i = 0; i < 3; i++) await all.app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: [[0, 1, 2]] } })
  t.equal(all.requests().length, 3)
  t.match(all.requests()[0], { msg: 'request', status: 200 })
  t.type(all.requests()[0]?.['ms'], 'number')
  const off = await appWithLog(t, 'off')
  await off.app.inject({ url: '/v1/models/nope' })
  t.equal(off.requests().length, 0)
})
