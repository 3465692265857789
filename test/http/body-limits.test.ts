// Issue 18 item 17: every route answers 413 past its own body limit, not the global one — the v1
// predict route without its own limit answered 200 to a 1,212-byte body under a 1,024-byte
// CALSERVE_PREDICT_BODY_LIMIT_BYTES. Each case sends a body a little past the route's limit and
// far below every other one (413), then the same body to an app whose limits are all large (not
// 413), so the 413 can only be that limit's. The streamed fit sets are sent over a real connection
// too, chunked and with a Content-Length: a chunked ndjson set past the limit was answered with a
// reset (the reader destroyed the request, and with it the socket) instead of its 413.
import { cpSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { binaryRequest } from './v2/conformance.js'
import { build, DEMO_MODELS, FIXTURE_MODELS, tempDir } from '../helper.js'

const LIMIT = 2048
const LARGE = String(8 * 1024 * 1024)
const FIT = '/v1/models/tiny/calibration/fit'

/** tiny (3 inputs, 4 classes) and the fashion demo model (images), nothing else to load. */
function repository(t: Parameters<typeof tempDir>[0]): string {
  const dir = tempDir(t, 'calserve-models-')
  cpSync(join(FIXTURE_MODELS, 'tiny'), join(dir, 'tiny'), { recursive: true })
  cpSync(join(DEMO_MODELS, 'fashion-finetuned'), join(dir, 'fashion-finetuned'), { recursive: true })
  return dir
}

function multipart(name: string, body: Buffer) {
  const boundary = '----calserve-limit-boundary'
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${name}"; filename="x.png"\r\ncontent-type: image/png\r\n\r\n`),
    body,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ])
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}

/** `n` tiny samples, spelled with many digits so that few make a body past LIMIT. */
const samples = (n: number) => Array.from({ length: n }, (_, i) => [0.123456789, -0.987654321, i % 2 ? 0.5 : -0.5])
const ndjson = (n: number) => samples(n).map((input, i) => `${JSON.stringify({ input, label: i % 4 })}\n`)
const png = readFileSync(join(DEMO_MODELS, '../examples/fashion/data/test/coat/0002.png'))
// A PNG past LIMIT: the same image with a private ancillary chunk a decoder skips (CRC left 0: sharp ignores ancillary CRCs)
const paddedPng = (() => {
  const chunk = Buffer.alloc(12 + LIMIT)
  chunk.writeUInt32BE(LIMIT, 0)
  chunk.write('prIv', 4, 'latin1')
  return Buffer.concat([png.subarray(0, 33), chunk, png.subarray(33)])
})()

interface Case {
  what: string
  /** The variable whose limit this is; every other limit stays large. */
  limit: string
  method: 'POST' | 'PUT'
  url: string
  headers: Record<string, string>
  payload: string | Buffer
}

