// `calserve import` on a fixture folder written in the formats of a Hugging Face export
// (test/fixtures/hf-export): the repository entry it writes loads, serves images with the
// preprocessing of preprocessor_config.json, and the refusals say why.
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import sharp from 'sharp'
import { importCommand } from '../../src/cli/import.js'
import { build, tempDir, testConfig } from '../helper.js'

const EXPORT = resolve(import.meta.dirname, '../fixtures/hf-export')
const W = [[1, -0.5, 0.25, 0], [0.5, 1, -0.25, 0.125], [-0.75, 0.25, 0.5, 1]]
const B = [0.125, -0.25, 0, 0.5]

async function rejectionOf(p: Promise<unknown>): Promise<Error | undefined> {
  return p.then(() => undefined, (e: Error) => e)
}

t.test('imports an export as version 1, then 2; the entry serves images', async (t) => {
  const repo = tempDir(t)
  await importCommand.run([EXPORT, '--name', 'vit-pets', '--fine-tuning-classes', 'cat,dog', '--repository', repo])
  const manifest = JSON.parse(readFileSync(join(repo, 'vit-pets', 'model.json'), 'utf8'))
  t.same(manifest.labels, ['cat', 'dog', 'bird', 'fish'], 'labels from id2label in index order')
  t.same(manifest.input, { name: 'pixel_values', shape: [3, 8, 8], dtype: 'float32' })
  t.same(manifest.image, { size: { height: 8, width: 8 }, resample: 'bilinear', rescale_factor: 0.00392156862745098, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] })
  await importCommand.run([EXPORT, '--name', 'vit-pets', '--fine-tuning-classes', 'cat,dog', '--repository', repo])
  t.ok(readFileSync(join(repo, 'vit-pets', '2', 'model.onnx')).length > 0, 'a second import is version 2')

  const app = await build(t, {}, testConfig(t, { CALSERVE_MODEL_REPOSITORY: repo }))
  const info = (await app.inject('/v1/models/vit-pets')).json()
  t.equal(info.state, 'READY', info.reason)
  t.same(info.absent_classes, ['bird', 'fish'])
  // A uniform 8×8 image of (r, g, b): pooled channel k is ((p_k/255) − 0.5)/0.5 exactly, logits = pooled·W + b.
  const rgb = [200, 40, 120]
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: rgb[0]!, g: rgb[1]!, b: rgb[2]! } } }).png().toBuffer()
  const res = await app.inject({ method: 'POST', url: '/v1/models/vit-pets/predict?return_logits=true&calibrated=false', headers: { 'content-type': 'image/png' }, payload: png })
  t.equal(res.statusCode, 200, res.body)
  const f = Math.fround
  const x = rgb.map((p) => f(f(f(p * 0.00392156862745098) - 0.5) / 0.5))
  const want = B.map((b, j) => x.reduce((acc, xi, i) => acc + xi * W[i]![j]!, b))
  const got = res.json().predictions[0].logits as number[]
  t.ok(got.every((v, j) => Math.abs(v - want[j]!) < 1e-5), `logits ${got.join(', ')} ≈ ${want.join(', ')}`)
})

t.test('BAD CALL - refuses clearly when id2label is missing or does not match the output', async (t) => {
  const dir = tempDir(t)
  cpSync(EXPORT, dir, { recursive: true })
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))
  const repo = tempDir(t)
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, id2label: undefined }))
  t.match(await rejectionOf(importCommand.run([dir, '--name', 'x', '--fine-tuning-classes', 'cat', '--repository', repo])), { message: /config.json has no id2label/ })
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, id2label: { 0: 'a', 1: 'b', 2: 'c', 3: 'd', 4: 'e' } }))
  t.match(await rejectionOf(importCommand.run([dir, '--name', 'x', '--fine-tuning-classes', 'a', '--repository', repo])), {
    message: /id2label has 5 labels but model.onnx's output has 4 columns/,
  })
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config))
  t.match(await rejectionOf(importCommand.run([dir, '--name', 'x', '--fine-tuning-classes', 'cat,horse', '--repository', repo])), { message: /fine_tuning_classes.*'horse' is not one of labels/ })
})
