// The deploy manifests as data: every YAML document under deploy/k8s and deploy/kserve, the
// schemas they are checked against (deploy/schemas/README.md says where those come from), and the
// rendering of a kustomization by kubectl when this machine has it.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { Ajv, type ValidateFunction } from 'ajv'
import { parseAllDocuments } from 'yaml'

export const REPO_ROOT = resolve(import.meta.dirname, '../..')
export const DEPLOY = join(REPO_ROOT, 'deploy')

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are free-form YAML, read by path
export type Doc = Record<string, any>

export interface Manifest {
  /** Relative to the repository root. */
  file: string
  doc: Doc
}

function* yamlFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) yield* yamlFiles(p)
    else if (/\.ya?ml$/.test(name)) yield p
  }
}

/** Every YAML file under deploy/k8s and deploy/kserve; parse errors throw, naming the file. */
export function loadManifests(): Manifest[] {
  const out: Manifest[] = []
  for (const dir of ['k8s', 'kserve'])
    for (const path of yamlFiles(join(DEPLOY, dir))) out.push(...parseYaml(readFileSync(path, 'utf8'), relative(REPO_ROOT, path)))
  return out
}

export function parseYaml(text: string, file: string): Manifest[] {
  const out: Manifest[] = []
  // merge: docker-compose.yml shares settings through YAML merge keys (<<: *anchor).
  for (const d of parseAllDocuments(text, { merge: true })) {
    if (d.errors.length) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`)
    const doc = d.toJS() as Doc | null
    if (doc !== null) out.push({ file, doc })
  }
  return out
}

const schema = (name: string) => JSON.parse(readFileSync(join(DEPLOY, 'schemas', name), 'utf8')) as { kinds: Record<string, unknown> }
const kubernetes = schema('kubernetes.json')
const kserve = schema('kserve.json')
const ajv = new Ajv({ allErrors: true, strict: false })
ajv.addSchema(kubernetes)
ajv.addSchema(kserve)

/** "apps/v1/Deployment", "v1/Service", "serving.kserve.io/v1alpha1/ServingRuntime". */
export const kindKey = (doc: Doc) => `${doc.apiVersion}/${doc.kind}`

/** The schema validator of a resource's kind, or undefined for a kind no schema here covers. */
export function validatorFor(doc: Doc): ValidateFunction | undefined {
  const key = kindKey(doc)
  const file = key in kubernetes.kinds ? 'kubernetes.json' : key in kserve.kinds ? 'kserve.json' : null
  if (!file) return undefined
  return ajv.getSchema(`${file}#/kinds/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`)
}

/** `kubectl kustomize DIR`'s output, or null (with why) when kubectl is not installed. */
export function kustomize(dir: string): { docs: Manifest[] } | { missing: string } {
  let text: string
  try {
    text = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { missing: 'kubectl is not installed here' }
    throw err
  }
  return { docs: parseYaml(text, `kubectl kustomize ${relative(REPO_ROOT, dir)}`) }
}

/** The one resource of `kind` (named `name` if given) among `docs`; throws if not exactly one. */
export function only(docs: Manifest[], kind: string, name?: string): Doc {
  const hits = docs.filter((m) => m.doc.kind === kind && (name === undefined || m.doc.metadata?.name === name))
  if (hits.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${hits.length}`)
  return hits[0]!.doc
}

/**
 * The environment a container gets: its env values and its envFrom ConfigMaps' data and Secrets'
 * stringData, as in `docs`. valueFrom entries resolve through the named Secret or ConfigMap.
 */
export function containerEnv(docs: Manifest[], container: Doc): Record<string, string> {
  const env: Record<string, string> = {}
  const source = (kind: 'ConfigMap' | 'Secret', name: string): Record<string, string> => {
    const d = only(docs, kind, name)
    return (kind === 'Secret' ? { ...d.data, ...d.stringData } : d.data) as Record<string, string>
  }
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, source('ConfigMap', from.configMapRef.name))
    if (from.secretRef) Object.assign(env, source('Secret', from.secretRef.name))
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value
    else if (e.valueFrom?.secretKeyRef) env[e.name] = source('Secret', e.valueFrom.secretKeyRef.name)[e.valueFrom.secretKeyRef.key]!
    else if (e.valueFrom?.configMapKeyRef) env[e.name] = source('ConfigMap', e.valueFrom.configMapKeyRef.name)[e.valueFrom.configMapKeyRef.key]!
  }
  return env
}

/** Every CALSERVE_* name a manifest sets: env names, and the keys of ConfigMaps and Secrets. */
export function calserveVariables(docs: Manifest[]): Map<string, string> {
  const found = new Map<string, string>()
  const walk = (node: unknown, file: string): void => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n, file))
    if (node === null || typeof node !== 'object') return
    for (const [k, v] of Object.entries(node)) {
      if (/^CALSERVE_/.test(k)) found.set(k, file)
      if (k === 'name' && typeof v === 'string' && /^CALSERVE_/.test(v)) found.set(v, file)
      walk(v, file)
    }
  }
  for (const m of docs) walk(m.doc, m.file)
  return found
}
