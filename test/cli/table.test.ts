// What the CLI prints: tables, number formats, the fit report, the models table, plain progress.
import t from 'tap'
import type { FitResponse } from '../../src/api/fit.js'
import { fitReport } from '../../src/cli/fit.js'
import type { ModelInfo } from '../../src/cli/http.js'
import { errorFromAnswer } from '../../src/cli/http.js'
import { modelsTable } from '../../src/cli/models.js'
import { Progress } from '../../src/cli/progress.js'
import { formatBytes, formatFixed, formatPairs, formatPercent, formatTable } from '../../src/cli/table.js'

t.test('formatTable pads columns, aligns right where asked, and rules the header', async (t) => {
  const text = formatTable(
    ['name', 'γ'],
    [
      ['a', '1.5'],
      ['longer', '—'],
    ],
    ['left', 'right'],
  )
  t.equal(text, ['name      γ', '──────  ───', 'a       1.5', 'longer    —', ''].join('\n'))
  t.equal(
    formatPairs([
      ['γ', '2'],
      ['temperature', '1'],
    ]),
    'γ            2\ntemperature  1\n',
  )
})

t.test('number formats', async (t) => {
  t.equal(formatPercent(0.93406), '93.4%')
  t.equal(formatPercent(1), '100.0%')
  t.equal(formatPercent(0), '0.0%')
  t.equal(formatPercent(null), '—')
  t.equal(formatPercent(undefined), '—')
  t.equal(formatFixed(0.651438), '0.6514')
  t.equal(formatFixed(null), '—')
  t.equal(formatBytes(999), '999 B')
  t.equal(formatBytes(1536), '1.5 kB')
  t.equal(formatBytes(79_000_000), '79 MB')
})

const metrics = (over: Partial<FitResponse['metrics']['fitted']> = {}): FitResponse['metrics']['fitted'] => ({
  acc_s_y: 0.9340659340659341,
  acc_u_y: 0.0898876404494382,
  acc_y_y: 0.5166666666666667,
  acc_s_s: 0.9340659340659341,
  acc_u_u: 0.7303370786516854,
  harmonic_mean: 0.16399372965151332,
  balanced_accuracy: 0.5111111111111111,
  ausuc: 0.6514384491912582,
  ...over,
})

const response = (over: Partial<FitResponse> = {}): FitResponse => ({
  gamma: 8.841255709528923,
  temperature: 1,
  method: 'sweep',
  objective: 'accuracy',
  n_samples: 180,
  n_fine_tuning: 91,
  n_absent: 89,
  n_ignored: 0,
  metrics: { uncalibrated: metrics(), active: metrics(), fitted: metrics({ acc_u_y: 0.6067415730337079, acc_y_y: null }) },
  curve: [],
  ...over,
})

t.test('fitReport: the metrics table, then γ, temperature, samples and what was stored', async (t) => {
  const text = fitReport(response())
  t.equal(
    text,
    [
      'metric             uncalibrated  active  fitted',
      '─────────────────  ────────────  ──────  ──────',
      'Acc_S/Y                   93.4%   93.4%   93.4%',
      'Acc_U/Y                    9.0%    9.0%   60.7%',
      'Acc_Y/Y                   51.7%   51.7%       —',
      'Acc_S/S                   93.4%   93.4%   93.4%',
      'Acc_U/U                   73.0%   73.0%   73.0%',
      'harmonic mean             16.4%   16.4%   16.4%',
      'balanced accuracy         51.1%   51.1%   51.1%',
      'AUSUC                    0.6514  0.6514  0.6514',
      '',
      'γ            8.841255709528923',
      'temperature  1',
      'samples      180 (91 fine-tuning, 89 absent)',
      'method       sweep, objective accuracy',
      'stored       dry run: nothing stored',
      '',
    ].join('\n'),
  )
  t.equal(Number(/^γ\s+(\S+)$/m.exec(text)![1]), 8.841255709528923, 'γ is printed in full, so it reads back exactly')
})

t.test('fitReport: NLL and ECE rows when present, alg, a stored version', async (t) => {
  const r = response({
    method: 'alg',
    n_ignored: 89,
    temperature: 1.25,
    metrics: { uncalibrated: metrics({ nll: 1.23456, ece: 0.0512 }), active: metrics({ nll: null, ece: null }), fitted: metrics({ nll: 0.5, ece: 0.01 }) },
    calibration: {
      model: 'm',
      model_version: 1,
      version: 3,
      gamma: 8.8,
      temperature: 1.25,
      method: 'alg',
      objective: null,
      source_version: null,
      created_at: null,
      created_by: null,
      note: null,
      n_samples: 180,
      digest: null,
      metrics: null,
      alg_samples: 'fine_tuning',
      conformal: null,
      reference: null,
    },
  })
  const text = fitReport(r)
  t.match(text, /^NLL\s+1\.2346\s+—\s+0\.5000$/m)
  t.match(text, /^ECE\s+5\.1%\s+—\s+1\.0%$/m)
  t.match(text, /^samples\s+180 \(91 fine-tuning, 89 absent, 89 ignored\)$/m)
  t.match(text, /^method\s+alg$/m)
  t.match(text, /^temperature\s+1\.25$/m)
  t.match(text, /^stored\s+calibration version 3$/m)
  t.notMatch(fitReport(response()), /NLL|ECE/, 'no NLL or ECE rows when the server sent none')
})

