// return_sets on image bodies (issue 15 §2): after a conformal fit on images of the Fashion-MNIST
// demo, a PNG body (return_sets in the query string) and multipart file parts (a return_sets field)
// answer the sets that JSON base64 images do.
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import { pack } from 'tar-stream'
import { build, DEMO_MODELS, testConfig } from '../helper.js'

const MODEL = 'fashion-finetuned'
const DATA = resolve(import.meta.dirname, '../../examples/fashion/data')
const URL = `/v1/models/${MODEL}/predict`
const every = (dir: string, k: number) =>
  readdirSync(dir)
    .sort()
    .flatMap((label) =>
      readdirSync(join(dir, label))
        .sort()
        .map((f) => `${label}/${f}`),
    )
    .filter((_, i) => i % k === 0)

async function tarOf(names: string[], dir: string): Promise<Buffer> {
  const p = pack()
  const chunks: Buffer[] = []
  p.on('data', (c: unknown) => chunks.push(c as Buffer))
  const done = new Promise<void>((r) => p.on('end', () => r()))
  for (const name of names) p.entry({ name }, readFileSync(join(dir, name)))
  p.finalize()
  await done
  return Buffer.concat(chunks)
}

function multipart(parts: Array<{ name: string; filename?: string; type?: string; body: Buffer | string }>) {
  const boundary = '----calserve-sets-boundary'
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

t.test('image bodies: return_sets in the query string and as a multipart field', async (t) => {
  const app = await build(t, {}, testConfig(t, { CALSERVE_MODEL_REPOSITORY: DEMO_MODELS, CALSERVE_MAX_EVENT_LOOP_DELAY_MS: '0' }))
  const val = join(DATA, 'validation')
  const fit = await app.inject({
    method: 'POST',
    url: `/v1/models/${MODEL}/calibration/fit?conformal_alpha=0.2`,
    headers: { 'content-type': 'application/x-tar' },
    payload: await tarOf(every(val, 3), val),
  })
  t.equal(fit.statusCode, 200, fit.body.slice(0, 300))

  const test = join(DATA, 'test')
  const pngs = every(test, 40).map((f) => readFileSync(join(test, f)))
  t.ok(pngs.length >= 5, `${pngs.length} test images`)
  const json = await app.inject({ method: 'POST', url: URL, payload: { images: pngs.map((b) => b.toString('base64')), return_sets: true } })
  t.equal(json.statusCode, 200, json.body.slice(0, 300))
  const sets = (json.json() as { predictions: Array<{ prediction_set: unknown }> }).predictions.map((p) => p.prediction_set)
  t.ok(
    sets.every((s) => Array.isArray(s)),
    'JSON images: every prediction has a set',
  )

  for (let i = 0; i < pngs.length; i++) {
    const one = await app.inject({ method: 'POST', url: `${URL}?return_sets=true`, headers: { 'content-type': 'image/png' }, payload: pngs[i] })
    t.equal(one.statusCode, 200, one.body.slice(0, 300))
    t.same(one.json().predictions[0].prediction_set, sets[i], `image/png body ${i}: the same set`)
  }
  const form = multipart([
    ...pngs.map((b, i) => ({ name: `file${i}`, filename: `${i}.png`, type: 'image/png', body: b })),
    { name: 'return_sets', body: 'true' },
  ])
  const multi = await app.inject({ method: 'POST', url: URL, ...form })
  t.equal(multi.statusCode, 200, multi.body.slice(0, 300))
  t.same(
    (multi.json() as { predictions: Array<{ prediction_set: unknown }> }).predictions.map((p) => p.prediction_set),
    sets,
    'multipart with a return_sets field: the same sets',
  )
  const bad = await app.inject({
    method: 'POST',
    url: URL,
    ...multipart([
      { name: 'f', filename: 'a.png', type: 'image/png', body: pngs[0]! },
      { name: 'return_sets', body: 'maybe' },
    ]),
  })
  t.equal(bad.statusCode, 400, 'a return_sets field that is not a boolean')
})
