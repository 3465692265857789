// The gRPC server around the service: tokens in the authorization metadata (HTTP's rules),
// grpc.health.v1.Health Check and Watch flipping on drain and close, a shutdown that lets
// in-flight calls finish and refuses new ones, the repository methods (with a version swap under
// gRPC load), metrics with protocol="grpc", reflection.
import { cpSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { credentials, loadPackageDefinition, status, type ClientDuplexStream, type ClientReadableStream } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import t from 'tap'
import { copyFixtures, tempDir } from '../helper.js'
import { call, failure, serve } from './helper.js'

const X = [1, 0.5, 0.25]
const infer = { model_name: 'tiny', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], contents: { fp32_contents: X } }] }
const TOKENS = { CALSERVE_ADMIN_TOKENS: 'ops:ops-secret-1', CALSERVE_API_TOKENS: 'app:app-secret-1' }

t.test('BAD CALL - tokens in the authorization metadata, as HTTP checks them', async (t) => {
  const s = await serve(t, TOKENS)
  t.same(await call(s.client, 'ServerLive', {}), { live: true }, 'liveness is public')
  t.same(await call(s.client, 'ServerReady', {}), { ready: true }, 'readiness is public')
  const none = await failure(call(s.client, 'ModelInfer', infer))
  t.equal(none.code, status.UNAUTHENTICATED)
  t.equal(none.details, 'this request needs Authorization: Bearer <token>')
  const wrong = await failure(call(s.client, 'ModelMetadata', { name: 'tiny' }, { token: 'not-a-token' }))
  t.equal(wrong.code, status.PERMISSION_DENIED)
  t.equal(wrong.details, 'this token is not accepted')
  t.ok(await call(s.client, 'ModelInfer', infer, { token: 'app-secret-1' }), 'an API token may infer')
  t.ok(await call(s.client, 'ModelInfer', infer, { token: 'ops-secret-1' }), 'an admin token may too')
  const index = await failure(call(s.client, 'RepositoryIndex', {}, { token: 'app-secret-1' }))
  t.equal(index.code, status.PERMISSION_DENIED, 'an API token may not use the repository')
  t.equal(index.details, 'this token may not change calibrations')
  t.equal((await failure(call(s.client, 'RepositoryModelUnload', { model_name: 'tiny' }))).code, status.UNAUTHENTICATED)
  const listed = await call<{ models: unknown[] }>(s.client, 'RepositoryIndex', {}, { token: 'ops-secret-1' })
  t.equal(listed.models.length, 3)
  // HTTP answers the same tokens the same way.
  t.equal((await s.app.inject({ method: 'POST', url: '/v2/repository/index', headers: { authorization: 'Bearer app-secret-1' } })).statusCode, 403)
})

t.test('health: Check and Watch report readiness and turn NOT_SERVING on drain; close ends the watch', async (t) => {
  const s = await serve(t)
  const check = (service = '') => call<{ status: string }>(s.health, 'check', { service })
  t.same(await check(), { status: 'SERVING' })
  t.same(await check('inference.GRPCInferenceService'), { status: 'SERVING' })
  t.equal((await failure(check('nope'))).code, status.NOT_FOUND)

  const watch = (s.health as unknown as { watch(req: unknown): ClientReadableStream<{ status: string }> }).watch({ service: '' })
  const seen: string[] = []
  const ended = new Promise<number>((res) => watch.on('status', (st: { code: number }) => res(st.code)))
  watch.on('error', () => {})
  watch.on('data', (m) => seen.push(m.status))
  await new Promise((r) => setTimeout(r, 100))
  t.same(seen, ['SERVING'])

  s.app.lifecycle.draining = true
  s.grpc.drain()
  t.same(await check(), { status: 'NOT_SERVING' }, 'Check: NOT_SERVING while draining')
  t.same(await call(s.client, 'ServerReady', {}), { ready: false }, 'ServerReady: false while draining')
  t.ok(await call(s.client, 'ModelInfer', infer), 'calls are still served during the drain')
  await new Promise((r) => setTimeout(r, 50))
  t.same(seen, ['SERVING', 'NOT_SERVING'], 'Watch saw the flip')
  await s.close(2000)
  t.equal(await ended, status.UNAVAILABLE, 'the watch ends UNAVAILABLE when the server closes, not at the grace period')
})

t.test('shutdown: in-flight calls finish, new calls are refused with UNAVAILABLE', async (t) => {
  const repo = copyFixtures(t, ['tiny'])
  const { readFileSync, writeFileSync } = await import('node:fs')
  const file = join(repo, 'tiny/model.json')
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), batching: { max_queue_delay_ms: 300 } }))
  const s = await serve(t, { CALSERVE_MODEL_REPOSITORY: repo })
  const inFlight = call<{ model_name: string }>(s.client, 'ModelInfer', infer)
  await new Promise((r) => setTimeout(r, 50))
  const started = Date.now()
  const closed = s.close(5000)
  const refused = await failure(call(s.client, 'ModelInfer', infer))
  t.equal(refused.code, status.UNAVAILABLE, `a new call: ${refused.details}`)
  t.equal((await inFlight).model_name, 'tiny', 'the in-flight call finished')
  await closed
  t.ok(Date.now() - started < 4000, 'closed once the call finished, well within the grace period')
})