t.test('fitReport: a reference column, the floors, conformal thresholds (null is +∞), coverage and set size', async (t) => {
  const reference = { acc_s_y: 0.396, acc_u_y: 0.427, acc_y_y: 0.411, harmonic_mean: 0.411, balanced_accuracy: 0.412, ausuc: 0.2878 }
  const text = fitReport(
    response({
      metrics: { uncalibrated: metrics(), active: metrics(), fitted: metrics(), reference },
      reference: { model: 'digits-pretrained', version: 1 },
      constraints: { min_acc_s_y: 0.9, min_acc_u_y: 0.427 },
      temperature_bound: 'upper',
      conformal: {
        alpha: 0.1,
        score: 'lac',
        by: 'group',
        qhat_s: 0.79099,
        qhat_u: null,
        too_small: true,
        coverage: { overall: 0.911, s: 0.912, u: null },
        mean_set_size: 1.914,
      },
    }),
  )
  t.match(text, /^metric\s+uncalibrated\s+active\s+fitted\s+reference$/m)
  t.match(text, /^Acc_U\/Y\s+\S+\s+\S+\s+\S+\s+42\.7%$/m)
  t.match(text, /^Acc_S\/S\s+\S+\s+\S+\s+\S+\s+—$/m, 'a metric the reference does not report is —')
  t.match(text, /^AUSUC\s+\S+\s+\S+\s+\S+\s+0\.2878$/m)
  t.match(text, /^temperature\s+1 \(clamped at the upper bound\)$/m)
  t.match(text, /^reference\s+digits-pretrained version 1$/m)
  t.match(text, /^constraints\s+Acc_S\/Y ≥ 90\.0% \(0\.9\), Acc_U\/Y ≥ 42\.7% \(0\.427\)$/m)
  t.match(text, /^conformal\s+α 0\.1, score lac, by group: q̂_S 0\.7910, q̂_U \+∞ \(the set is too small for this α: every class in every set\)$/m)
  t.match(text, /^coverage\s+91\.1% \(fine-tuning 91\.2%, absent —\)$/m)
  t.match(text, /^mean set size\s+1\.91$/m)
  t.notMatch(fitReport(response()), /reference|conformal|constraints/, 'none of it for a plain fit')
})

t.test('modelsTable lists name, version, state, provider, calibration and γ; FAILED reasons below', async (t) => {
  const base = {
    labels: ['a', 'b'],
    fine_tuning_classes: ['a'],
    absent_classes: ['b'],
    input: null,
    output: null,
    execution_provider_fallback: null,
    description: null,
  }
  const models: ModelInfo[] = [
    {
      ...base,
      name: 'digits',
      version: 2,
      state: 'READY',
      execution_provider: 'cpu',
      calibration: {
        model: 'digits',
        model_version: 2,
        version: 4,
        gamma: 8.841255,
        temperature: 1,
        method: 'sweep',
        objective: 'accuracy',
        source_version: null,
        created_at: null,
        created_by: null,
        note: null,
        n_samples: 1,
        digest: null,
        metrics: null,
        alg_samples: null,
        conformal: null,
        reference: null,
      },
    },
    { ...base, name: 'broken', version: null, state: 'FAILED', reason: 'no model.onnx', execution_provider: null, calibration: null },
  ]
  t.equal(
    modelsTable(models),
    [
      'NAME    VERSION  STATE   PROVIDER  CALIBRATION       γ',
      '──────  ───────  ──────  ────────  ───────────  ──────',
      'digits        2  READY   cpu       4 (sweep)    8.8413',
      'broken        —  FAILED  —         —                 —',
      '',
      'broken: no model.onnx',
      '',
    ].join('\n'),
  )
})

t.test('an error body becomes CODE: message; anything else names the status', async (t) => {
  const e = errorFromAnswer(404, { error: { code: 'CALSERVE_MODEL_NOT_FOUND', message: "model 'x' is not in the repository" } }, '')
  t.equal(e.message, "CALSERVE_MODEL_NOT_FOUND: model 'x' is not in the repository")
  t.equal(e.exitCode, 1)
  t.equal(errorFromAnswer(502, undefined, '<html>bad gateway</html>').message, 'HTTP_502: <html>bad gateway</html>')
})

t.test('Progress off a terminal: a line per quarter and a final line', async (t) => {
  const lines: string[] = []
  const p = new Progress({ label: 'uploading x', unit: 'bytes', total: 4000, stream: { write: (s: string) => lines.push(s) } })
  for (let done = 0; done <= 4000; done += 500) p.update(done)
  p.finish()
  p.finish()
  t.equal(lines.length, 4)
  t.same(lines.slice(0, 3), ['uploading x: 25% (1.0 kB of 4.0 kB)\n', 'uploading x: 50% (2.0 kB of 4.0 kB)\n', 'uploading x: 75% (3.0 kB of 4.0 kB)\n'])
  t.match(lines[3], /^uploading x: 100% \(4\.0 kB of 4\.0 kB\), \d+\.\d s\n$/)
})

t.test('Progress on a terminal redraws one line in place', async (t) => {
  const out: string[] = []
  const p = new Progress({ label: 'fitting', unit: 'items', total: 10, stream: { isTTY: true, write: (s: string) => out.push(s) } })
  p.update(5)
  p.finish()
  t.match(out[0], /^\rfitting █{12}░{12} 50% \(5 of 10\)\x1b\[K$/)
  t.match(out.at(-1), /^\rfitting █{12}░{12} 50% \(5 of 10\) {2}\d+\.\d s\x1b\[K\n$/, 'the final state, its time, and a newline')
})
