// `calserve fit --data DIR` (an ImageFolder tree streamed as tar) and `calserve predict --data
// FILE.png | DIR` against a real server on the demo repository, run as the real bin.
import { join, resolve } from 'node:path'
import t from 'tap'
import type { AddressInfo } from 'node:net'
import { build, DEMO_MODELS, testConfig } from '../helper.js'
import { calserve } from './bin.js'

const ROOT = resolve(import.meta.dirname, '../..')
const DATA = join(ROOT, 'examples/fashion/data')

/** The bin against the in-process server at `url`, without colour codes in its output. */
const cli = (args: string[], url: string) => calserve(args, { CALSERVE_URL: url, NO_COLOR: '1' }, ROOT)

t.test('fit --data DIR and predict --data FILE.png|DIR on the fashion demo', async (t) => {
  const app = await build(t, {}, testConfig(t, { CALSERVE_MODEL_REPOSITORY: DEMO_MODELS, CALSERVE_MAX_EVENT_LOOP_DELAY_MS: '0' }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  const fit = await cli(['fit', '--model', 'fashion-finetuned', '--data', join(DATA, 'validation'), '--json'], url)
  t.equal(fit.code, 0, fit.stderr)
  const result = JSON.parse(fit.stdout)
  t.equal(result.n_samples, 400, 'all 400 validation images were sent')
  t.ok(result.calibration.version >= 1, 'and the fitted γ stored')
  t.ok(result.gamma > 0, `γ ${result.gamma} > 0: the absent classes were under-scored`)

  const one = await cli(['predict', '--model', 'fashion-finetuned', '--data', join(DATA, 'test/bag/0009.png'), '--json'], url)
  t.equal(one.code, 0, one.stderr)
  t.equal(JSON.parse(one.stdout).predictions.length, 1)

  const dir = await cli(['predict', '--model', 'fashion-finetuned', '--data', join(DATA, 'test')], url)
  t.equal(dir.code, 0, dir.stderr)
  t.match(dir.stdout, /400 samples · fashion-finetuned v1 · calibration 1/)
  t.match(dir.stdout, /accuracy \d+\.\d% \(\d+\/400\)/)
  t.comment(dir.stdout.trim().split('\n').slice(-2).join(' | '))
})

t.test('predict sends images in groups that keep the JSON body under the 4 MiB JSON predict limit', async (t) => {
  const { imageChunks } = await import('../../src/cli/predict.js')
  const sizes = (files: Array<{ size: number }>) => [...imageChunks(files)].map((c) => c.map((f) => f.size))
  const KiB = 1024
  // 32 at most by count
  t.same(
    sizes(Array.from({ length: 70 }, () => ({ size: 1 }))).map((c) => c.length),
    [32, 32, 6],
  )
  // 2 MiB at most by bytes (base64 makes it 2.7 MiB of JSON), a larger image alone
  t.same(sizes([{ size: 1500 * KiB }, { size: 600 * KiB }, { size: 400 * KiB }, { size: 3000 * KiB }, { size: 1 }]), [
    [1500 * KiB],
    [600 * KiB, 400 * KiB],
    [3000 * KiB],
    [1],
  ])
})
