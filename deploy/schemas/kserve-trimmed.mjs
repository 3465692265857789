// Writes kserve.json: the parts of KServe's ServingRuntime (serving.kserve.io/v1alpha1) and
// InferenceService (serving.kserve.io/v1beta1) schemas that deploy/kserve/ uses, transcribed from
// kserve/kserve's published CRDs (config/crd/full/serving.kserve.io_servingruntimes.yaml,
// serving.kserve.io_inferenceservices.yaml) and the Go types they are generated from
// (pkg/apis/serving/v1alpha1/servingruntime_types.go; v1beta1 predictor.go, predictor_model.go).
// Core types (Container, Volume, EnvVar, …) refer to kubernetes.json, as the CRDs embed them.
//   node deploy/schemas/kserve-trimmed.mjs
import { readFileSync, writeFileSync } from 'node:fs'

const k8s = JSON.parse(readFileSync(new URL('./kubernetes.json', import.meta.url), 'utf8'))
const ref = (name) => ({ $ref: `kubernetes.json#/definitions/${name}` })
const str = { type: 'string' }
const bool = { type: 'boolean' }
const int = { type: 'integer' }
const strMap = { type: 'object', additionalProperties: str }
const arrayOf = (items) => ({ type: 'array', items })
const strict = (properties, required) => ({ type: 'object', properties, ...(required ? { required } : {}), additionalProperties: false })

// The CRDs inline a corev1.Container into the predictor's model (PredictorExtensionSpec): its
// fields, none required (KServe fills the name).
const container = k8s.definitions.IoK8sApiCoreV1Container.properties
const inlineContainer = Object.fromEntries(Object.entries(container).map(([k, v]) => [k, v.$ref ? { $ref: `kubernetes.json${v.$ref}` } : rebase(v)]))
function rebase(s) {
  return JSON.parse(JSON.stringify(s).replaceAll('"#/definitions/', '"kubernetes.json#/definitions/'))
}

const protocol = { type: 'string', enum: ['v1', 'v2', 'grpc-v1', 'grpc-v2'] }
const metadata = ref('IoK8sApimachineryPkgApisMetaV1ObjectMeta')

const podSpec = {
  containers: arrayOf(ref('IoK8sApiCoreV1Container')),
  volumes: arrayOf(ref('IoK8sApiCoreV1Volume')),
  nodeSelector: strMap,
  affinity: ref('IoK8sApiCoreV1Affinity'),
  tolerations: arrayOf(ref('IoK8sApiCoreV1Toleration')),
  labels: strMap,
  annotations: strMap,
  imagePullSecrets: arrayOf(ref('IoK8sApiCoreV1LocalObjectReference')),
  hostIPC: bool,
}

const servingRuntimeSpec = strict(
  {
    supportedModelFormats: arrayOf(strict({ name: str, version: str, autoSelect: bool, priority: { type: 'integer', minimum: 1 } }, ['name'])),
    multiModel: bool,
    disabled: bool,
    protocolVersions: arrayOf(protocol),
    workerSpec: { type: 'object' },
    ...podSpec,
    grpcEndpoint: str,
    grpcDataEndpoint: str,
    httpDataEndpoint: str,
    replicas: int,
    storageHelper: strict({ disabled: bool }),
    builtInAdapter: { type: 'object' },
  },
  ['containers'],
)

const modelSpec = strict(
  {
    modelFormat: strict({ name: str, version: str }, ['name']),
    runtime: str,
    storageUri: str,
    storageUris: arrayOf({ type: 'object' }),
    runtimeVersion: str,
    protocolVersion: protocol,
    storage: strict({ path: str, schemaPath: str, parameters: strMap, key: str }),
    ...inlineContainer,
  },
  ['modelFormat'],
)

// The predictor is a PodSpec plus KServe's component extensions and the (deprecated) framework
// fields; only the model and the scaling fields used here are checked in depth.
const predictor = {
  type: 'object',
  properties: {
    model: modelSpec,
    minReplicas: { type: 'integer', minimum: 0 },
    maxReplicas: { type: 'integer', minimum: 0 },
    scaleTarget: int,
    scaleMetric: { type: 'string', enum: ['cpu', 'memory', 'concurrency', 'rps'] },
    containerConcurrency: int,
    timeout: int,
    serviceAccountName: str,
  },
  additionalProperties: true,
}

const kinds = (apiVersion, kind, spec) =>
  strict({ apiVersion: { type: 'string', enum: [apiVersion] }, kind: { type: 'string', enum: [kind] }, metadata, spec, status: { type: 'object' } }, ['apiVersion', 'kind', 'spec'])

const doc = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'kserve.json',
  $comment: 'written by kserve-trimmed.mjs; see README.md',
  kinds: {
    'serving.kserve.io/v1alpha1/ServingRuntime': kinds('serving.kserve.io/v1alpha1', 'ServingRuntime', servingRuntimeSpec),
    'serving.kserve.io/v1alpha1/ClusterServingRuntime': kinds('serving.kserve.io/v1alpha1', 'ClusterServingRuntime', servingRuntimeSpec),
    'serving.kserve.io/v1beta1/InferenceService': kinds(
      'serving.kserve.io/v1beta1',
      'InferenceService',
      strict({ predictor, explainer: { type: 'object' }, transformer: { type: 'object' } }, ['predictor']),
    ),
  },
}
writeFileSync(new URL('./kserve.json', import.meta.url), `${JSON.stringify(doc, null, 1)}\n`)