t.test('repository: index, unload and load; a version swap under gRPC load fails no call', async (t) => {
  const repo = copyFixtures(t, ['tiny', 'image'])
  const staged = join(tempDir(t), 'tiny-v2-staged')
  cpSync(join(repo, 'tiny/2'), staged, { recursive: true })
  rmSync(join(repo, 'tiny/2'), { recursive: true })
  const s = await serve(t, { CALSERVE_MODEL_REPOSITORY: repo })
  t.same(await call(s.client, 'RepositoryIndex', {}), {
    models: [
      { name: 'image', version: '1', state: 'READY', reason: '' },
      { name: 'tiny', version: '1', state: 'READY', reason: '' },
    ],
  })
  t.same(await call(s.client, 'RepositoryModelUnload', { model_name: 'image' }), {})
  t.same(await call(s.client, 'RepositoryIndex', { ready: true }), { models: [{ name: 'tiny', version: '1', state: 'READY', reason: '' }] })
  t.same((await call<{ models: unknown[] }>(s.client, 'RepositoryIndex', {})).models[0], { name: 'image', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' })
  t.same(await call(s.client, 'RepositoryModelLoad', { model_name: 'image' }), {})
  t.same(await call(s.client, 'ModelReady', { name: 'image' }), { ready: true })
  t.equal((await failure(call(s.client, 'RepositoryModelLoad', { model_name: 'nope' }))).code, status.NOT_FOUND)
  t.equal((await failure(call(s.client, 'RepositoryModelLoad', { model_name: '../etc' }))).code, status.INVALID_ARGUMENT)

  let stop = false
  const versions: Record<string, number> = {}
  const failures: string[] = []
  const loop = async () => {
    while (!stop) {
      try {
        const res = await call<{ model_version: string }>(s.client, 'ModelInfer', infer)
        versions[res.model_version] = (versions[res.model_version] ?? 0) + 1
      } catch (err) {
        failures.push(String(err))
      }
    }
  }
  const loops = Array.from({ length: 4 }, loop)
  await new Promise((r) => setTimeout(r, 150))
  cpSync(staged, join(repo, 'tiny/2'), { recursive: true })
  t.same(await call(s.client, 'RepositoryModelLoad', { model_name: 'tiny' }), {})
  await new Promise((r) => setTimeout(r, 150))
  stop = true
  await Promise.all(loops)
  t.same(failures, [], 'no call failed during the swap')
  t.ok((versions['1'] ?? 0) > 0 && (versions['2'] ?? 0) > 0, `served by 1 (${versions['1']}) then 2 (${versions['2']})`)
  t.same(await call(s.client, 'ModelReady', { name: 'tiny', version: '2' }), { ready: true })
})

t.test('metrics: gRPC calls in the HTTP request families with protocol="grpc"', async (t) => {
  const s = await serve(t)
  await call(s.client, 'ModelInfer', infer)
  await failure(call(s.client, 'ModelInfer', { ...infer, model_name: 'made-up' }))
  await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: X }] } })
  type Value = { metricName?: string; labels: Record<string, string | number | undefined>; value: number }
  const values = async (name: 'requests' | 'requestSeconds') => (await s.app.metrics[name].get()).values as Value[]
  const find = async (name: 'requests' | 'requestSeconds', labels: Record<string, string>, metric?: string) =>
    (await values(name)).find((v) => (!metric || v.metricName === metric) && Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value
  const route = '/inference.GRPCInferenceService/ModelInfer'
  t.equal(await find('requests', { protocol: 'grpc', route, method: 'POST', model: 'tiny', status: 'OK' }), 1)
  t.equal(await find('requests', { protocol: 'grpc', route, model: '', status: 'NOT_FOUND' }), 1, 'a made-up name is no label value')
  t.equal(await find('requestSeconds', { protocol: 'grpc', route, model: 'tiny' }, 'calserve_request_duration_seconds_count'), 1, 'timed')
  t.equal(await find('requests', { protocol: 'http', route: '/v2/models/:name/infer', model: 'tiny', status: '200' }), 1, 'HTTP beside it')
  t.match(await s.app.scrapeMetrics(), /calserve_requests_total\{[^}]*protocol="grpc"[^}]*\} 1/)
})

t.test('server reflection lists the inference service', async (t) => {
  const s = await serve(t)
  const proto = resolve(import.meta.dirname, '../../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto')
  const pkg = loadPackageDefinition(loadSync(proto, { keepCase: true })) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: new (a: string, c: unknown) => { ServerReflectionInfo(): ClientDuplexStream<unknown, unknown>; close(): void } } } }
  }
  const client = new pkg.grpc.reflection.v1.ServerReflection(`127.0.0.1:${s.grpc.port}`, credentials.createInsecure())
  t.teardown(() => client.close())
  const stream = client.ServerReflectionInfo()
  const answer = new Promise<{ list_services_response: { service: Array<{ name: string }> } }>((res, rej) => {
    stream.on('data', (m) => res(m as never))
    stream.on('error', rej)
  })
  stream.write({ list_services: '*' })
  const names = (await answer).list_services_response.service.map((x) => x.name)
  stream.end()
  t.ok(names.includes('inference.GRPCInferenceService'), names.join(', '))
})
