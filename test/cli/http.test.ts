// The CLI's HTTP client: URL and token from options or the environment, query strings, error bodies.
import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import t from 'tap'
import { Client, DEFAULT_URL } from '../../src/cli/http.js'
import { ApiError, UsageError } from '../../src/cli/output.js'

t.test('base URL and token: option, then environment, then default', async (t) => {
  t.equal(new Client({}, {}).baseUrl, DEFAULT_URL)
  t.equal(new Client({}, { CALSERVE_URL: 'http://h:1/prefix/' }).baseUrl, 'http://h:1/prefix')
  t.equal(new Client({ url: 'https://x' }, { CALSERVE_URL: 'http://h:1' }).baseUrl, 'https://x')
  t.equal(new Client({}, {}).url('/v1/a', { dry_run: true, note: 'a b', method: undefined }), `${DEFAULT_URL}/v1/a?dry_run=true&note=a+b`)
  t.throws(() => new Client({ url: 'not a url' }, {}), UsageError)
  t.throws(() => new Client({ url: 'ftp://x' }, {}), UsageError)
})

t.test('sends the bearer token; an error body becomes an ApiError', async (t) => {
  const seen: IncomingHttpHeaders[] = []
  const server = createServer((req, res) => {
    seen.push(req.headers)
    res.writeHead(req.url === '/ok' ? 200 : 409, { 'content-type': 'application/json' })
    res.end(req.url === '/ok' ? '{"fine":true}' : '{"error":{"code":"CALSERVE_VERSION_CONFLICT","message":"active is 3","details":{"active":3}}}')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  const client = new Client({}, { CALSERVE_URL: url, CALSERVE_TOKEN: 's3cret' })
  t.same(await client.get('/ok'), { fine: true })
  t.equal(seen[0]!.authorization, 'Bearer s3cret')
  await t.rejects(client.post('/conflict', { a: 1 }), {
    constructor: ApiError,
    code: 'CALSERVE_VERSION_CONFLICT',
    status: 409,
    message: 'CALSERVE_VERSION_CONFLICT: active is 3',
    details: { active: 3 },
  })
  t.equal(seen[1]!['content-type'], 'application/json')
  await new Client({ url }, {}).get('/ok')
  t.equal(seen[2]!.authorization, undefined, 'no token, no header')
})
