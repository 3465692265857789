// deploy/grafana/calserve.json: every metric its queries name is one a running calserve serves,
// with samples, after the traffic a dashboard exists to show (predicts, one shed by a full queue).
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, copyFixtures } from '../helper.js'
import { families } from '../plugins/exposition.js'
import { TINY_X } from '../http/expected.js'
import { REPO_ROOT, type Doc } from './manifests.js'

const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/grafana/calserve.json'), 'utf8')) as Doc

// PromQL words that are not metric names: functions, aggregations and their modifiers.
const PROMQL = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'rate',
  'irate',
  'increase',
  'histogram_quantile',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'label_values',
  'offset',
  'bool',
  'and',
  'or',
  'unless',
  'topk',
  'bottomk',
  'clamp_min',
  'clamp_max',
  'abs',
  'delta',
  'deriv',
  'time',
  'vector',
  'scalar',
  'changes',
  'resets',
])

/** The metric names a PromQL expression (or a label_values() query) reads. */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values, regexes
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, '') // grouping labels
    .replace(/label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*\w+\s*\)/g, '$1') // label_values(metric, label)
  return [...new Set([...bare.matchAll(/[a-zA-Z_:][\w:]*/g)].map((m) => m[0]).filter((w) => !PROMQL.has(w) && !/^\d/.test(w)))]
}

function queries(): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = []
  for (const p of dashboard.panels as Doc[])
    for (const target of p.targets as Doc[]) out.push({ where: `panel "${p.title}" ${target.refId}`, expr: target.expr })
  for (const v of dashboard.templating.list as Doc[])
    if (v.type === 'query') out.push({ where: `variable ${v.name}`, expr: typeof v.query === 'string' ? v.query : v.query.query })
  return out
}

t.test('metricNames reads PromQL as the dashboard writes it', async (t) => {
  t.same(metricNames('histogram_quantile(0.99, sum by (le, route) (rate(calserve_request_duration_seconds_bucket{model=~"$model"}[$__rate_interval])))'), [
    'calserve_request_duration_seconds_bucket',
  ])
  t.same(metricNames('sum by (model) (rate(a_sum[5m])) / sum by (model) (rate(a_count[5m]))'), ['a_sum', 'a_count'])
  t.same(metricNames('label_values(calserve_calibration_version, model)'), ['calserve_calibration_version'])
})

t.test('every metric the dashboard queries is served, with samples', async (t) => {
  const wanted = queries()
  t.ok(wanted.length >= 12, `${wanted.length} queries`)
  const panels = (dashboard.panels as Doc[]).map((p) => p.title as string)
  for (const topic of [/requests/i, /latency/i, /batch/i, /queue/i, /calibration version/i, /γ/, /shed/i])
    t.ok(
      panels.some((p) => topic.test(p)),
      `a panel on ${topic}`,
    )

  // A queue of one sample that waits a second for a batch: the first request is served, those
  // arriving during its wait are shed, and every family has samples.
  const repo = copyFixtures(t, ['tiny', 'image'])
  const manifest = join(repo, 'tiny', 'model.json')
  writeFileSync(
    manifest,
    JSON.stringify({ ...JSON.parse(readFileSync(manifest, 'utf8')), batching: { max_batch_size: 4, max_queue_delay_ms: 1000, max_queue_size: 1 } }),
  )
  // Event-loop shedding off: on a loaded machine under-pressure may shed everything (a sampling
  // interval without samples reads as an infinite delay), and this test wants the queue's shedding.
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo, CALSERVE_MAX_EVENT_LOOP_DELAY_MS: '0' })
  const statuses = await Promise.all(
    Array.from({ length: 8 }, () => app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: [TINY_X[0]] } }).then((r) => r.statusCode)),
  )
  t.ok(statuses.includes(200) && statuses.includes(503), `served and shed: ${statuses.join(' ')}`)
  const served = new Set([...families((await app.inject({ url: '/metrics' })).body).values()].flatMap((f) => f.samples))
  for (const { where, expr } of wanted) {
    const names = metricNames(expr)
    t.ok(names.length > 0, `${where}: names a metric`)
    for (const name of names) t.ok(served.has(name), `${where}: ${name} is in /metrics`)
  }
})
