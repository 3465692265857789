// Fit on image sets: a tar (plain and gzip) of the demo's validation split in ImageFolder layout,
// ndjson {"image", "label"} lines and multipart parts labelled by field name all fit exactly as
// the same set posted as tensors (computed here with the formula); a folder that is not a label
// is a 400 naming it, and nothing is stored.
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { pack } from 'tar-stream'
import { build, DEMO_MODELS, testConfig } from '../helper.js'
import { expectedTensor, pixelsOf } from './image-helpers.js'

const MODEL = 'fashion-finetuned'
const VAL = resolve(import.meta.dirname, '../../examples/fashion/data/validation')
const files = readdirSync(VAL)
  .sort()
  .flatMap((label) =>
    readdirSync(join(VAL, label))
      .sort()
      .map((f) => ({ label, path: `${label}/${f}` })),
  )

async function tarOf(entries: Array<{ name: string; body: Buffer }>): Promise<Buffer> {
  const p = pack()
  const chunks: Buffer[] = []
  p.on('data', (c: unknown) => chunks.push(c as Buffer))
  const done = new Promise<void>((r) => p.on('end', () => r()))
  for (const e of entries) p.entry({ name: e.name }, e.body)
  p.finalize()
  await done
  return Buffer.concat(chunks)
}

function multipart(parts: Array<{ name: string; filename: string; body: Buffer }>) {
  const boundary = '----calserve-fit-boundary'
  const chunks = parts.flatMap((p) => [
    Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${p.name}"; filename="${p.filename}"\r\ncontent-type: image/png\r\n\r\n`),
    p.body,
    Buffer.from('\r\n'),
  ])
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}

const url = `/v1/models/${MODEL}/calibration/fit?dry_run=true`

t.test('a tar of the validation split fits exactly as the same set posted as tensors', async (t) => {
  const app = await build(t, {}, testConfig(t, { CALSERVE_MODEL_REPOSITORY: DEMO_MODELS, CALSERVE_MAX_EVENT_LOOP_DELAY_MS: '0' }))
  const inputs = await Promise.all(
    files.map(async (f) =>
      Array.from(
        expectedTensor(await pixelsOf(join('../../../examples/fashion/data/validation', f.path)), {
          rescale: 1 / 255,
          mean: [0.286],
          std: [0.353],
          layout: 'nchw',
        }),
      ),
    ),
  )
  // As ndjson tensor lines: 400 samples of 784 numbers are past the JSON fit body limit (4 MiB).
  const tensors = await app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-ndjson' },
    payload: inputs.map((input, i) => JSON.stringify({ input, label: files[i]!.label })).join('\n'),
  })
  t.equal(tensors.statusCode, 200, tensors.body.slice(0, 300))
  const want: unknown = tensors.json()
  t.ok(files.length >= 300, `${files.length} images`)

  const entries = files.map((f) => ({ name: `validation/${f.path}`, body: readFileSync(join(VAL, f.path)) }))
  const tar = await tarOf(entries)
  for (const [name, body, type] of [
    ['tar', tar, 'application/x-tar'],
    ['tar.gz', gzipSync(tar), 'application/gzip'],
  ] as const) {
    const res = await app.inject({ method: 'POST', url, headers: { 'content-type': type }, payload: body })
    t.equal(res.statusCode, 200, res.body.slice(0, 300))
    t.same(res.json(), want, `${name}: same γ, metrics and digest as the tensors`)
  }

  const ndjson = entries.map((e, i) => JSON.stringify({ image: e.body.toString('base64'), label: files[i]!.label })).join('\n')
  const nd = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-ndjson' }, payload: ndjson })
  t.equal(nd.statusCode, 200, nd.body.slice(0, 300))
  t.same(nd.json(), want, 'ndjson {"image", "label"}: the same')

  const form = multipart(entries.map((e, i) => ({ name: files[i]!.label, filename: files[i]!.path, body: e.body })))
  const mp = await app.inject({ method: 'POST', url, ...form })
  t.equal(mp.statusCode, 200, mp.body.slice(0, 300))
  t.same(mp.json(), want, 'multipart, field name = label: the same')
})

t.test('BAD CALL - a folder that is not a label, or a bad image, is a 400 naming it; nothing is stored', async (t) => {
  const app = await build(t, {}, testConfig(t, { CALSERVE_MODEL_REPOSITORY: DEMO_MODELS, CALSERVE_MAX_EVENT_LOOP_DELAY_MS: '0' }))
  const png = readFileSync(join(VAL, files[0]!.path))
  const bad = await tarOf([
    { name: 'coat/1.png', body: png },
    { name: 'jacket/2.png', body: png },
  ])
  const res = await app.inject({ method: 'POST', url: `/v1/models/${MODEL}/calibration/fit`, headers: { 'content-type': 'application/x-tar' }, payload: bad })
  t.equal(res.statusCode, 400)
  t.match(res.json().error, {
    code: 'CALSERVE_BAD_INPUT',
    message: /folder 'jacket' \(tar member 'jacket\/2.png'\) is not a label of model 'fashion-finetuned'/,
  })
  const broken = await tarOf([{ name: 'coat/1.png', body: png.subarray(0, 100) }])
  const res2 = await app.inject({
    method: 'POST',
    url: `/v1/models/${MODEL}/calibration/fit`,
    headers: { 'content-type': 'application/x-tar' },
    payload: broken,
  })
  t.equal(res2.statusCode, 400)
  t.match(res2.json().error.message, /^tar member 'coat\/1.png' cannot be decoded/)
  const notTar = await app.inject({
    method: 'POST',
    url: `/v1/models/${MODEL}/calibration/fit`,
    headers: { 'content-type': 'application/x-tar' },
    payload: Buffer.from('hello, not a tar archive at all '.repeat(40)),
  })
  t.equal(notTar.statusCode, 400)
  const wrongField = multipart([{ name: 'jacket', filename: 'x.png', body: png }])
  const res3 = await app.inject({ method: 'POST', url: `/v1/models/${MODEL}/calibration/fit`, ...wrongField })
  t.equal(res3.statusCode, 400)
  t.match(res3.json().error.message, /part 'jacket' \(x.png\): field name 'jacket' is not a label/)
  const history = (await app.inject(`/v1/models/${MODEL}/calibration/history`)).json()
  t.equal(history.versions.filter((v: { version: number }) => v.version > 0).length, 0, 'nothing stored')
})
