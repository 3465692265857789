// Access control: admin tokens for writes, API tokens for reads, names recorded in the history,
// loopback-only writes without tokens, and refusal to listen openly on a network address.
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { build } from '../helper.js'

const ADMIN = 'admin-secret-123'
const OTHER_ADMIN = 'other-admin-456'
const API = 'reader-token-789'
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const put = (gamma: number, headers: Record<string, string> = {}) => ({
  method: 'PUT' as const,
  url: '/v1/models/tiny/calibration',
  headers,
  payload: { gamma },
})

t.test('admin tokens guard writes; the history names who changed what', async (t) => {
  const app = await build(t, { CALSERVE_ADMIN_TOKENS: `alice:${ADMIN},bob:${OTHER_ADMIN}` })
  const none = await app.inject(put(1))
  t.equal(none.statusCode, 401)
  t.equal(none.json().error.code, 'CALSERVE_UNAUTHORIZED')
  t.match(none.headers['www-authenticate'], /Bearer/)
  const wrong = await app.inject(put(1, bearer('not-a-token')))
  t.equal(wrong.statusCode, 403)
  t.equal(wrong.json().error.code, 'CALSERVE_FORBIDDEN')
  const malformed = await app.inject(put(1, { authorization: `Basic ${ADMIN}` }))
  t.equal(malformed.statusCode, 401, 'only Bearer is accepted')
  t.same((await app.inject({ url: '/v1/models/tiny/calibration/history' })).json().versions, [], 'refused writes changed nothing')

  const ok = await app.inject(put(1.5, bearer(ADMIN)))
  t.equal(ok.statusCode, 200)
  t.equal(ok.json().created_by, 'alice')
  const rb = await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/rollback', headers: bearer(OTHER_ADMIN), payload: { version: 1 } })
  t.equal(rb.json().created_by, 'bob')
  const fit = await app.inject({
    method: 'POST',
    url: '/v1/models/tiny/calibration/fit',
    headers: { ...bearer(ADMIN), 'content-type': 'application/x-ndjson' },
    payload: '{"input":[1,0,0],"label":"cat"}\n{"input":[0,0,1],"label":"bird"}\n',
  })
  t.equal(fit.statusCode, 200, fit.body)
  t.equal(fit.json().calibration.created_by, 'alice')
  const fitNoToken = await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: { inputs: [[1, 0, 0]], labels: ['cat'] } })
  t.equal(fitNoToken.statusCode, 401)
  t.equal((await app.inject({ url: '/v1/jobs/x' })).statusCode, 401, 'jobs need an admin token')

  // Reads stay open when no API token is configured.
  t.equal((await app.inject({ url: '/v1/models/tiny' })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: [[1, 2, 3]] } })).statusCode, 200)
})

t.test('API tokens guard reads and predict; admin tokens may read too; health stays public', async (t) => {
  const app = await build(t, { CALSERVE_ADMIN_TOKENS: `alice:${ADMIN}`, CALSERVE_API_TOKENS: `app:${API}` })
  const predict = (headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/v1/models/tiny/predict', headers, payload: { inputs: [[1, 2, 3]] } })
  t.equal((await predict()).statusCode, 401)
  t.equal((await predict(bearer('nope-nope-nope'))).statusCode, 403)
  t.equal((await predict(bearer(API))).statusCode, 200)
  t.equal((await predict(bearer(ADMIN))).statusCode, 200)
  t.equal((await app.inject({ url: '/v1/models', headers: bearer(API) })).statusCode, 200)
  t.equal((await app.inject({ url: '/v1/models' })).statusCode, 401)
  const apiWrite = await app.inject(put(2, bearer(API)))
  t.equal(apiWrite.statusCode, 403, 'an API token may not change calibrations')
  t.match(apiWrite.json().error.message, /may not change/)
  for (const url of ['/health/live', '/health/ready', '/metrics', '/openapi.json', '/docs/json'])
    t.equal((await app.inject({ url })).statusCode, 200, `${url} is public`)
})

t.test('the logger calserve configures redacts tokens', async (t) => {
  const { loggerOptions } = await import('../../src/app.js')
  const pino = (await import('pino')).default
  const lines: string[] = []
  const log = pino(loggerOptions(loadConfig({})), { write: (s: string) => lines.push(s) })
  log.info({ req: { method: 'PUT', headers: { authorization: `Bearer ${ADMIN}`, 'x-api-key': API } } }, 'request')
  const all = lines.join('')
  t.notMatch(all, new RegExp(ADMIN), 'the admin token is not in the log')
  t.notMatch(all, new RegExp(API), 'an API key header is not in the log')
  t.match(all, /"authorization":"\[redacted\]"/)
})

t.test('no admin tokens: writes are allowed on loopback, and a network address is refused', async (t) => {
  const app = await build(t)
  t.equal((await app.inject(put(0.25))).statusCode, 200, 'the npm start demo: loopback, no tokens')
  t.throws(() => loadConfig({ CALSERVE_HOST: '0.0.0.0' }), /refusing to listen on 0\.0\.0\.0 with no CALSERVE_ADMIN_TOKENS/)
  t.doesNotThrow(() => loadConfig({ CALSERVE_HOST: '0.0.0.0', CALSERVE_ALLOW_INSECURE: '1' }))
  t.doesNotThrow(() => loadConfig({ CALSERVE_HOST: '0.0.0.0', CALSERVE_ADMIN_TOKENS: `ops:${ADMIN}` }))
  t.doesNotThrow(() => loadConfig({ CALSERVE_HOST: '127.0.0.2' }))
  t.throws(() => loadConfig({ CALSERVE_ADMIN_TOKENS: 'alice:short' }), /at least 8 characters/)
  t.throws(() => loadConfig({ CALSERVE_ADMIN_TOKENS: 'no-colon-here' }), /name:token/)
})

t.test('rate limit per token', async (t) => {
  const app = await build(t, { CALSERVE_RATE_LIMIT_PER_MINUTE: '3', CALSERVE_API_TOKENS: `app:${API},app2:${API}x` })
  const call = (token: string) => app.inject({ url: '/v1/models/tiny', headers: bearer(token) })
  for (let i = 0; i < 3; i++) t.equal((await call(API)).statusCode, 200)
  const limited = await call(API)
  t.equal(limited.statusCode, 429)
  t.equal(limited.json().error.code, 'CALSERVE_RATE_LIMITED')
  t.equal((await call(`${API}x`)).statusCode, 200, 'another token has its own budget')
})

t.test('the dashboard page is public; the data it calls for is not', async (t) => {
  const app = await build(t, { CALSERVE_ADMIN_TOKENS: `alice:${ADMIN}`, CALSERVE_API_TOKENS: `app:${API}` })
  t.equal((await app.inject({ url: '/ui' })).statusCode, 200)
  t.equal((await app.inject({ url: '/ui/app.js' })).statusCode, 200)
  t.equal((await app.inject({ url: '/v1/models/tiny/calibration/curve' })).statusCode, 401)
})
