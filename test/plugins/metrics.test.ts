// /metrics follows Prometheus conventions: the process and Node.js metrics under their standard
// names, calserve's own under calserve_, counters and only counters ending in _total, units as
// suffixes; and shed requests are counted by reason.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, copyFixtures, until } from '../helper.js'
import { TINY_X } from '../http/expected.js'
import { families } from './exposition.js'

const predict = { inputs: [TINY_X[0]] }

t.test('names: standard process and Node.js families, calserve_ for the rest, _total only on counters', async (t) => {
  const app = await build(t)
  await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: predict })
  const fams = families((await app.inject({ url: '/metrics' })).body)
  for (const name of [
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'process_start_time_seconds',
    'nodejs_eventloop_lag_seconds',
    'nodejs_heap_size_used_bytes',
    'nodejs_gc_duration_seconds',
  ])
    t.ok(fams.has(name), `${name} under its standard name`)
  t.notOk(
    [...fams.keys()].some((n) => n.includes('process_process') || n.startsWith('calserve_process_') || n.startsWith('calserve_nodejs_')),
    'no doubled or borrowed prefix',
  )
  for (const f of fams.values()) {
    t.ok(/^(process_|nodejs_|calserve_)/.test(f.name), `${f.name}: a known prefix`)
    if (f.type === 'counter') t.match(f.name, /_total$/, `${f.name}: a counter ends in _total`)
    else t.notMatch(f.name, /_total$/, `${f.name}: a ${f.type} does not end in _total`)
  }
  const own = [...fams.values()].filter((f) => f.name.startsWith('calserve_'))
  t.same(own.map((f) => f.name).sort(), [
    'calserve_calibration_gamma',
    'calserve_calibration_version',
    'calserve_inference_batch_samples',
    'calserve_inference_duration_seconds',
    'calserve_queue_duration_seconds',
    'calserve_request_duration_seconds',
    'calserve_requests_total',
    'calserve_shed_requests_total',
  ])
  for (const f of own.filter((x) => x.type === 'histogram')) t.match(f.name, /_(seconds|samples)$/, `${f.name}: the histogram’s unit is its suffix`)
})

t.test('shed requests are counted by reason: a full batching queue, and the process under pressure', async (t) => {
  const repo = copyFixtures(t, ['tiny'])
  const manifest = join(repo, 'tiny', 'model.json')
  writeFileSync(
    manifest,
    JSON.stringify({ ...JSON.parse(readFileSync(manifest, 'utf8')), batching: { max_batch_size: 4, max_queue_delay_ms: 1000, max_queue_size: 1 } }),
  )
  // Event-loop shedding off, so that only the queue sheds here (see test/deploy/grafana.test.ts).
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo, CALSERVE_MAX_EVENT_LOOP_DELAY_MS: '0' })
  const statuses = await Promise.all(
    Array.from({ length: 6 }, () => app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: predict }).then((r) => r.statusCode)),
  )
  const refused = statuses.filter((s) => s === 503).length
  t.ok(refused > 0, `${refused} of 6 refused by the full queue`)
  const text = (await app.inject({ url: '/metrics' })).body
  t.match(text, new RegExp(`calserve_shed_requests_total\\{route="/v1/models/:name/predict",model="tiny",reason="queue"\\} ${refused}\\n`))

  const pressed = await build(t, { CALSERVE_MAX_HEAP_USED_BYTES: '1', CALSERVE_MAX_EVENT_LOOP_DELAY_MS: '0' })
  let status = 0
  t.ok(
    await until(async () => (status = (await pressed.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: predict })).statusCode) === 503, 5000),
    'under pressure a predict is shed',
  )
  t.equal(status, 503)
  t.equal((await pressed.inject({ url: '/health/live' })).statusCode, 200, 'probes still answer')
  t.match(
    (await pressed.inject({ url: '/metrics' })).body,
    /calserve_shed_requests_total\{route="\/v1\/models\/:name\/predict",model="tiny",reason="pressure"\} [1-9]/,
  )
  const v2 = await pressed.inject({
    method: 'POST',
    url: '/v2/models/tiny/infer',
    payload: { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: TINY_X[0] }] },
  })
  t.equal(v2.statusCode, 503, 'v2 infer is shed too, with its own error body')
  t.match(
    (await pressed.inject({ url: '/metrics' })).body,
    /calserve_shed_requests_total\{route="\/v2\/models\/:name\/infer",model="tiny",reason="pressure"\} 1\n/,
    'and counted',
  )
})
