// examples/grpc-client.ts, the README's client, run as a user runs it against the demo models.
import { execFile } from 'node:child_process'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { DEMO_MODELS } from '../helper.js'
import { call, serve } from './helper.js'

t.test('the example client infers the first digits sample over gRPC', async (t) => {
  const s = await serve(t, { CALSERVE_MODEL_REPOSITORY: DEMO_MODELS })
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/grpc-client.ts', `127.0.0.1:${s.grpc.port}`], {
    cwd: resolve(import.meta.dirname, '../..'),
    timeout: 60_000,
  })
  t.match(stdout, /calibrated: true/)
  t.match(stdout, /calibration_version: 0/)
  const label = /label: (\S+)/.exec(stdout)?.[1]
  t.ok(label, stdout)
  const res = await call<{ models: Array<{ name: string; state: string }> }>(s.client, 'RepositoryIndex', {})
  t.ok(res.models.some((m) => m.name === 'digits-finetuned' && m.state === 'READY'))
  const manifest = (await s.app.inject({ url: '/v1/models/digits-finetuned' })).json() as { labels: string[] }
  t.ok(manifest.labels.includes(label!), `${label} is one of the model's labels`)
})
