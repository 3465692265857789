// deploy/k8s and deploy/kserve: every manifest parses and validates against the Kubernetes and
// KServe schemas in deploy/schemas/; every CALSERVE_* it sets is one the configuration reads; its probes
// and ports are ones calserve serves; and the pieces refer to each other consistently.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import t, { type Test } from 'tap'
import { CONFIG_VARIABLES, loadConfig } from '../../src/config.js'
import { build } from '../helper.js'
import {
  calserveVariables,
  containerEnv,
  DEPLOY,
  kindKey,
  kustomize,
  loadManifests,
  only,
  REPO_ROOT,
  validatorFor,
  type Doc,
  type Manifest,
} from './manifests.js'

const manifests = loadManifests()
const base = manifests.filter((m) => m.file.startsWith('deploy/k8s/base/'))
const kserve = manifests.filter((m) => m.file.startsWith('deploy/kserve/'))
const deployment = only(base, 'Deployment', 'calserve')
const container = deployment.spec.template.spec.containers[0] as Doc
const env = containerEnv(base, container)

function validate(t: Test, m: Manifest): void {
  const check = validatorFor(m.doc)
  if (!check) return void t.fail(`${m.file}: no schema for ${kindKey(m.doc)}`)
  const ok = check(m.doc)
  t.ok(ok, `${m.file}: ${m.doc.kind} ${m.doc.metadata?.name} is valid`, { errors: check.errors?.slice(0, 5) })
}

t.test('every YAML file parses, and names the kind it is', async (t) => {
  t.ok(manifests.length >= 12, `${manifests.length} documents`)
  for (const m of manifests) t.ok(m.doc.apiVersion && m.doc.kind, `${m.file}: apiVersion and kind`)
})

t.test('every resource validates against its kind’s schema', async (t) => {
  const resources = manifests.filter((m) => m.doc.kind !== 'Kustomization' && !m.file.startsWith('deploy/k8s/gpu/'))
  for (const m of resources) validate(t, m)
  t.same([...new Set(base.filter((m) => m.doc.kind !== 'Kustomization').map((m) => m.doc.kind))].sort(), [
    'ConfigMap',
    'Deployment',
    'HorizontalPodAutoscaler',
    'PersistentVolumeClaim',
    'PodDisruptionBudget',
    'Secret',
    'Service',
  ])
  t.same(kserve.map((m) => m.doc.kind).sort(), ['InferenceService', 'InferenceService', 'ServingRuntime'])
})

t.test('the schemas reject what the API server would', async (t) => {
  const broken = structuredClone(deployment)
  broken.spec.template.spec.containers[0].livenesProbe = broken.spec.template.spec.containers[0].livenessProbe
  t.notOk(validatorFor(broken)!(broken), 'a misspelled container field')
  const noPort = structuredClone(deployment)
  delete noPort.spec.template.spec.containers[0].readinessProbe.httpGet.port
  t.notOk(validatorFor(noPort)!(noPort), 'an httpGet probe without its port')
  const runtime = structuredClone(only(kserve, 'ServingRuntime'))
  runtime.spec.protocolVersions.push('v3')
  t.notOk(validatorFor(runtime)!(runtime), 'an unknown KServe protocol version')
  const isvc = structuredClone(only(kserve, 'InferenceService', 'digits'))
  delete isvc.spec.predictor.model.modelFormat
  t.notOk(validatorFor(isvc)!(isvc), 'a model without its format')
})

