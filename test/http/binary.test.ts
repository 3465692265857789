// Binary tensors: raw little-endian float32 bodies for predict and fit give the same answers as JSON.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, FIXTURE_MODELS, linearLogits } from '../helper.js'

const weights = JSON.parse(readFileSync(join(FIXTURE_MODELS, 'tiny/weights.json'), 'utf8'))['2'] as { W: number[][]; b: number[] }
const f32 = (rows: number[][]) => Buffer.from(new Float32Array(rows.flat()).buffer)
const octet = { 'content-type': 'application/octet-stream' }

t.test('binary predict equals JSON predict; options in the query string', async (t) => {
  const app = await build(t)
  await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: 0.75 } })
  const inputs = [
    [1, 0, 0],
    [0, 0.5, -1],
    [-1.25, 2, 0.125],
  ]
  const json = await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs, top_k: 2, return_logits: true } })
  const bin = await app.inject({ method: 'POST', url: '/v1/models/tiny/predict?top_k=2&return_logits=true', headers: octet, payload: f32(inputs) })
  t.equal(bin.statusCode, 200, bin.body)
  t.same(bin.json(), json.json())
  t.same(
    bin.json().predictions.map((p: { logits: number[] }) => p.logits),
    inputs.map((x) => linearLogits(weights, x)),
    'raw logits are the model’s',
  )
  const raw = await app.inject({ method: 'POST', url: '/v1/models/tiny/predict?calibrated=false', headers: octet, payload: f32(inputs) })
  t.equal(raw.json().calibration.applied, false)
})

t.test('bad binary bodies are refused with the reason', async (t) => {
  const app = await build(t)
  const cases: Array<[string, Buffer, string, RegExp]> = [
    ['not a whole sample', Buffer.alloc(10), '', /10 bytes.*3 float32 \(12 bytes\)/],
    ['empty', Buffer.alloc(0), '', /empty/],
    ['NaN', Buffer.from(new Float32Array([1, Number.NaN, 0, 0, 0, 0]).buffer), '', /sample 0 contains NaN/],
    ['Infinity in the second sample', Buffer.from(new Float32Array([1, 2, 3, 0, Infinity, 0]).buffer), '', /sample 1 contains Infinity/],
    ['bad top_k', f32([[1, 2, 3]]), '?top_k=0', /top_k/],
    ['top_k above the classes', f32([[1, 2, 3]]), '?top_k=5', /top_k is 5 but the model has 4 classes/],
    ['bad boolean', f32([[1, 2, 3]]), '?calibrated=yes', /calibrated/],
  ]
  for (const [name, body, query, message] of cases) {
    const res = await app.inject({ method: 'POST', url: `/v1/models/tiny/predict${query}`, headers: octet, payload: body })
    t.equal(res.statusCode, 400, `${name}: ${res.body}`)
    t.equal(res.json().error.code, 'CALSERVE_BAD_INPUT', name)
    t.match(res.json().error.message, message, name)
  }
})

t.test('binary fit with labels in the query or a header equals the JSON fit', async (t) => {
  const app = await build(t)
  const inputs: number[][] = []
  const labels: string[] = []
  const names = ['cat', 'dog', 'bird', 'fish']
  for (let i = 0; i < 40; i++) {
    inputs.push([((i * 7) % 17) / 8 - 1, ((i * 5) % 11) / 8 - 0.5, ((i * 3) % 13) / 8 - 0.75])
    labels.push(names[(i * 11) % 4]!)
  }
  const json = (await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: { inputs, labels, dry_run: true } })).json()
  const byQuery = await app.inject({
    method: 'POST',
    url: `/v1/models/tiny/calibration/fit?dry_run=true&labels=${labels.join(',')}`,
    headers: octet,
    payload: f32(inputs),
  })
  t.equal(byQuery.statusCode, 200, byQuery.body)
  t.equal(byQuery.json().gamma, json.gamma)
  t.same(byQuery.json().metrics, json.metrics)
  const byHeader = await app.inject({
    method: 'POST',
    url: '/v1/models/tiny/calibration/fit',
    headers: { ...octet, 'calserve-labels': labels.map((l) => names.indexOf(l)).join(',') },
    payload: f32(inputs),
  })
  t.equal(byHeader.statusCode, 200, byHeader.body)
  t.equal(byHeader.json().gamma, json.gamma)
  t.equal(byHeader.json().calibration.version, 1)

  const missing = await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', headers: octet, payload: f32(inputs) })
  t.equal(missing.statusCode, 400)
  t.match(missing.json().error.message, /labels/)
  const short = await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit?labels=cat,dog', headers: octet, payload: f32(inputs) })
  t.equal(short.statusCode, 400)
  t.match(short.json().error.message, /more samples than labels has \(2;/, 'streamed: refused as soon as the body outruns its labels')
  const long = await app.inject({
    method: 'POST',
    url: `/v1/models/tiny/calibration/fit?labels=${labels.join(',')},cat`,
    headers: octet,
    payload: f32(inputs),
  })
  t.equal(long.statusCode, 400)
  t.match(long.json().error.message, /holds 40 samples but labels has 41/)
  const history = (await app.inject({ url: '/v1/models/tiny/calibration/history' })).json()
  t.equal(history.versions.length, 1, 'only the one accepted fit was stored')
})
