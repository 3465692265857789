// End to end: a real server process on the demo models and a real SQLite file, driven by the real
// `calserve` bin.
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import { tempDir } from '../helper.js'
import { freePort } from '../support/ports.js'
import { calserve, startDemoServer } from './bin.js'

const ROOT = resolve(import.meta.dirname, '../..')
const VAL = join(ROOT, 'examples/digits/data/val.ndjson')
const TEST_CSV = join(ROOT, 'examples/digits/data/test.csv')
const MODEL = 'digits-finetuned'

const csvRows =
  readFileSync(TEST_CSV, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '').length - 1

t.test('without a server: help, usage errors, a refused connection', async (t) => {
  const [help, fitHelp, bad, none, refused] = await Promise.all([
    calserve(['--help']),
    calserve(['fit', '--help']),
    calserve(['predict', '--model', MODEL, '--nope']),
    calserve(['fit', '--data', VAL]),
    freePort().then((port) => calserve(['models'], { CALSERVE_URL: `http://127.0.0.1:${port}` }).then((r) => ({ ...r, port }))),
  ])
  t.equal(help.code, 0)
  t.match(help.stdout, /^usage: calserve <command>/)
  t.match(help.stdout, /\bfit\b.*\n.*openapi/s)
  t.equal(fitHelp.code, 0)
  t.match(fitHelp.stdout, /^usage: calserve fit --model NAME --data FILE/)
  t.equal(bad.code, 2, 'an unknown option is a usage error')
  t.match(bad.stderr, /calserve predict: Unknown option '--nope'[\s\S]*usage: calserve predict/)
  t.equal(none.code, 2)
  t.match(none.stderr, /--model is required/)
  t.equal(refused.code, 1)
  t.match(refused.stderr, `calserve: cannot connect to http://127.0.0.1:${refused.port}: connection refused`)
})

t.test('openapi --out writes the document: 2-space JSON and a final newline', async (t) => {
  const out = join(tempDir(t), 'sub', 'openapi.json')
  const r = await calserve(['openapi', '--out', out])
  t.equal(r.code, 0, r.stderr)
  const text = readFileSync(out, 'utf8')
  const doc = JSON.parse(text)
  t.equal(text, `${JSON.stringify(doc, null, 2)}\n`)
  t.equal(doc.openapi, '3.0.3')
  t.ok(doc.paths['/v1/models/{name}/calibration/fit'], 'the fit route is in it')
})

