// `calserve predict --sets` through the real bin against a real server on the demo models: before a
// conformal fit the server's 400 in one line; after it each line shows the set, and the summary the
// coverage and mean size of the sets REST answers.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { REPO_ROOT, start, waitReady } from '../e2e/process.js'
import { tempDir } from '../helper.js'
import { calserve } from './bin.js'

const MODEL = 'digits-finetuned'
const DATA = join(REPO_ROOT, 'examples/digits/data')

t.test('calserve predict --sets', async (t) => {
  const server = await start(t, {
    CALSERVE_STORE_URL: `sqlite:${join(tempDir(t), 'calserve.db')}`,
    CALSERVE_MODEL_REPOSITORY: 'models',
    CALSERVE_LOG_LEVEL: 'warn',
    CALSERVE_MAX_EVENT_LOOP_DELAY_MS: '0',
  })
  await waitReady(server)
  const env = { CALSERVE_URL: server.url }
  const args = ['predict', '--model', MODEL, '--data', join(DATA, 'test.ndjson'), '--sets']

  const before = await calserve(args, env)
  t.equal(before.code, 1)
  t.match(before.stderr, /^calserve: CALSERVE_BAD_INPUT: calibration version 0 of model 'digits-finetuned' has no conformal calibration/m)

  const fit = await fetch(`${server.url}/v1/models/${MODEL}/calibration/fit?conformal_alpha=0.1`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: readFileSync(join(DATA, 'val.ndjson')),
  })
  t.equal(fit.status, 200)

  const run = await calserve(args, env)
  t.equal(run.code, 0, run.stderr)
  const lines = run.stdout.trimEnd().split('\n')
  // What REST answers for the same samples: the reference for the lines and the summary.
  const samples = readFileSync(join(DATA, 'test.ndjson'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { input: number[]; label: string })
  const rest = (await (
    await fetch(`${server.url}/v1/models/${MODEL}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: samples.map((s) => s.input), return_sets: true }),
    })
  ).json()) as { predictions: Array<{ prediction_set: Array<{ label: string }> }> }
  const sets = rest.predictions.map((p) => p.prediction_set.map((e) => e.label))
  t.match(lines[1], new RegExp(`set: \\{${sets[0]!.join(', ')}\\}$`), 'each line ends with its set')
  const covered = sets.filter((s, i) => s.includes(samples[i]!.label)).length
  const size = sets.reduce((a, s) => a + s.length, 0) / sets.length
  t.ok(lines.includes(`prediction sets at α 0.1 (lac, marginal): mean size ${size.toFixed(2)}`), `mean size ${size.toFixed(2)}`)
  t.ok(lines.includes(`set coverage ${((100 * covered) / sets.length).toFixed(1)}% (${covered}/${sets.length})`), `coverage ${covered}/${sets.length}`)
  t.match(lines.at(-1), /^accuracy /, 'accuracy stays the last line')
  t.comment(lines.slice(-3).join(' | '))

  const raw = await calserve([...args, '--raw'], env)
  t.equal(raw.code, 2)
  t.match(raw.stderr, /--sets needs the calibrated output/)
})
