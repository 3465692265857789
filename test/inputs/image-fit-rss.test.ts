// A tar of 5,000 images fits with the process's RSS growing by less than 100 MB over its size after
// a warm-up fit: the archive is read as a stream, 32 images are decoded at a time, only logits stay.
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import t from 'tap'
import { pack } from 'tar-stream'
import { build, DEMO_MODELS, testConfig } from '../helper.js'

const VAL = resolve(import.meta.dirname, '../../examples/fashion/data/validation')
const files = readdirSync(VAL).flatMap((label) => readdirSync(join(VAL, label)).map((f) => ({ label, body: readFileSync(join(VAL, label, f)) })))

/** A tar of n images (the validation images, repeated under new names), produced as it is read. */
function tarStream(n: number): Readable {
  const p = pack()
  void (async () => {
    for (let i = 0; i < n; i++) {
      const f = files[i % files.length]!
      await new Promise<void>((r) => p.entry({ name: `${f.label}/${i}.png` }, f.body, () => r()))
    }
    p.finalize()
  })()
  return p as unknown as Readable
}

t.test('5,000 images: RSS grows by less than 100 MB', async (t) => {
  const app = await build(
    t,
    {},
    testConfig(t, { CALSERVE_MODEL_REPOSITORY: DEMO_MODELS, CALSERVE_MAX_EVENT_LOOP_DELAY_MS: '0', CALSERVE_FIT_SYNC_MAX_SAMPLES: '100000' }),
  )
  const fit = (n: number) =>
    app.inject({
      method: 'POST',
      url: '/v1/models/fashion-finetuned/calibration/fit?dry_run=true',
      headers: { 'content-type': 'application/x-tar' },
      payload: tarStream(n),
    })
  const warm = await fit(400)
  t.equal(warm.statusCode, 200)
  global.gc?.()
  const idle = process.memoryUsage().rss
  let peak = idle
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20)
  const t0 = performance.now()
  const res = await fit(5000)
  const seconds = (performance.now() - t0) / 1000
  clearInterval(timer)
  peak = Math.max(peak, process.memoryUsage().rss)
  t.equal(res.statusCode, 200, res.body.slice(0, 200))
  t.equal(res.json().n_samples, 5000)
  const grown = (peak - idle) / 2 ** 20
  t.comment(
    `RSS after warm-up ${(idle / 2 ** 20).toFixed(0)} MiB, peak during the 5,000-image fit +${grown.toFixed(1)} MiB; ${(5000 / seconds).toFixed(0)} images/s`,
  )
  t.ok(grown < 100, `RSS grew by ${grown.toFixed(1)} MiB (< 100)`)
})