t.test('against a real server', async (t) => {
  const url = await startDemoServer(t)
  const cli = (args: string[]) => calserve(args, { CALSERVE_URL: url })
  const calibration = async () => (await fetch(`${url}/v1/models/${MODEL}/calibration`)).json() as Promise<{ version: number; gamma: number }>

  t.test('models lists the demo models', async (t) => {
    const r = await cli(['models'])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /^NAME\s+VERSION\s+STATE\s+PROVIDER\s+CALIBRATION\s+γ$/m)
    t.match(r.stdout, new RegExp(`^${MODEL}\\s+1\\s+READY\\s+cpu\\s+0 \\(none\\)\\s+0\\.0000$`, 'm'))
    const json = await cli(['models', '--json'])
    t.same(
      JSON.parse(json.stdout)
        .models.map((m: { name: string }) => m.name)
        .sort(),
      ['digits-finetuned', 'digits-pretrained', 'fashion-finetuned', 'fashion-pretrained'],
    )
  })

  t.test('fit streams val.ndjson and prints the γ the server stored', async (t) => {
    const r = await cli(['fit', '--model', MODEL, '--data', VAL, '--note', 'from the cli test'])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /^metric\s+uncalibrated\s+active\s+fitted$/m)
    t.match(r.stdout, /^Acc_U\/Y\s+\d+\.\d%\s+\d+\.\d%\s+\d+\.\d%$/m)
    t.match(r.stdout, /^AUSUC\s+0\.\d{4}\s+0\.\d{4}\s+0\.\d{4}$/m)
    t.match(r.stdout, /^samples\s+180 \(/m)
    const printed = Number(/^γ\s+(\S+)$/m.exec(r.stdout)?.[1])
    const stored = await calibration()
    t.equal(printed, stored.gamma, 'the printed γ is the stored one')
    t.not(stored.gamma, 0)
    t.match(r.stdout, new RegExp(`^stored\\s+calibration version ${stored.version}$`, 'm'))
    t.match(r.stderr, /uploading val\.ndjson: 100%/, 'progress, plain off a terminal')
    const models = await cli(['models'])
    t.match(models.stdout, new RegExp(`^${MODEL}\\s+1\\s+READY\\s+cpu\\s+${stored.version} \\(sweep\\)`, 'm'))
  })

  t.test('fit --dry-run --json on a csv converts it on the fly and stores nothing', async (t) => {
    const before = await calibration()
    const r = await cli(['fit', '--model', MODEL, '--data', TEST_CSV, '--dry-run', '--json', '--objective', 'harmonic_mean'])
    t.equal(r.code, 0, r.stderr)
    const body = JSON.parse(r.stdout)
    t.equal(body.n_samples, csvRows)
    t.equal(body.objective, 'harmonic_mean')
    t.equal(body.calibration, undefined)
    t.same(await calibration(), before, 'nothing stored')
  })

  t.test('fit --async follows the job to its result', async (t) => {
    const r = await cli(['fit', '--model', MODEL, '--data', VAL, '--async', '--dry-run', '--method', 'alg'])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stderr, /fitting: 100% \(180 of 180\)/)
    t.match(r.stdout, /^method\s+alg, samples fine_tuning$/m)
    t.match(r.stdout, /^stored\s+dry run: nothing stored$/m)
  })

  t.test('predict --limit 5 on the csv: five marked lines and the accuracy', async (t) => {
    const r = await cli(['predict', '--model', MODEL, '--data', TEST_CSV, '--limit', '5'])
    t.equal(r.code, 0, r.stderr)
    const lines = r.stdout.split('\n').filter((l) => /^\s+\d+\s/.test(l))
    t.equal(lines.length, 5)
    for (const l of lines) t.match(l, /^\s+\d+\s+\d\s+[01]\.\d{4}\s+\d\s+[✓✗]$/)
    const right = lines.filter((l) => l.endsWith('✓')).length
    t.match(r.stdout, new RegExp(`^accuracy \\d+\\.\\d% \\(${right}/5\\)$`, 'm'))
    t.match(r.stdout, /^5 samples · digits-finetuned v1 · calibration \d+ \(γ /m)
  })

  t.test('predict --input one sample, --json', async (t) => {
    const sample = readFileSync(TEST_CSV, 'utf8').split('\n')[1]!.split(',').slice(0, 64).map(Number)
    const r = await cli(['predict', '--model', MODEL, '--input', JSON.stringify(sample), '--json', '--top-k', '3'])
    t.equal(r.code, 0, r.stderr)
    const body = JSON.parse(r.stdout)
    t.equal(body.predictions.length, 1)
    t.equal(body.predictions[0].top_k.length, 3)
  })

  t.test('errors: an unknown model, a bad line the server finds, a label the model lacks', async (t) => {
    const dir = tempDir(t)
    const badLine = join(dir, 'bad.ndjson')
    writeFileSync(badLine, `${readFileSync(VAL, 'utf8').split('\n')[0]}\n{"input":[1,2],"label":"3"}\n`)
    const badLabel = join(dir, 'bad.csv')
    const csv = readFileSync(TEST_CSV, 'utf8').split('\n')
    writeFileSync(badLabel, [csv[0], csv[1], csv[2]!.replace(/,\d+$/, ',cat')].join('\n'))
    const [fitUnknown, predictUnknown, serverBad, clientBad] = await Promise.all([
      cli(['fit', '--model', 'no-such-model', '--data', VAL]),
      cli(['predict', '--model', 'no-such-model', '--data', TEST_CSV]),
      cli(['fit', '--model', MODEL, '--data', badLine]),
      cli(['fit', '--model', MODEL, '--data', badLabel]),
    ])
    for (const r of [fitUnknown, predictUnknown]) {
      t.equal(r.code, 1)
      t.match(r.stderr, /^calserve: CALSERVE_MODEL_NOT_FOUND: model 'no-such-model'/m)
      t.equal(r.stdout, '')
    }
    t.equal(serverBad.code, 1)
    t.match(serverBad.stderr, /calserve: CALSERVE_BAD_INPUT: line 2 input holds 2 numbers/)
    t.equal(clientBad.code, 1)
    t.match(clientBad.stderr, `calserve: ${badLabel}:3: 'cat' is not a label of model '${MODEL}'`)
  })
})
