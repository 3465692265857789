// Issue 18 item 12, the smaller holes: v2 datatypes from the prototype, γ and T past what keeps
// calibrated logits finite, a refused upload read to its end, a token in the query string logged,
// two Authorization headers.
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import t from 'tap'
import { buildApp, loggerOptions } from '../../src/app.js'
import { build, testConfig } from '../helper.js'

const tensor = (datatype: string) => ({ inputs: [{ name: 'x', shape: [1, 3], datatype, data: [1, 2, 3] }] })

t.test('v2 datatypes named like Object.prototype members are refused', async (t) => {
  const app = await build(t)
  for (const dt of ['toString', 'constructor', 'valueOf', '__proto__', 'hasOwnProperty']) {
    const res = await app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: tensor(dt) })
    t.equal(res.statusCode, 400, dt)
    t.match(res.json().error, /not a datatype of the protocol/)
  }
})

t.test('γ and T are bounded so calibrated logits stay finite; v2 JSON infer works at the bound', async (t) => {
  const app = await build(t)
  const put = (payload: Record<string, unknown>) => app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload })
  for (const bad of [{ gamma: 1e308 }, { gamma: -1e31 }, { gamma: 0, temperature: 1e-300 }, { gamma: 0, temperature: 1e300 }]) {
    const res = await put(bad)
    t.equal(res.statusCode, 400, JSON.stringify(bad))
  }
  t.equal((await app.inject('/v1/models/tiny/calibration')).json().version, 0, 'nothing stored')
  t.equal((await put({ gamma: 1e30, temperature: 1e-6 })).statusCode, 200, 'the bound itself is accepted')
  const res = await app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: tensor('FP32') })
  t.equal(res.statusCode, 200, `v2 infer: ${res.body}`)
  for (const o of res.json().outputs as Array<{ name: string; datatype: string; data: number[] }>)
    if (o.datatype === 'FP32') t.ok(o.data.every(Number.isFinite), `${o.name} is finite`)
})

t.test('a write refused before its body was read closes the connection instead of reading 500 MB', async (t) => {
  const app = await build(t, { CALSERVE_ADMIN_TOKENS: 'ops:ops-secret-1' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await new Promise<void>((r) => socket.once('connect', () => r()))
  socket.on('error', () => {})
  let answer = ''
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')))
  const closed = new Promise<void>((r) => socket.once('close', () => r()))
  socket.write(`PUT /v1/models/tiny/calibration HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${500 * 2 ** 20}\r\n\r\n`)
  // Keep sending, as a client uploading 500 MB does, until the server hangs up (or 3 s pass).
  const chunk = Buffer.alloc(64 * 1024, 0x20)
  let sent = 0
  let gone = false
  void closed.then(() => (gone = true))
  const end = Date.now() + 3000
  while (!gone && Date.now() < end) {
    if (socket.write(chunk)) sent += chunk.length
    else await new Promise((r) => setTimeout(r, 5))
    if (sent % (1 << 20) === 0) await new Promise((r) => setImmediate(r))
  }
  t.match(answer, /^HTTP\/1\.1 401/, `the answer is the 401: ${answer.slice(0, 200)}`)
  t.match(answer, /connection: close/i, 'saying the connection closes')
  t.ok(gone, `the server closed the connection (after ${(sent / 2 ** 20).toFixed(0)} MiB sent)`)
})

t.test('a token in the query string is not logged; two Authorization headers are refused', async (t) => {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString())
      cb()
    },
  })
  const config = testConfig(t, { CALSERVE_API_TOKENS: 'app:app-secret-1', CALSERVE_LOG_LEVEL: 'info' })
  const app = await buildApp(config, { logger: { ...loggerOptions(config), stream } })
  t.teardown(() => app.close())
  await app.ready()
  await app.modelsLoaded
  await app.inject({ method: 'GET', url: '/v1/models?token=app-secret-1&access_token=app-secret-1&api_key=app-secret-1&page=2' })
  const log = lines.join('')
  t.notMatch(log, /app-secret-1/, 'the token appears nowhere in the log')
  t.match(log, /token=\[redacted\]/)
  t.match(log, /page=2/, 'other parameters stay')

  // light-my-request sends an array as repeated header lines.
  const two = await app.inject({
    method: 'GET',
    url: '/v1/models',
    headers: { authorization: ['Bearer app-secret-1', 'Bearer other-token-x'] as unknown as string },
  })
  t.equal(two.statusCode, 400)
  t.match(two.json().error.message, /more than one Authorization header/)
  t.equal((await app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: 'Bearer app-secret-1' } })).statusCode, 200)
})
