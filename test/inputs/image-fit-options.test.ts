// The fit options of issue 15 on an image set (a tar, options in the query string): the
// pre-trained Fashion-MNIST demo model runs over the same images as reference, its metrics are
// those of its own predict on them, and the "reference" floor and conformal sets apply.
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import { pack } from 'tar-stream'
import { build, DEMO_MODELS, testConfig } from '../helper.js'

const MODEL = 'fashion-finetuned'
const VAL = resolve(import.meta.dirname, '../../examples/fashion/data/validation')
// Every third image of the validation split: enough samples of S and U, and quick.
const files = readdirSync(VAL)
  .sort()
  .flatMap((label) =>
    readdirSync(join(VAL, label))
      .sort()
      .map((f) => ({ label, path: `${label}/${f}` })),
  )
  .filter((_, i) => i % 3 === 0)

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

t.test('a tar with reference_model, a "reference" floor and conformal_* in the query', async (t) => {
  const app = await build(t, {}, testConfig(t, { CALSERVE_MODEL_REPOSITORY: DEMO_MODELS, CALSERVE_MAX_EVENT_LOOP_DELAY_MS: '0' }))
  const url = `/v1/models/${MODEL}/calibration/fit`
  const images = files.map((f) => readFileSync(join(VAL, f.path)))
  const json = await app.inject({
    method: 'POST',
    url: '/v1/models/fashion-pretrained/predict',
    payload: { images: images.map((b) => b.toString('base64')), calibrated: false, return_logits: true },
  })
  t.equal(json.statusCode, 200, json.body.slice(0, 300))

  const tar = await tarOf(files.map((f) => ({ name: f.path, body: readFileSync(join(VAL, f.path)) })))
  const query = 'dry_run=true&reference_model=fashion-pretrained&min_acc_u_y=reference&conformal_alpha=0.1&conformal_by=group'
  const res = await app.inject({ method: 'POST', url: `${url}?${query}`, headers: { 'content-type': 'application/x-tar' }, payload: tar })
  t.equal(res.statusCode, 200, res.body.slice(0, 300))
  const fit = res.json()
  t.same(fit.reference, { model: 'fashion-pretrained', version: 1 })
  t.equal(fit.constraints.min_acc_u_y, fit.metrics.reference.acc_u_y)
  t.ok(fit.metrics.fitted.acc_u_y >= fit.metrics.reference.acc_u_y)
  t.match(fit.conformal, { alpha: 0.1, score: 'lac', by: 'group' })

  // The reference's metrics from its own predict on the same images: Acc_Y/Y is its accuracy.
  const right = (json.json().predictions as Array<{ label: string }>).filter((p, i) => p.label === files[i]!.label).length
  t.equal(fit.metrics.reference.acc_y_y, right / files.length, 'reference Acc_Y/Y is the pre-trained model’s own accuracy on the images')
})
