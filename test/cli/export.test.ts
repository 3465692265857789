// `calserve export` through the real bin against a real server (fixture models, a real SQLite
// file): the file it writes is byte for byte what GET …/calibration/export.onnx answers.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { start, waitReady } from '../e2e/process.js'
import { tempDir } from '../helper.js'
import { calserve } from './bin.js'

t.test('calserve export writes the bytes the route answers', async (t) => {
  const dir = tempDir(t)
  const server = await start(t, { CALSERVE_STORE_URL: `sqlite:${join(dir, 'calserve.db')}`, CALSERVE_LOG_LEVEL: 'warn' })
  await waitReady(server)
  const env = { CALSERVE_URL: server.url }
  const put = await fetch(`${server.url}/v1/models/tiny/calibration`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ gamma: 0.8125, temperature: 1.5 }),
  })
  t.equal(put.status, 200)
  const route = Buffer.from(await (await fetch(`${server.url}/v1/models/tiny/calibration/export.onnx`)).arrayBuffer())
  t.ok(route.byteLength > 0)

  const file = join(dir, 'out', 'tiny.onnx')
  const run = await calserve(['export', '--model', 'tiny', '--out', file], env)
  t.equal(run.code, 0, run.stderr)
  t.ok(Buffer.compare(readFileSync(file), route) === 0, 'the file is the route’s answer, byte for byte')
  t.match(run.stderr, /^wrote .*tiny\.onnx \(\d+ bytes\): model tiny, calibration version 1$/m)
  t.notOk(existsSync(`${file}.partial`), 'no partial file left')

  const piped = await calserve(['export', '--model', 'tiny', '--out', '-'], env)
  t.equal(piped.code, 0, piped.stderr)
  t.ok(Buffer.compare(piped.stdoutBytes, route) === 0, '--out - writes the same bytes to stdout')

  // No --out: the server's file name, in the current folder.
  const here = tempDir(t)
  const named = await calserve(['export', '--model', 'tiny', '--version', '0', '--json'], env, here)
  t.equal(named.code, 0, named.stderr)
  t.match(JSON.parse(named.stdout.toString()), { file: 'tiny-v2-cal0.onnx', model: 'tiny', calibration_version: 0 })
  const zero = Buffer.from(await (await fetch(`${server.url}/v1/models/tiny/calibration/export.onnx?version=0`)).arrayBuffer())
  t.ok(Buffer.compare(readFileSync(join(here, 'tiny-v2-cal0.onnx')), zero) === 0, '--version 0 is the route’s ?version=0')

  const missing = await calserve(['export', '--model', 'nope', '--out', join(dir, 'nope.onnx')], env)
  t.equal(missing.code, 1)
  t.match(missing.stderr, /^calserve: CALSERVE_MODEL_NOT_FOUND: /m)
  t.notOk(existsSync(join(dir, 'nope.onnx')), 'nothing written on an error')
  const version = await calserve(['export', '--model', 'tiny', '--version', '9', '--out', join(dir, 'v9.onnx')], env)
  t.equal(version.code, 1)
  t.match(version.stderr, /CALSERVE_VERSION_NOT_FOUND/)
})

t.test('BAD CALL - export command line', async (t) => {
  const env = { CALSERVE_URL: 'http://127.0.0.1:9' }
  const noModel = await calserve(['export', '--out', 'x.onnx'], env)
  t.equal(noModel.code, 2)
  t.match(noModel.stderr, /--model is required/)
  const badVersion = await calserve(['export', '--model', 'tiny', '--version=-1'], env)
  t.equal(badVersion.code, 2)
  t.match(badVersion.stderr, /--version must be an integer ≥ 0/)
  const help = await calserve(['export', '--help'], env)
  t.equal(help.code, 0)
  t.match(help.stdout.toString(), /^usage: calserve export --model NAME/)
})
