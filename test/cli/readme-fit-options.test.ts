// The README's sections on the fit options of issue 15 (constrained fit with a reference model,
// conformal sets, alg_samples): each section's sh block, run in bash against a real server on the
// demo models, prints the numbers the section quotes.
import { join } from 'node:path'
import t from 'tap'
import { start, waitReady } from '../e2e/process.js'
import { tempDir } from '../helper.js'
import { readmeSection, runReadmeScript } from './readme.js'

t.test('the fit-option sections print what they quote', async (t) => {
  const dir = tempDir(t, 'calserve-readme-fit-')
  const server = await start(t, { CALSERVE_MODEL_REPOSITORY: 'models', CALSERVE_STORE_URL: `sqlite:${join(dir, 'calserve.db')}`, CALSERVE_LOG_LEVEL: 'warn' })
  await waitReady(server)

  const constrained = readmeSection('### Constrained fit with a reference model')
  const c = await runReadmeScript(constrained.sh, server.port)
  t.equal(c.code, 0, c.stderr)
  t.match(c.stdout, /^γ\s+6\.543\d*$/m)
  t.match(constrained.text, /γ = 6\.543, Acc_S\/Y 92\.3, Acc_U\/Y 48\.3, Acc_Y\/Y 70\.6/)
  t.match(c.stdout, /^Acc_S\/Y\s+93\.4%\s+93\.4%\s+92\.3%\s+39\.6%$/m)
  t.match(c.stdout, /^Acc_U\/Y\s+9\.0%\s+9\.0%\s+48\.3%\s+42\.7%$/m)
  t.match(c.stdout, /^Acc_Y\/Y\s+51\.7%\s+51\.7%\s+70\.6%\s+41\.1%$/m)
  t.match(c.stdout, /^AUSUC\s+\S+\s+\S+\s+\S+\s+0\.2878$/m)
  t.match(constrained.text, /Acc_S\/Y 39\.6,\s+Acc_U\/Y 42\.7, Acc_Y\/Y 41\.1 \(AUSUC 0\.288\)/)

  const conformal = readmeSection('### Conformal prediction sets at fit time')
  const k = await runReadmeScript(conformal.sh, server.port)
  t.equal(k.code, 0, k.stderr)
  t.match(k.stdout, /^conformal\s+α 0\.1, score lac, by marginal: q̂ 0\.9426$/m)
  t.match(k.stdout, /^coverage\s+90\.6% \(fine-tuning 93\.4%, absent 87\.6%\)$/m)
  t.match(k.stdout, /^mean set size\s+1\.94$/m)
  t.match(k.stdout, /^test \(315\): coverage 88\.3% \(S 96\.2%, U 80\.4%\), mean set size 2\.02$/m)
  t.match(conformal.text, /\| lac, marginal \| 0\.9426 \| 90\.6% \(93\.4, 87\.6\) \| 1\.94 \| 88\.3% \(96\.2, 80\.4\) \| 2\.02 \|/)

  const alg = readmeSection('### ALG as released: `alg_samples`')
  const a = await runReadmeScript(alg.sh, server.port)
  t.equal(a.code, 0, a.stderr)
  t.match(a.stdout, /^γ\s+3\.0508\d*$/m)
  t.match(a.stdout, /^method\s+alg, samples all$/m)
  t.match(alg.text, /all γ = 3\.051/)
})
