// Held-out check of the conformal sets a fit stores (issue 15 §2), against a running calserve:
// fits γ and conformal sets at α on the validation split, then measures, on the target-domain test
// split, the coverage and mean size of the sets the stored q̂ gives (the model's raw logits from
// predict, the sets from src/calibration's applyConformal with the stored parameters).
//
//   CALSERVE_URL=http://127.0.0.1:8080 npx tsx examples/digits/conformal-heldout.ts [alpha] [score] [by]
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { applyConformal, type ConformalParams } from '../../src/calibration/index.js'

const BASE = process.env.CALSERVE_URL ?? 'http://127.0.0.1:8080'
const MODEL = 'digits-finetuned'
const [alpha = '0.1', score = 'lac', by = 'marginal'] = process.argv.slice(2)
const data = (name: string) => resolve(import.meta.dirname, 'data', name)

async function call(method: string, path: string, body: string, type: string): Promise<any> {
  const res = await fetch(`${BASE}${path}`, { method, body, headers: { 'content-type': type } })
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
  return res.json()
}

const fit = await call(
  'POST',
  `/v1/models/${MODEL}/calibration/fit?dry_run=true&conformal_alpha=${alpha}&conformal_score=${score}&conformal_by=${by}`,
  readFileSync(data('val.ndjson'), 'utf8'),
  'application/x-ndjson',
)
const info = await (await fetch(`${BASE}/v1/models/${MODEL}`)).json()
const labels: string[] = info.labels
const absent = Uint8Array.from(labels, (l) => (info.absent_classes.includes(l) ? 1 : 0))
const test = readFileSync(data('test.ndjson'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as { input: number[]; label: string })
const pred = await call(
  'POST',
  `/v1/models/${MODEL}/predict`,
  JSON.stringify({ inputs: test.map((s) => s.input), calibrated: false, return_logits: true }),
  'application/json',
)
const logits = Float32Array.from(pred.predictions.flatMap((p: { logits: number[] }) => p.logits))
const params: ConformalParams = fit.conformal
const sets = applyConformal({ data: logits, n: test.length, c: labels.length }, absent, { gamma: fit.gamma, temperature: fit.temperature }, params)

const tally = { all: [0, 0, 0], s: [0, 0, 0], u: [0, 0, 0] } // covered, samples, total set size
sets.forEach((set, i) => {
  const y = labels.indexOf(test[i]!.label)
  const covered = set.some((c) => c.index === y) ? 1 : 0
  for (const k of ['all', absent[y] ? 'u' : 's'] as const) {
    tally[k][0]! += covered
    tally[k][1]! += 1
    tally[k][2]! += set.length
  }
})
const pct = (k: keyof typeof tally) => `${((100 * tally[k][0]!) / tally[k][1]!).toFixed(1)}%`
console.log(`α ${alpha}, ${score}, ${by}: γ ${fit.gamma.toFixed(3)}, q̂ ${JSON.stringify({ qhat: params.qhat, qhat_s: params.qhat_s, qhat_u: params.qhat_u })}`)
console.log(
  `validation (${fit.n_samples}): coverage ${(100 * fit.conformal.coverage.overall).toFixed(1)}% (S ${(100 * fit.conformal.coverage.s).toFixed(1)}%, U ${(100 * fit.conformal.coverage.u).toFixed(1)}%), mean set size ${fit.conformal.mean_set_size.toFixed(2)}`,
)
console.log(`test (${test.length}): coverage ${pct('all')} (S ${pct('s')}, U ${pct('u')}), mean set size ${(tally.all[2]! / tally.all[1]!).toFixed(2)}`)
