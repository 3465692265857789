// The image block at model load: checked against the input shape (a mismatch FAILS the model with
// the reason), read from Hugging Face's preprocessor_config.json when model.json has none, and
// said in the model's info.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, copyFixtures, testConfig } from '../helper.js'

function withImage(dir: string, image: unknown) {
  const file = join(dir, 'image', 'model.json')
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  writeFileSync(file, JSON.stringify({ ...manifest, image }))
}

t.test('an image block that fits the input: READY, and the info says where it came from', async (t) => {
  const dir = copyFixtures(t, ['image'])
  withImage(dir, { size: { height: 2, width: 2 }, image_mean: [0.5], image_std: [0.5] })
  const app = await build(t, {}, testConfig(t, { CALSERVE_MODEL_REPOSITORY: dir }))
  const info = (await app.inject('/v1/models/image')).json()
  t.equal(info.state, 'READY')
  t.match(info.image, { source: 'model.json', color: 'grayscale', layout: 'nchw', preprocessing: { size: { height: 2, width: 2 }, resample: 'bilinear' } })
})

t.test('BAD CALL - an image block that does not fit the input FAILS the model with the reason', async (t) => {
  const dir = copyFixtures(t, ['image'])
  withImage(dir, { size: { height: 3, width: 3 } })
  const app = await build(t, {}, testConfig(t, { CALSERVE_MODEL_REPOSITORY: dir }))
  const info = (await app.inject('/v1/models/image')).json()
  t.equal(info.state, 'FAILED')
  t.match(info.reason, /image block \(model.json\) does not fit input shape \[1, 2, 2\]: the block makes 3×3 images \(size\) but the input takes 2×2/)
})

t.test("Hugging Face's preprocessor_config.json beside model.json is read into the block", async (t) => {
  const dir = copyFixtures(t, ['image'])
  writeFileSync(
    join(dir, 'image', 'preprocessor_config.json'),
    JSON.stringify({ image_processor_type: 'ViTImageProcessor', do_resize: true, size: { height: 2, width: 2 }, resample: 3, do_normalize: true, image_mean: [0.5], image_std: [0.25], do_rescale: true, rescale_factor: 0.00392156862745098 }),
  )
  const app = await build(t, {}, testConfig(t, { CALSERVE_MODEL_REPOSITORY: dir }))
  const info = (await app.inject('/v1/models/image')).json()
  t.equal(info.state, 'READY')
  t.match(info.image, { source: 'preprocessor_config.json', preprocessing: { resample: 'bicubic', image_std: [0.25] } })
})

t.test('BAD CALL - an unusable preprocessor_config.json FAILS the model naming the file', async (t) => {
  const dir = copyFixtures(t, ['image'])
  writeFileSync(join(dir, 'image', 'preprocessor_config.json'), JSON.stringify({ size: { height: 2, width: 2 }, resample: 4 }))
  const app = await build(t, {}, testConfig(t, { CALSERVE_MODEL_REPOSITORY: dir }))
  const info = (await app.inject('/v1/models/image')).json()
  t.equal(info.state, 'FAILED')
  t.match(info.reason, /preprocessor_config.json: resample 4 \(box\) is not one calserve applies/)
})
