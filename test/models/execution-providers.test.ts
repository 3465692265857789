// Execution providers are tried in order: CUDA followed by CPU falls back and says so; CUDA alone
// fails the model with the reason. (These machines have no CUDA, so the CUDA attempt really fails.)
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, copyFixtures } from '../helper.js'

function withProviders(repo: string, name: string, providers: string[]) {
  const file = join(repo, name, 'model.json')
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), execution_providers: providers }))
}

t.test('["cuda", "cpu"] falls back to CPU and reports why; ["cuda"] alone fails the model', async (t) => {
  const repo = copyFixtures(t, ['tiny', 'image'])
  withProviders(repo, 'tiny', ['cuda', 'cpu'])
  withProviders(repo, 'image', ['cuda'])
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo })

  const tiny = (await app.inject({ url: '/v1/models/tiny' })).json()
  t.equal(tiny.state, 'READY')
  t.equal(tiny.execution_provider, 'cpu', 'the provider actually used is reported')
  t.match(tiny.execution_provider_fallback, /^cuda: .+; using cpu$/, 'the fallback says why')
  t.equal((await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: [[1, 2, 3]] } })).statusCode, 200)

  const image = (await app.inject({ url: '/v1/models/image' })).json()
  t.equal(image.state, 'FAILED')
  t.match(image.reason, /no execution provider could load image\/1\/model\.onnx: cuda: /)
})

t.test('CALSERVE_EXECUTION_PROVIDERS is the default for manifests that name none', async (t) => {
  const app = await build(t, { CALSERVE_EXECUTION_PROVIDERS: 'cuda,cpu' })
  const tiny = (await app.inject({ url: '/v1/models/tiny' })).json()
  t.equal(tiny.execution_provider, 'cpu')
  t.match(tiny.execution_provider_fallback, /^cuda: /)
})