const f32 = Buffer.from(Float32Array.from(samples(200).flat()).buffer)
const cases: Case[] = [
  {
    what: 'v1 predict, JSON',
    limit: 'CALSERVE_PREDICT_JSON_BODY_LIMIT_BYTES',
    method: 'POST',
    url: '/v1/models/tiny/predict',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ inputs: samples(80) }),
  },
  {
    what: 'v1 predict, float32',
    limit: 'CALSERVE_PREDICT_BODY_LIMIT_BYTES',
    method: 'POST',
    url: '/v1/models/tiny/predict',
    headers: { 'content-type': 'application/octet-stream' },
    payload: f32,
  },
  {
    what: 'v1 predict, a PNG body',
    limit: 'CALSERVE_PREDICT_BODY_LIMIT_BYTES',
    method: 'POST',
    url: '/v1/models/fashion-finetuned/predict',
    headers: { 'content-type': 'image/png' },
    payload: paddedPng,
  },
  {
    what: 'v1 predict, a multipart image part',
    limit: 'CALSERVE_PREDICT_BODY_LIMIT_BYTES',
    method: 'POST',
    url: '/v1/models/fashion-finetuned/predict',
    ...multipart('image', paddedPng),
  },
  ...['/v2/models/tiny/infer', '/v2/models/tiny/versions/2/infer'].flatMap((url): Case[] => [
    {
      what: `${url}, JSON`,
      limit: 'CALSERVE_PREDICT_JSON_BODY_LIMIT_BYTES',
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ inputs: [{ name: 'x', shape: [80, 3], datatype: 'FP32', data: samples(80).flat() }] }),
    },
    {
      what: `${url}, binary tensor data`,
      limit: 'CALSERVE_PREDICT_BODY_LIMIT_BYTES',
      method: 'POST',
      url,
      ...binaryRequest({ inputs: [{ name: 'x', shape: [200, 3], datatype: 'FP32', parameters: { binary_data_size: f32.length } }] }, [f32]),
    },
  ]),
  {
    what: 'fit, JSON',
    limit: 'CALSERVE_FIT_JSON_BODY_LIMIT_BYTES',
    method: 'POST',
    url: FIT,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ inputs: samples(80), labels: samples(80).map((_, i) => i % 4), dry_run: true }),
  },
  {
    what: 'fit, ndjson',
    limit: 'CALSERVE_FIT_BODY_LIMIT_BYTES',
    method: 'POST',
    url: `${FIT}?dry_run=true`,
    headers: { 'content-type': 'application/x-ndjson' },
    payload: ndjson(80).join(''),
  },
  {
    what: 'fit, float32',
    limit: 'CALSERVE_FIT_BODY_LIMIT_BYTES',
    method: 'POST',
    url: `${FIT}?dry_run=true&labels=${samples(200)
      .map((_, i) => i % 4)
      .join(',')}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: f32,
  },
  {
    what: 'PUT calibration (the global limit)',
    limit: 'CALSERVE_BODY_LIMIT_BYTES',
    method: 'PUT',
    url: '/v1/models/tiny/calibration',
    headers: { 'content-type': 'application/json' },
    payload: `{"gamma": 0.5, "note": "${'n'.repeat(1500)}"}${' '.repeat(LIMIT)}`,
  },
]

const LIMITS = [
  'CALSERVE_PREDICT_BODY_LIMIT_BYTES',
  'CALSERVE_PREDICT_JSON_BODY_LIMIT_BYTES',
  'CALSERVE_FIT_BODY_LIMIT_BYTES',
  'CALSERVE_FIT_JSON_BODY_LIMIT_BYTES',
  'CALSERVE_BODY_LIMIT_BYTES',
]

async function app(t: Parameters<typeof tempDir>[0], small?: string): Promise<FastifyInstance> {
  return build(t, { CALSERVE_MODEL_REPOSITORY: repository(t), ...Object.fromEntries(LIMITS.map((v) => [v, v === small ? String(LIMIT) : LARGE])) })
}

t.test('every route answers 413 past its own limit, and not under large limits', async (t) => {
  const large = await app(t)
  const small = new Map<string, FastifyInstance>()
  for (const v of LIMITS) small.set(v, await app(t, v))
  for (const c of cases) {
    const size = Buffer.byteLength(c.payload)
    t.ok(size > LIMIT && size < 4 * LIMIT, `${c.what}: ${size} bytes, a little past ${LIMIT}`)
    const refused = await small.get(c.limit)!.inject({ method: c.method, url: c.url, headers: c.headers, payload: c.payload })
    t.equal(refused.statusCode, 413, `${c.what} under ${c.limit}=${LIMIT}: ${refused.body.slice(0, 160)}`)
    // v2 answers its protocol's error body, {"error": message}
    if (!c.url.startsWith('/v2/')) t.equal(refused.json<{ error?: { code?: string } }>().error?.code, 'CALSERVE_PAYLOAD_TOO_LARGE', c.what)
    const accepted = await large.inject({ method: c.method, url: c.url, headers: c.headers, payload: c.payload })
    t.equal(accepted.statusCode, 200, `${c.what} under large limits: ${accepted.body.slice(0, 160)}`)
  }
  // Every route with a limit of its own is among the cases, so a new one can't be missed.
  const covered = new Set(
    cases.map(
      (c) =>
        `${c.method} ${c.url.split('?')[0]!.replace('/tiny/', '/:name/').replace('/fashion-finetuned/', '/:name/').replace('/versions/2/', '/versions/:version/')}`,
    ),
  )
  for (const r of large.routeTable.filter((r) => r.bodyLimit !== undefined)) t.ok(covered.has(`${r.method} ${r.url}`), `${r.method} ${r.url} has a case`)
})

interface Answer {
  status: number
  code?: string
}

/** Sends `chunk` repeatedly (`total` bytes) over a real connection, chunked unless `withLength`; resolves with the answer or the transport error. */
function stream(port: number, path: string, type: string, chunk: Buffer, total: number, withLength: boolean): Promise<Answer | { error: string }> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'content-type': type, ...(withLength ? { 'content-length': String(total) } : {}) }
    const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => {
        // The answer is in: stop sending, as a client does.
        req.destroy()
        resolve({ status: res.statusCode!, code: (JSON.parse(body) as { error?: { code: string } }).error?.code })
      })
    })
    req.on('error', (err) => resolve({ error: err.message }))
    let sent = 0
    const more = () => {
      while (sent < total) {
        sent += chunk.length
        if (!req.write(chunk)) return void req.once('drain', more)
      }
      req.end()
    }
    more()
  })
}

t.test('streamed fit sets past the fit limit get their 413 over a real connection, chunked or not', async (t) => {
  const limited = await build(t, { CALSERVE_FIT_BODY_LIMIT_BYTES: String(64 * 1024) })
  await limited.listen({ host: '127.0.0.1', port: 0 })
  const port = (limited.server.address() as AddressInfo).port
  const line = Buffer.from(ndjson(1)[0]!)
  const fourLabels = Buffer.from(ndjson(4).join(''))
  const f32Sample = Buffer.from(Float32Array.of(0.25, 0.5, 0.75).buffer)
  // 6,000 samples of 12 bytes, past the limit, with labels that fit in a URL
  const labels = Array.from({ length: 6000 }, (_, i) => i % 4).join(',')
  for (const withLength of [false, true]) {
    const how = withLength ? 'with a Content-Length' : 'chunked'
    // 4 × the limit, far past it
    t.same(await stream(port, FIT, 'application/x-ndjson', line, 256 * 1024, withLength), { status: 413, code: 'CALSERVE_PAYLOAD_TOO_LARGE' }, `ndjson, ${how}`)
    t.same(
      await stream(port, `${FIT}?labels=${labels}`, 'application/octet-stream', f32Sample, 6000 * 12, withLength),
      { status: 413, code: 'CALSERVE_PAYLOAD_TOO_LARGE' },
      `float32, ${how}`,
    )
  }
  // Under the limit the same way of sending is fitted.
  t.same(
    await stream(port, `${FIT}?dry_run=true`, 'application/x-ndjson', fourLabels, fourLabels.length * 100, false),
    { status: 200, code: undefined },
    'ndjson under the limit, chunked',
  )
  t.same(await limited.store.history('tiny', 2), [], 'nothing was stored')
})
