// The README's "Try it" and "Walk-through" blocks, pasted in that order into bash against a real
// server on the demo models: every command succeeds, the calibration the README quotes after
// "Try it" is the one predict reports, and each accuracy the walk-through's comments promise is
// the one the next predict prints. (`npx calserve` runs as bin/calserve.js, localhost:8080 is the
// test's server, and the commands run in a scratch folder that sees the repository's examples/.)
import { readFileSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { REPO_ROOT, start, waitReady } from '../e2e/process.js'
import { tempDir } from '../helper.js'
import { readmeSection, runReadmeScript } from './readme.js'

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')
const MODEL = 'digits-finetuned'

t.test('the README walk-through is true when pasted in order after "Try it"', async (t) => {
  const dir = tempDir(t, 'calserve-readme-')
  const server = await start(t, { CALSERVE_MODEL_REPOSITORY: 'models', CALSERVE_STORE_URL: `sqlite:${join(dir, 'calserve.db')}`, CALSERVE_LOG_LEVEL: 'warn' })
  await waitReady(server)
  // The scratch folder holds examples/ (a link) and whatever the commands write (curve.svg).
  const work = dir
  symlinkSync(join(REPO_ROOT, 'examples'), join(work, 'examples'))

  const tryIt = await runReadmeScript(readmeSection('## Try it').sh, server.port, work)
  t.equal(tryIt.code, 0, `"Try it" runs: ${tryIt.stderr}`)
  t.notMatch(tryIt.stdout, /"error"/, '"Try it": no request answered an error')

  // The sentence under "Try it" quotes the calibration that predict now applies.
  const quoted = /`"calibration": (\{[^`]*\})`/.exec(README)
  t.ok(quoted, 'the README quotes a predict calibration')
  const sample = JSON.parse(readFileSync(join(REPO_ROOT, 'examples/digits/data/test.ndjson'), 'utf8').split('\n')[0]!).input as number[]
  const predicted = await fetch(`${server.url}/v1/models/${MODEL}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [sample] }),
  }).then((r) => r.json() as Promise<{ calibration: unknown }>)
  let claim: unknown = quoted![1]
  try {
    claim = JSON.parse(quoted![1]!)
  } catch {
    // Not JSON ("8.84…"): compared as the text it is, so the failure shows it.
  }
  t.same(predicted.calibration, claim, 'the calibration quoted under "Try it" is the one served after it')

  const walk = readmeSection('### Walk-through').sh
  const result = await runReadmeScript(walk, server.port, work)
  t.equal(result.code, 0, `the walk-through runs: ${result.stderr}`)
  // Each "Predict …: NN.N%" comment promises what the predict after it prints.
  const promised = [...walk.matchAll(/^# Predict[^\n]*?(\d+\.\d)%/gm)].map((m) => `${m[1]}%`)
  const printed = [...result.stdout.matchAll(/^accuracy (\d+\.\d%)/gm)].map((m) => m[1])
  t.same(promised, ['50.5%', '67.3%'], 'the walk-through promises the table’s uncalibrated and swept accuracies')
  t.same(printed, promised, `the predicts print what the comments say (${printed.join(', ')})`)
  t.match(result.stdout, /^VERSION\s+γ\s+T\s+METHOD/m, 'the history is printed')
  t.match(readFileSync(join(work, 'curve.svg'), 'utf8'), /^<svg/, 'curve.svg written')
})