t.test('each kustomization lists files that exist; kubectl renders both and the result validates', async (t) => {
  for (const m of manifests.filter((x) => x.doc.kind === 'Kustomization')) {
    const dir = join(REPO_ROOT, dirname(m.file))
    for (const r of [...(m.doc.resources ?? []), ...(m.doc.patches ?? []).flatMap((p: Doc) => (p.path ? [p.path] : []))])
      t.ok(existsSync(join(dir, r)), `${m.file}: ${r} exists`)
  }
  const listed = (only(base, 'Kustomization').resources as string[]).map((r) => `deploy/k8s/base/${r}`).sort()
  t.same(listed, [...new Set(base.filter((m) => m.doc.kind !== 'Kustomization').map((m) => m.file))].sort(), 'every base file is in the kustomization')
  for (const overlay of ['base', 'gpu']) {
    const rendered = kustomize(join(DEPLOY, 'k8s', overlay))
    if ('missing' in rendered) {
      t.pass(`kubectl kustomize deploy/k8s/${overlay}`, { skip: rendered.missing })
      continue
    }
    for (const m of rendered.docs) validate(t, m)
    const d = only(rendered.docs, 'Deployment')
    t.equal(d.metadata.labels['app.kubernetes.io/name'], 'calserve')
    if (overlay === 'gpu') {
      const c = d.spec.template.spec.containers[0]
      t.equal(c.image, 'calserve:0.1.0-cuda', 'the CUDA image')
      t.equal(c.resources.limits['nvidia.com/gpu'], '1', 'one GPU per replica')
      t.ok(c.startupProbe && c.readinessProbe && c.livenessProbe && c.lifecycle.preStop, 'the patch keeps the base container whole')
      t.equal(only(rendered.docs, 'ConfigMap').data.CALSERVE_EXECUTION_PROVIDERS, 'cuda,cpu')
      t.same(loadConfig(containerEnv(rendered.docs, c)).executionProviders, ['cuda', 'cpu'], 'which the configuration accepts')
    } else t.equal(d.spec.template.spec.containers[0].image, 'calserve:0.1.0')
  }
})

t.test('every CALSERVE_* variable a manifest sets is one the configuration reads', async (t) => {
  const known = new Set(CONFIG_VARIABLES)
  const set = calserveVariables(manifests)
  t.ok(set.size >= 10, `${set.size} variables`)
  for (const [name, file] of set) t.ok(known.has(name), `${file}: ${name} is read by src/config.ts`)
  // The Deployment's whole environment (with its args) is a configuration that loads.
  const config = loadConfig({ ...env, CALSERVE_MODEL_REPOSITORY: container.args[container.args.indexOf('--models') + 1] })
  t.equal(config.host, '0.0.0.0')
  t.equal(config.modelRepository, '/models')
  t.equal(config.adminTokens.length, 1, 'the Secret’s admin token parses')
  t.match(config.storeUrl, /^postgres:\/\//, 'replicas share PostgreSQL')
})

t.test('probes and ports are ones calserve serves', async (t) => {
  const ports = Object.fromEntries((container.ports as Doc[]).map((p) => [p.name, p.containerPort]))
  t.equal(ports.http, Number(env.CALSERVE_PORT), 'the http port is CALSERVE_PORT')
  t.equal(ports.grpc, Number(env.CALSERVE_GRPC_PORT), 'the grpc port is CALSERVE_GRPC_PORT')
  const app = await build(t)
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    const get = container[probe].httpGet
    t.equal(get.port, 'http', `${probe} asks the http port`)
    const res = await app.inject({ url: get.path })
    t.equal(res.statusCode, 200, `${probe}: GET ${get.path} answers 200 on a ready server`)
  }
  t.equal(container.startupProbe.httpGet.path, '/health/ready', 'startup waits for the models to load')
  t.equal(container.livenessProbe.httpGet.path, '/health/live', 'liveness does not depend on models or store')
  const draining = await build(t)
  draining.lifecycle.draining = true
  t.equal((await draining.inject({ url: container.readinessProbe.httpGet.path })).statusCode, 503, 'readiness turns 503 while draining')
  const annotations = deployment.spec.template.metadata.annotations
  t.equal((await app.inject({ url: annotations['prometheus.io/path'] })).statusCode, 200, 'the scrape path answers')
  t.equal(Number(annotations['prometheus.io/port']), ports.http)

  const service = only(base, 'Service')
  for (const p of service.spec.ports as Doc[]) t.ok(p.targetPort in ports, `Service port ${p.name} targets container port ${p.targetPort}`)
  t.same((service.spec.ports as Doc[]).map((p) => p.port).sort(), [8080, 8081], 'HTTP and gRPC')
})

