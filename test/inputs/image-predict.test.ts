// Predict on images through every transport — a PNG body, multipart file parts, JSON base64, REST
// v2 BYTES (JSON and binary) — gives the same logits as the same images sent as tensors computed
// here with the formula; bad images are 400s naming the image, in every transport.
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, DEMO_MODELS, FIXTURE_MODELS, testConfig } from '../helper.js'
import { expectedTensor, image, pixelsOf } from './image-helpers.js'

const MODEL = 'fashion-finetuned'
const TEST = resolve(import.meta.dirname, '../../examples/fashion/data/test')
const files = ['coat', 'bag', 'sneaker'].map((label) => join(label, readdirSync(join(TEST, label)).sort()[0]!))
const pngs = files.map((f) => readFileSync(join(TEST, f)))

function multipart(parts: Array<{ name: string; filename?: string; type?: string; body: Buffer | string }>) {
  const boundary = '----calserve-test-boundary'
  const chunks: Buffer[] = []
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}`
    chunks.push(Buffer.from(`--${boundary}\r\ncontent-disposition: ${disposition}\r\n${p.type ? `content-type: ${p.type}\r\n` : ''}\r\n`))
    chunks.push(Buffer.isBuffer(p.body) ? p.body : Buffer.from(p.body))
    chunks.push(Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}

function bytesTensor(items: Buffer[]): Buffer {
  return Buffer.concat(items.flatMap((b) => [Buffer.from(Uint32Array.of(b.byteLength).buffer), b]))
}

const logitsOf = (body: { predictions: Array<{ logits: number[] }> }) => body.predictions.map((p) => p.logits)

async function app(t: { teardown(fn: () => unknown): void }): Promise<FastifyInstance> {
  return build(t, {}, testConfig(t, { CALSERVE_MODEL_REPOSITORY: DEMO_MODELS }))
}

t.test('every transport gives the same predictions as the tensors', async (t) => {
  const server = await app(t)
  const url = `/v1/models/${MODEL}/predict`
  const inputs = await Promise.all(
    files.map(async (f) => Array.from(expectedTensor(await pixelsOf(join('../../../examples/fashion/data/test', f)), { rescale: 1 / 255, mean: [0.286], std: [0.353], layout: 'nchw' }))),
  )
  const tensors = await server.inject({ method: 'POST', url, payload: { inputs, return_logits: true, top_k: 3 } })
  t.equal(tensors.statusCode, 200)
  const want = logitsOf(tensors.json())

  const json = await server.inject({ method: 'POST', url, payload: { images: pngs.map((b) => b.toString('base64')), return_logits: true, top_k: 3 } })
  t.equal(json.statusCode, 200, json.body)
  t.same(logitsOf(json.json()), want, 'JSON images (base64)')
  t.same(json.json().predictions.map((p: { top_k: unknown }) => p.top_k), tensors.json().predictions.map((p: { top_k: unknown }) => p.top_k), 'same top_k')

  for (let i = 0; i < pngs.length; i++) {
    const one = await server.inject({ method: 'POST', url: `${url}?return_logits=true&top_k=3`, headers: { 'content-type': 'image/png' }, payload: pngs[i] })
    t.equal(one.statusCode, 200, one.body)
    t.same(logitsOf(one.json()), [want[i]], `image/png body ${files[i]}`)
  }

  const form = multipart([...pngs.map((b, i) => ({ name: `file${i}`, filename: files[i], type: 'image/png', body: b })), { name: 'return_logits', body: 'true' }, { name: 'top_k', body: '3' }])
  const multi = await server.inject({ method: 'POST', url, ...form })
  t.equal(multi.statusCode, 200, multi.body)
  t.same(logitsOf(multi.json()), want, 'multipart file parts')

  const v2json = await server.inject({
    method: 'POST',
    url: `/v2/models/${MODEL}/infer`,
    payload: { inputs: [{ name: 'pixels', datatype: 'BYTES', shape: [3], data: pngs.map((b) => b.toString('base64')) }], parameters: { calibrated: false } },
  })
  t.equal(v2json.statusCode, 200, v2json.body)
  const raw = await server.inject({ method: 'POST', url, payload: { inputs, return_logits: true, calibrated: false } })
  const rawLogits = logitsOf(raw.json()).flat()
  const v2logits = (v2json.json().outputs as Array<{ name: string; data: number[] }>).find((o) => o.name === 'logits')!.data
  t.same(v2logits.map(Math.fround), rawLogits.map(Math.fround), 'v2 BYTES (JSON, base64 elements)')

  const blob = bytesTensor(pngs)
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'pixels', datatype: 'BYTES', shape: [3], parameters: { binary_data_size: blob.byteLength } }], parameters: { calibrated: false } }))
  const v2bin = await server.inject({
    method: 'POST',
    url: `/v2/models/${MODEL}/infer`,
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.byteLength) },
    payload: Buffer.concat([header, blob]),
  })
  t.equal(v2bin.statusCode, 200, v2bin.body)
  t.same((v2bin.json().outputs as Array<{ name: string; data: number[] }>).find((o) => o.name === 'logits')!.data.map(Math.fround), rawLogits.map(Math.fround), 'v2 BYTES (binary tensor data)')

  const meta = (await server.inject(`/v2/models/${MODEL}`)).json()
  t.same(meta.inputs, [{ name: 'pixels', datatype: 'FP32', shape: [-1, 1, 28, 28] }, { name: 'pixels', datatype: 'BYTES', shape: [-1] }], 'metadata advertises BYTES')
})

t.test('BAD CALL - bad images are 400s naming the image, in every transport', async (t) => {
  const server = await app(t)
  const url = `/v1/models/${MODEL}/predict`
  const bad = image('truncated.png')
  const json = await server.inject({ method: 'POST', url, payload: { images: [pngs[0]!.toString('base64'), bad.toString('base64')] } })
  t.equal(json.statusCode, 400)
  t.match(json.json().error, { code: 'CALSERVE_BAD_INPUT', message: /^images\[1\] cannot be decoded/, details: { image: 'images[1]' } })
  const notB64 = await server.inject({ method: 'POST', url, payload: { images: ['not base64!'] } })
  t.match(notB64.json().error.message, /^images\[0\] is not valid base64/)

  const body = await server.inject({ method: 'POST', url, headers: { 'content-type': 'image/png' }, payload: image('animated.webp') })
  t.equal(body.statusCode, 400)
  t.match(body.json().error.message, /^the image \(body\) is animated/)

  const form = multipart([{ name: 'shirt', filename: 'shirt.tiff', type: 'image/tiff', body: image('image.tiff') }])
  const multi = await server.inject({ method: 'POST', url, ...form })
  t.equal(multi.statusCode, 400)
  t.match(multi.json().error.message, /^part 'shirt' \(shirt.tiff\) is TIFF, a format calserve does not accept/)

  const v2 = await server.inject({ method: 'POST', url: `/v2/models/${MODEL}/infer`, payload: { inputs: [{ name: 'pixels', datatype: 'BYTES', shape: [1], data: [image('not_image.txt').toString('base64')] }] } })
  t.equal(v2.statusCode, 400)
  t.match(v2.json().error, /^input 'pixels' element 0 is not an image/)

  const both = await server.inject({ method: 'POST', url, payload: { images: [], inputs: [] } })
  t.equal(both.statusCode, 400)
})

t.test('BAD CALL - a model without an image block refuses images, saying why', async (t) => {
  const server = await build(t, {}, testConfig(t, { CALSERVE_MODEL_REPOSITORY: FIXTURE_MODELS }))
  const res = await server.inject({ method: 'POST', url: '/v1/models/tiny/predict', headers: { 'content-type': 'image/png' }, payload: pngs[0] })
  t.equal(res.statusCode, 400)
  t.match(res.json().error.message, /model 'tiny' takes tensors, not images/)
  const v2 = await server.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: { inputs: [{ name: 'x', datatype: 'BYTES', shape: [1], data: ['aGk='] }] } })
  t.equal(v2.statusCode, 400)
  t.match(v2.json().error, /datatype BYTES/)
})
