// /health/live, /health/ready and /metrics.
import t from 'tap'
import { build } from '../helper.js'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Parses the Prometheus text exposition into samples (comments skipped). */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line)
    if (!m) throw new Error(`unparseable metrics line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!
    out.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return out
}

function find(samples: Sample[], name: string, labels: Record<string, string>): Sample | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
}

t.test('live and ready', async (t) => {
  const app = await build(t)
  const live = await app.inject({ url: '/health/live' })
  t.equal(live.statusCode, 200)
  t.same(live.json(), { live: true })
  const ready = await app.inject({ url: '/health/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), {
    ready: true,
    models: { image: 'READY', tiny: 'READY', two_outputs: 'READY' },
    store: { kind: 'sqlite', state: 'open' },
  })
})

t.test('metrics: requests by route and model, batch sizes, calibration gauges', async (t) => {
  const app = await build(t)
  const scrape = async () => {
    const res = await app.inject({ url: '/metrics' })
    t.equal(res.statusCode, 200)
    t.match(String(res.headers['content-type']), /^text\/plain/)
    return parseMetrics(res.body)
  }
  const route = '/v1/models/:name/predict'
  const before = await scrape()
  t.equal(find(before, 'calserve_requests_total', { route, model: 'tiny' }), undefined, 'no predict counted yet')
  t.match(find(before, 'calserve_calibration_version', { model: 'tiny', model_version: '2' }), { value: 0 })
  t.match(find(before, 'calserve_calibration_gamma', { model: 'tiny', model_version: '2' }), { value: 0 })

  const n = 3
  const pred = await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: Array(n).fill([1, 2, 3]) } })
  t.equal(pred.statusCode, 200)
  await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: [[1, 2]] } })
  await app.inject({ method: 'POST', url: '/v1/models/no-such-model/predict', payload: { inputs: [[1, 2, 3]] } })
  const gamma = -0.0625
  t.equal((await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma } })).statusCode, 200)

  const after = await scrape()
  t.match(find(after, 'calserve_requests_total', { route, method: 'POST', model: 'tiny', status: '200' }), { value: 1 }, 'one 200 predict on tiny')
  t.match(find(after, 'calserve_requests_total', { route, method: 'POST', model: 'tiny', status: '400' }), { value: 1 }, 'one 400 predict on tiny')
  t.match(find(after, 'calserve_requests_total', { route, model: '', status: '404' }), { value: 1 }, 'an unknown model name is not a label value')
  t.notOk(after.some((s) => s.labels.model === 'no-such-model'), 'no series for the unknown name')
  t.match(find(after, 'calserve_requests_total', { route: '/v1/models/:name/calibration', method: 'PUT', model: 'tiny', status: '200' }), { value: 1 })
  t.match(find(after, 'calserve_inference_batch_samples_count', { model: 'tiny' }), { value: 1 }, 'one onnxruntime run (the bad one never ran)')
  t.match(find(after, 'calserve_inference_batch_samples_sum', { model: 'tiny' }), { value: n }, 'of n samples')
  t.match(find(after, 'calserve_inference_duration_seconds_count', { model: 'tiny' }), { value: 1 })
  t.match(find(after, 'calserve_calibration_version', { model: 'tiny', model_version: '2' }), { value: 1 })
  t.match(find(after, 'calserve_calibration_gamma', { model: 'tiny', model_version: '2' }), { value: gamma })
  t.match(find(after, 'calserve_calibration_version', { model: 'image', model_version: '1' }), { value: 0 })
})
