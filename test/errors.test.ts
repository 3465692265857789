// Named errors, the one error body, and the error handler: a thrown bug is a 500 that hides its
// message from the client but logs it.
import { Writable } from 'node:stream'
import pino from 'pino'
import t from 'tap'
import { buildApp } from '../src/app.js'
import { CalserveError, ErrorBody, ErrorCode, badInput, errorBody, modelNotFound } from '../src/errors.js'
import { testConfig } from './helper.js'

t.test('CalserveError carries code and status from the table', async (t) => {
  for (const [name, status] of Object.entries(ErrorCode)) {
    const err = new CalserveError(name as keyof typeof ErrorCode, 'm', { a: 1 })
    t.equal(err.code, `CALSERVE_${name}`)
    t.equal(err.statusCode, status)
    t.ok(err instanceof Error)
    t.same(err.details, { a: 1 })
  }
  t.match(badInput('bad', { field: 'x' }), { code: 'CALSERVE_BAD_INPUT', statusCode: 400, message: 'bad', details: { field: 'x' } })
  t.match(modelNotFound('m1'), { code: 'CALSERVE_MODEL_NOT_FOUND', statusCode: 404, details: { model: 'm1' } })
  t.match(modelNotFound('m1').message, /m1/)
})

t.test('errorBody: details only when given, and the shape parses', async (t) => {
  t.same(errorBody('CALSERVE_X', 'msg'), { error: { code: 'CALSERVE_X', message: 'msg' } })
  t.notOk('details' in errorBody('CALSERVE_X', 'msg').error)
  t.same(errorBody('CALSERVE_X', 'msg', { n: 1 }), { error: { code: 'CALSERVE_X', message: 'msg', details: { n: 1 } } })
  t.ok(ErrorBody.safeParse(errorBody('CALSERVE_X', 'msg', [1])).success)
  t.notOk(ErrorBody.safeParse({ error: { code: 1, message: 'm' } }).success)
})

t.test('a throwing route is a 500 that does not leak the message, and is logged', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l))
      cb()
    },
  })
  const app = await buildApp(testConfig(t), { logger: pino({ level: 'error' }, sink) })
  t.teardown(() => app.close())
  const secret = 'password=hunter2 at /srv/secret/path'
  app.get('/boom', async () => {
    throw new Error(secret)
  })
  app.get('/boom-async-sync', () => {
    throw new TypeError(`sync ${secret}`)
  })
  app.get('/named', async () => {
    throw new CalserveError('OVERLOADED', 'too busy, retry', { retry_after_s: 1 })
  })
  await app.ready()
  await app.modelsLoaded

  for (const url of ['/boom', '/boom-async-sync']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 500, url)
    const body = res.json()
    t.same(Object.keys(body), ['error'])
    t.equal(body.error.code, 'CALSERVE_INTERNAL')
    t.notOk(res.body.includes('hunter2'), `${url}: the thrown message is not sent`)
    t.notOk(res.body.includes('/srv/secret'), `${url}: nor any part of it`)
    t.notOk(res.body.includes('stack') || res.body.includes('    at '), `${url}: no stack`)
  }
  t.ok(
    lines.some((l) => JSON.stringify(l).includes('hunter2') && l.level === 50),
    'the real error is in the server log at level error',
  )

  const named = await app.inject({ url: '/named' })
  t.equal(named.statusCode, 503)
  t.same(named.json(), { error: { code: 'CALSERVE_OVERLOADED', message: 'too busy, retry', details: { retry_after_s: 1 } } })

  const missing = await app.inject({ url: '/nowhere?x=1' })
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { error: { code: 'CALSERVE_NOT_FOUND', message: 'no route GET /nowhere' } })
})

t.test('an oversized body is a 413 in the same shape, and nothing is written', async (t) => {
  const app = await buildApp(testConfig(t, { CALSERVE_BODY_LIMIT_BYTES: '1024' }))
  t.teardown(() => app.close())
  await app.ready()
  await app.modelsLoaded
  // The note alone (1500 < its 2000-character limit) would be accepted; the body is too large.
  const res = await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: 1, note: 'x'.repeat(1500) } })
  t.equal(res.statusCode, 413)
  t.equal(res.json().error.code, 'CALSERVE_PAYLOAD_TOO_LARGE')
  t.equal((await app.inject({ url: '/v1/models/tiny/calibration' })).json().version, 0)
  const small = await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: 1, note: 'x'.repeat(500) } })
  t.equal(small.statusCode, 200, 'under the limit is fine')
})

t.test('a wrong content type is a 415 in the same shape', async (t) => {
  const app = await buildApp(testConfig(t))
  t.teardown(() => app.close())
  await app.ready()
  await app.modelsLoaded
  const res = await app.inject({
    method: 'PUT',
    url: '/v1/models/tiny/calibration',
    payload: 'gamma=1',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  })
  t.equal(res.statusCode, 415)
  t.equal(res.json().error.code, 'CALSERVE_UNSUPPORTED_MEDIA_TYPE')
})
