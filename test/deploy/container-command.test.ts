// The Deployment's container, run here as Kubernetes would run it: exactly its command, args and
// environment (ConfigMap and Secret included), with only what this machine needs rewritten — the
// /models mount to a temporary copy of the bundled models, the store URL to this machine's
// PostgreSQL (or a SQLite file when it is not running), loopback for 0.0.0.0 and free ports for
// 8080/8081. It must become ready on HTTP and answer the gRPC health check. `calserve` on the
// PATH is bin/calserve.js (the image's runs dist/cli/index.js).
import { spawn } from 'node:child_process'
import { chmodSync, cpSync, mkdirSync, writeFileSync } from 'node:fs'
import http2 from 'node:http2'
import { join } from 'node:path'
import t from 'tap'
import { freePort } from '../support/ports.js'
import { tempDir } from '../helper.js'
import { freshSchemaUrl, reachable } from '../pg.js'
import { containerEnv, loadManifests, only, REPO_ROOT, type Doc } from './manifests.js'

const base = loadManifests().filter((m) => m.file.startsWith('deploy/k8s/base/'))
const deployment = only(base, 'Deployment', 'calserve')
const container = deployment.spec.template.spec.containers[0] as Doc

/** gRPC health Check over plain HTTP/2, no generated client: the SERVING status is field 1 = 1. */
function grpcHealth(port: number): Promise<{ grpcStatus: string | undefined; body: Buffer }> {
  return new Promise((res, rej) => {
    const session = http2.connect(`http://127.0.0.1:${port}`)
    session.on('error', rej)
    const req = session.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Check', 'content-type': 'application/grpc', te: 'trailers' })
    const chunks: Buffer[] = []
    let grpcStatus: string | undefined
    req.on('trailers', (h) => (grpcStatus = String(h['grpc-status'])))
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      session.close()
      res({ grpcStatus, body: Buffer.concat(chunks) })
    })
    req.on('error', rej)
    req.end(Buffer.from([0, 0, 0, 0, 0]))
  })
}

t.test('the Deployment’s command, args and env start a server that becomes ready', async (t) => {
  t.same(container.command, ['calserve'], 'the command this test runs')
  const dir = tempDir(t, 'calserve-container-')
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  writeFileSync(join(bin, 'calserve'), `#!/bin/sh\nexec "${process.execPath}" "${join(REPO_ROOT, 'bin', 'calserve.js')}" "$@"\n`)
  chmodSync(join(bin, 'calserve'), 0o755)
  const models = join(dir, 'models')
  cpSync(join(REPO_ROOT, 'models'), models, { recursive: true })

  const env = containerEnv(base, container)
  const port = await freePort()
  const grpcPort = await freePort()
  const pg = await reachable()
  const store = pg === null ? freshSchemaUrl(t).url : `sqlite:${join(dir, 'calserve.db')}`
  if (pg !== null) t.comment(`PostgreSQL is not reachable (${pg}): the store is a SQLite file`)
  const rewritten = {
    ...env,
    CALSERVE_HOST: '127.0.0.1',
    CALSERVE_PORT: String(port),
    CALSERVE_GRPC_PORT: String(grpcPort),
    CALSERVE_STORE_URL: store,
  }
  t.same(Object.keys(rewritten).sort(), Object.keys(env).sort(), 'rewrites only, no variable added')
  const args = (container.args as string[]).map((a) => (a === '/models' ? models : a))
  t.ok(args.includes(models), 'the /models mount is a copy of the bundled models')

  const passthrough = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(NODE_OPTIONS$|TAP|_TAPJS|CALSERVE_)/.test(k)))
  const proc = spawn(container.command[0], args, {
    cwd: dir,
    env: { ...passthrough, PATH: `${bin}:${process.env.PATH}`, ...rewritten },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (output += d))
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (output += d))
  const exited = new Promise<{ code: number | null; signal: string | null }>((res) => proc.once('exit', (code, signal) => res({ code, signal })))
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
  })

  // The startup probe's budget, capped for a test.
  const startup = container.startupProbe
  const deadline = Date.now() + Math.min(startup.periodSeconds * startup.failureThreshold * 1000, 60_000)
  const url = (path: string) => `http://127.0.0.1:${port}${path}`
  let ready: Response | undefined
  while (Date.now() < deadline && proc.exitCode === null) {
    ready = await fetch(url(startup.httpGet.path)).catch(() => undefined)
    if (ready?.status === 200) break
    await new Promise((r) => setTimeout(r, 200))
  }
  t.equal(ready?.status, 200, `the startup probe's ${startup.httpGet.path} answered 200`, { output: output.slice(-3000) })
  if (ready?.status !== 200) return
  t.match(await ready.json(), {
    ready: true,
    models: { 'digits-finetuned': 'READY', 'digits-pretrained': 'READY' },
    store: { kind: pg === null ? 'postgres' : 'sqlite', state: 'open' },
  })
  t.equal((await fetch(url(container.readinessProbe.httpGet.path))).status, 200, 'readiness')
  t.equal((await fetch(url(container.livenessProbe.httpGet.path))).status, 200, 'liveness')
  const token = env.CALSERVE_API_TOKENS!.split(':').slice(1).join(':')
  t.equal((await fetch(url('/v1/models'))).status, 401, 'reads need the Secret’s API token')
  t.equal((await fetch(url('/v1/models'), { headers: { authorization: `Bearer ${token}` } })).status, 200, 'and answer with it')

  const health = await grpcHealth(grpcPort)
  t.equal(health.grpcStatus, '0', 'the gRPC port answers grpc.health.v1.Health/Check')
  t.ok(health.body.subarray(5).equals(Buffer.from([0x08, 0x01])), 'SERVING')

  const grace = deployment.spec.template.spec.terminationGracePeriodSeconds as number
  proc.kill('SIGTERM')
  const timer = setTimeout(() => proc.kill('SIGKILL'), grace * 1000)
  const exit = await exited
  clearTimeout(timer)
  t.same(exit, { code: 0, signal: null }, `SIGTERM: a clean exit within terminationGracePeriodSeconds (${grace} s)`, { output: output.slice(-3000) })
  t.match(output, /shutting down/)
})