t.test('termination: the grace period covers the preStop pause, the delay and the drain', async (t) => {
  const pause = Number(container.lifecycle.preStop.exec.command[1])
  t.same(container.lifecycle.preStop.exec.command, ['sleep', String(pause)])
  // The delay, the grace, and as long again for answers still being computed (src/shutdown.ts).
  const budget = pause + (Number(env.CALSERVE_SHUTDOWN_DELAY_MS) + 2 * Number(env.CALSERVE_SHUTDOWN_GRACE_MS)) / 1000
  t.ok(deployment.spec.template.spec.terminationGracePeriodSeconds > budget, `${deployment.spec.template.spec.terminationGracePeriodSeconds} s > ${budget} s`)
})

t.test('the pieces refer to each other', async (t) => {
  const pod = deployment.spec.template
  const labels = pod.metadata.labels as Record<string, string>
  const selects = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v)
  t.equal(deployment.spec.replicas, 3)
  t.ok(selects(deployment.spec.selector.matchLabels), 'the Deployment selects its pods')
  t.ok(selects(only(base, 'Service').spec.selector), 'the Service selects them')
  t.ok(selects(only(base, 'PodDisruptionBudget').spec.selector.matchLabels), 'the PodDisruptionBudget selects them')
  const hpa = only(base, 'HorizontalPodAutoscaler')
  t.match(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'calserve' })
  t.ok(hpa.spec.minReplicas >= deployment.spec.replicas, 'the autoscaler never goes below the Deployment’s replicas')
  t.match(hpa.spec.metrics[0], { type: 'Resource', resource: { name: 'cpu' } })
  t.ok(container.resources.requests.cpu, 'CPU utilisation needs a CPU request')
  const volumes = Object.fromEntries((pod.spec.volumes as Doc[]).map((v) => [v.name, v]))
  t.equal(volumes.models.persistentVolumeClaim.claimName, only(base, 'PersistentVolumeClaim').metadata.name)
  const mounts = Object.fromEntries((container.volumeMounts as Doc[]).map((m) => [m.mountPath, m]))
  t.ok(mounts['/models']?.readOnly, 'the models are mounted read-only where --models points')
  t.equal(container.securityContext.readOnlyRootFilesystem, true)
  t.ok(mounts['/tmp'] && volumes[mounts['/tmp'].name].emptyDir, '/tmp is writable')
  t.equal(pod.spec.securityContext.runAsNonRoot, true)
})

t.test('KServe: the runtime serves ONNX over v2 and grpc-v2 from /mnt/models; the InferenceServices use it', async (t) => {
  const runtime = only(kserve, 'ServingRuntime')
  t.equal(runtime.metadata.name, 'calserve')
  t.ok(
    runtime.spec.supportedModelFormats.some((f: Doc) => f.name === 'onnx'),
    'model format onnx',
  )
  t.same(runtime.spec.protocolVersions, ['v2', 'grpc-v2'])
  const c = runtime.spec.containers[0] as Doc
  t.same(c.command, ['calserve'])
  const arg = (flag: string) => c.args[c.args.indexOf(flag) + 1]
  t.equal(c.args[0], 'serve')
  t.equal(arg('--models'), '/mnt/models', 'where KServe’s storage initializer leaves the model')
  t.equal(arg('--model-name'), '{{.Name}}', 'the InferenceService’s name')
  t.equal(Number(arg('--port')), c.ports[0].containerPort)
  t.equal(c.readinessProbe.httpGet.port, c.ports[0].containerPort)
  for (const isvc of kserve.filter((m) => m.doc.kind === 'InferenceService').map((m) => m.doc)) {
    const model = isvc.spec.predictor.model
    t.equal(model.runtime, runtime.metadata.name, `${isvc.metadata.name}: runtime calserve`)
    t.ok(
      runtime.spec.supportedModelFormats.some((f: Doc) => f.name === model.modelFormat.name && f.version === model.modelFormat.version),
      'a format the runtime supports',
    )
    t.ok(runtime.spec.protocolVersions.includes(model.protocolVersion), `protocol ${model.protocolVersion}`)
    t.match(model.storageUri, /^pvc:\/\/calserve-models\/digits-finetuned$/, 'the model folder itself')
    t.ok(existsSync(join(REPO_ROOT, 'models', 'digits-finetuned', 'model.json')), 'which holds a model.json (the bundled demo model)')
    if (model.protocolVersion === 'grpc-v2') t.match(model.ports, [{ name: 'h2c', containerPort: 8081 }], 'gRPC exposes port 8081 as h2c')
  }
})
