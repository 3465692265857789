// Regenerates kubernetes.json from the type declarations that the npm package kubernetes-models
// (and @kubernetes-models/apimachinery) publishes, which its authors generate from the Kubernetes
// OpenAPI document. Only the kinds the manifests use, and what they reference, are kept.
//
//   node deploy/schemas/from-kubernetes-models.mjs DIR_OF_kubernetes-models DIR_OF_apimachinery
//
// Each interface becomes a strict object schema (additionalProperties: false, its non-optional
// fields required); `number` stays number (the declarations do not keep int32 apart).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const ROOTS = {
  'apps/v1/Deployment': 'IoK8sApiAppsV1Deployment',
  'v1/Service': 'IoK8sApiCoreV1Service',
  'v1/ConfigMap': 'IoK8sApiCoreV1ConfigMap',
  'v1/Secret': 'IoK8sApiCoreV1Secret',
  'v1/PersistentVolumeClaim': 'IoK8sApiCoreV1PersistentVolumeClaim',
  'policy/v1/PodDisruptionBudget': 'IoK8sApiPolicyV1PodDisruptionBudget',
  'autoscaling/v2/HorizontalPodAutoscaler': 'IoK8sApiAutoscalingV2HorizontalPodAutoscaler',
  // KServe's CRDs embed these core types; kserve.json refers to them.
  'v1/Container': 'IoK8sApiCoreV1Container',
  'v1/Volume': 'IoK8sApiCoreV1Volume',
  'v1/Toleration': 'IoK8sApiCoreV1Toleration',
  'v1/Affinity': 'IoK8sApiCoreV1Affinity',
  'v1/LocalObjectReference': 'IoK8sApiCoreV1LocalObjectReference',
  'v1/EnvVar': 'IoK8sApiCoreV1EnvVar',
  'v1/ResourceRequirements': 'IoK8sApiCoreV1ResourceRequirements',
  'v1/ObjectMeta': 'IoK8sApimachineryPkgApisMetaV1ObjectMeta',
}

const [modelsDir, machineryDir] = process.argv.slice(2)
if (!modelsDir || !machineryDir) throw new Error('usage: from-kubernetes-models.mjs MODELS_DIR APIMACHINERY_DIR')

function* dts(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (name === 'node_modules' || name === '_schemas') continue
    if (statSync(p).isDirectory()) yield* dts(p)
    else if (name.endsWith('.d.ts')) yield p
  }
}

// "IIoK8s…" alias → the declaration text of the interface or type it names.
const decls = new Map()
for (const file of [...dts(modelsDir), ...dts(machineryDir)]) {
  const text = readFileSync(file, 'utf8').replace(/\/\*\*[\s\S]*?\*\//g, '')
  for (const m of text.matchAll(/export type \{ (I\w+) as I(IoK8s\w+)/g)) {
    const local = m[1]
    const iface = new RegExp(`export interface ${local}(?: extends [\\w, ]+)? \\{([\\s\\S]*?)\n\\}`).exec(text)
    const alias = new RegExp(`export type ${local} = ([^;]+);`).exec(text)
    if (iface) decls.set(m[2], { kind: 'interface', body: iface[1] })
    else if (alias) decls.set(m[2], { kind: 'alias', type: alias[1] })
  }
}

function splitTop(s, sep) {
  const out = []
  let depth = 0
  let cur = ''
  for (const ch of s) {
    if (ch === '<' || ch === '{' || ch === '(') depth++
    if (ch === '>' || ch === '}' || ch === ')') depth--
    if (ch === sep && depth === 0) {
      out.push(cur.trim())
      cur = ''
    } else cur += ch
  }
  if (cur.trim()) out.push(cur.trim())
  return out
}

const needed = new Set()
function typeSchema(t) {
  t = t.trim()
  const parts = splitTop(t, '|')
  if (parts.length > 1) {
    if (parts.every((p) => /^"[^"]*"$/.test(p))) return { type: 'string', enum: parts.map((p) => JSON.parse(p)) }
    if (parts.every((p) => ['string', 'number', 'boolean'].includes(p))) return { type: parts }
    return { anyOf: parts.map(typeSchema) }
  }
  if (t === 'string' || t === 'number' || t === 'boolean') return { type: t }
  if (t === 'any' || t === 'object' || t === 'unknown') return {}
  if (/^"[^"]*"$/.test(t)) return { type: 'string', enum: [JSON.parse(t)] }
  let m = /^Array<([\s\S]+)>$/.exec(t)
  if (m) return { type: 'array', items: typeSchema(m[1]) }
  m = /^\{\s*\[key: string\]: ([\s\S]+?);?\s*\}$/.exec(t)
  if (m) return { type: 'object', additionalProperties: typeSchema(m[1]) }
  m = /^I(IoK8s\w+)$/.exec(t)
  if (m) {
    needed.add(m[1])
    return { $ref: `#/definitions/${m[1]}` }
  }
  throw new Error(`unknown type: ${t}`)
}

function definition(name) {
  const d = decls.get(name)
  if (!d) throw new Error(`no declaration for ${name}`)
  if (d.kind === 'alias') return typeSchema(d.type)
  // An empty interface is a free-form object in the API (FieldsV1, RawExtension).
  if (!d.body.trim()) return { type: 'object' }
  const properties = {}
  const required = []
  for (const member of splitTop(d.body, ';')) {
    const m = /^"([^"]+)"(\?)?: ([\s\S]+)$/.exec(member.trim())
    if (!m) throw new Error(`${name}: cannot read member ${member}`)
    properties[m[1]] = typeSchema(m[3])
    if (!m[2]) required.push(m[1])
  }
  return { type: 'object', properties, ...(required.length ? { required } : {}), additionalProperties: false }
}

const definitions = {}
for (const root of Object.values(ROOTS)) needed.add(root)
for (let grew = true; grew; ) {
  grew = false
  for (const name of needed) if (!(name in definitions)) ((definitions[name] = definition(name)), (grew = true))
}
const sorted = Object.fromEntries(Object.keys(definitions).sort().map((k) => [k, definitions[k]]))
const version = JSON.parse(readFileSync(join(modelsDir, 'package.json'), 'utf8')).version
const doc = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'kubernetes.json',
  $comment: `generated by from-kubernetes-models.mjs from kubernetes-models ${version}; see README.md`,
  kinds: Object.fromEntries(Object.entries(ROOTS).map(([k, v]) => [k, { $ref: `#/definitions/${v}` }])),
  definitions: sorted,
}
writeFileSync(new URL('./kubernetes.json', import.meta.url), `${JSON.stringify(doc, null, 1)}\n`)
process.stdout.write(`${Object.keys(sorted).length} definitions\n`)
