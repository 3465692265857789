// `calserve fit` with the options of issue 15, end to end: the real bin against a real server
// process on the demo models; what it prints is what the server computed and stored.
import { join, resolve } from 'node:path'
import t from 'tap'
import { calserve, startDemoServer } from './bin.js'

const ROOT = resolve(import.meta.dirname, '../..')
const VAL = join(ROOT, 'examples/digits/data/val.ndjson')
const MODEL = 'digits-finetuned'

const REFERENCE = 'digits-pretrained'
const pct = (x: number) => `${(x * 100).toFixed(1)}%`

t.test('usage errors before anything is sent', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--constraint', 'min_acc_y_y=0.5'], /--constraint takes FLOOR=VALUE/],
    [['--constraint', 'min_acc_u_y'], /--constraint takes FLOOR=VALUE/],
    [['--constraint', 'min_acc_u_y=1.5'], /rate in \[0, 1\] or "reference"/],
    [['--constraint', 'min_acc_u_y=0.1', '--constraint', 'min_acc_u_y=0.2'], /given twice/],
    [['--conformal-alpha', '1'], /--conformal-alpha must be a number in \(0, 1\)/],
    [['--conformal-alpha', '0.1', '--conformal-score', 'raps'], /--conformal-score must be one of lac, aps/],
    [['--alg-samples', 'some'], /--alg-samples must be one of fine_tuning, all/],
  ]
  const runs = await Promise.all(cases.map(([args]) => calserve(['fit', '--model', MODEL, '--data', VAL, ...args], { CALSERVE_URL: 'http://127.0.0.1:9' })))
  runs.forEach((r, i) => {
    t.equal(r.code, 2, `${cases[i]![0].join(' ')}: ${r.stderr}`)
    t.match(r.stderr, cases[i]![1])
  })
})

t.test('against a real server', async (t) => {
  const url = await startDemoServer(t)
  const cli = (args: string[]) => calserve(args, { CALSERVE_URL: url })

  t.test('--constraint min_acc_u_y=reference --reference-model --conformal-alpha: printed, stored', async (t) => {
    const args = ['fit', '--model', MODEL, '--data', VAL, '--constraint', 'min_acc_u_y=reference', '--constraint', 'min_acc_s_y=0.9']
    const more = ['--reference-model', REFERENCE, '--conformal-alpha', '0.1', '--conformal-by', 'group']
    const json = await cli([...args, ...more, '--json', '--dry-run'])
    t.equal(json.code, 0, json.stderr)
    const fit = JSON.parse(json.stdout)
    t.same(fit.reference, { model: REFERENCE, version: 1 })
    t.same(fit.constraints, { min_acc_s_y: 0.9, min_acc_u_y: fit.metrics.reference.acc_u_y })
    t.ok(fit.metrics.fitted.acc_s_y >= 0.9 && fit.metrics.fitted.acc_u_y >= fit.metrics.reference.acc_u_y, 'both floors met')
    t.match(fit.conformal, { alpha: 0.1, score: 'lac', by: 'group' })

    const r = await cli([...args, ...more])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /^metric\s+uncalibrated\s+active\s+fitted\s+reference$/m)
    t.match(r.stdout, new RegExp(`^Acc_U/Y\\s+\\S+\\s+\\S+\\s+${pct(fit.metrics.fitted.acc_u_y)}\\s+${pct(fit.metrics.reference.acc_u_y)}$`, 'm'))
    t.match(r.stdout, new RegExp(`^reference\\s+${REFERENCE} version 1$`, 'm'))
    t.match(r.stdout, new RegExp(`^constraints\\s+Acc_S/Y ≥ 90\\.0% \\(0\\.9\\), Acc_U/Y ≥ ${pct(fit.metrics.reference.acc_u_y)}`, 'm'))
    t.match(r.stdout, /^conformal\s+α 0\.1, score lac, by group: q̂_S \d\.\d{4}, q̂_U \d\.\d{4}$/m)
    t.match(
      r.stdout,
      new RegExp(
        `^coverage\\s+${pct(fit.conformal.coverage.overall)} \\(fine-tuning ${pct(fit.conformal.coverage.s)}, absent ${pct(fit.conformal.coverage.u)}\\)$`,
        'm',
      ),
    )
    t.match(r.stdout, new RegExp(`^mean set size\\s+${fit.conformal.mean_set_size.toFixed(2)}$`, 'm'))
    t.match(r.stdout, /^stored\s+calibration version 1$/m)
    const record = await (await fetch(`${url}/v1/models/${MODEL}/calibration`)).json()
    t.equal(record.gamma, fit.gamma)
    t.same(record.conformal, { alpha: 0.1, score: 'lac', by: 'group', qhat_s: fit.conformal.qhat_s, qhat_u: fit.conformal.qhat_u })
    t.same(record.reference, { model: REFERENCE, version: 1, metrics: fit.metrics.reference })
  })

  t.test('--method alg --alg-samples all', async (t) => {
    const r = await cli(['fit', '--model', MODEL, '--data', VAL, '--method', 'alg', '--alg-samples', 'all'])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /^method\s+alg, samples all$/m)
    t.equal((await (await fetch(`${url}/v1/models/${MODEL}/calibration`)).json()).alg_samples, 'all')
  })

  t.test('an infeasible floor exits 1 with CALSERVE_INFEASIBLE and stores nothing', async (t) => {
    const before = (await (await fetch(`${url}/v1/models/${MODEL}/calibration`)).json()).version
    const r = await cli(['fit', '--model', MODEL, '--data', VAL, '--constraint', 'min_acc_s_y=0.99', '--constraint', 'min_acc_u_y=0.99'])
    t.equal(r.code, 1)
    t.match(r.stderr, /CALSERVE_INFEASIBLE: no γ meets min_acc_[su]_y = 0\.99: the best Acc_[SU]\/Y attainable on this set is 0\.\d+/)
    t.equal((await (await fetch(`${url}/v1/models/${MODEL}/calibration`)).json()).version, before)
  })
})
