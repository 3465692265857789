// The real process (src/main.ts) with gRPC on: it listens beside HTTP, and on SIGTERM health turns
// NOT_SERVING during CALSERVE_SHUTDOWN_DELAY_MS while calls are still served, then the process
// closes both servers and exits 0.
import { join } from 'node:path'
import { credentials, loadPackageDefinition, type Client, type ClientReadableStream } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { protoPath as HEALTH_PROTO } from 'grpc-health-check'
import t from 'tap'
import { start, stop, waitReady } from '../e2e/process.js'
import { freePort } from '../support/ports.js'
import { tempDir } from '../helper.js'
import { call } from './helper.js'

t.test('main.ts serves gRPC and drains it on SIGTERM', async (t) => {
  const grpcPort = await freePort()
  const server = await start(t, {
    CALSERVE_STORE_URL: `sqlite:${join(tempDir(t), 'calserve.db')}`,
    CALSERVE_GRPC_PORT: String(grpcPort),
    CALSERVE_SHUTDOWN_DELAY_MS: '800',
  })
  await waitReady(server)
  const pkg = loadPackageDefinition(loadSync(HEALTH_PROTO, { keepCase: true, enums: String, defaults: true })) as unknown as {
    grpc: { health: { v1: { Health: new (a: string, c: unknown) => Client } } }
  }
  const { GRPCInferenceService } = (
    loadPackageDefinition(
      loadSync(join(import.meta.dirname, '../../proto/grpc_predict_v2.proto'), { keepCase: true, longs: Number, defaults: true, oneofs: true }),
    ) as unknown as {
      inference: { GRPCInferenceService: new (a: string, c: unknown) => Client }
    }
  ).inference
  const address = `127.0.0.1:${grpcPort}`
  const client = new GRPCInferenceService(address, credentials.createInsecure())
  const health = new pkg.grpc.health.v1.Health(address, credentials.createInsecure())
  t.teardown(() => (client.close(), health.close()))

  t.same(await call(client, 'ServerReady', {}), { ready: true })
  const watch = (health as unknown as { watch(r: unknown): ClientReadableStream<{ status: string }> }).watch({ service: '' })
  const seen: string[] = []
  watch.on('data', (m) => seen.push(m.status))
  watch.on('error', () => {})
  await new Promise((r) => setTimeout(r, 200))
  t.same(seen, ['SERVING'])

  const exited = stop(server)
  await new Promise((r) => setTimeout(r, 300))
  t.same(seen, ['SERVING', 'NOT_SERVING'], 'health flipped at SIGTERM')
  const res = await call<{ model_version: string }>(client, 'ModelInfer', {
    model_name: 'tiny',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], contents: { fp32_contents: [1, 2, 3] } }],
  })
  t.equal(res.model_version, '2', 'calls are still served during the shutdown delay')
  const exit = await exited
  t.equal(exit.code, 0, server.output().slice(-2000))
  t.match(server.output(), /gRPC \(inference.GRPCInferenceService\) listening on 127.0.0.1:\d+/)
})
