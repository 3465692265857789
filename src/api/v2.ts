// The wire shapes of the Open Inference Protocol (KServe v2 REST), after kserve's
// docs/predict-api/v2/required_api.md and rest_predict_v2.yaml, with Triton's binary tensor data
// and classification extensions. Registered with ids so the OpenAPI document shows them as
// components. Tensor `data` is checked shallowly here: the codec walks it once, with the checks of
// src/inputs/oip-tensor.ts, instead of zod walking every number first.
import { z } from 'zod'
import { shallowArray } from './arrays.js'

/** $parameters: name → string | number | boolean. */
export const V2Parameters = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
  .describe('name/value pairs; values are strings, numbers or booleans')
  .meta({ id: 'V2Parameters' })

export const V2TensorData = shallowArray().describe(
  'the tensor elements in row-major order, flat or nested as the shape; absent when the tensor travels as binary data',
)

export const V2RequestInput = z
  .object({
    name: z.string(),
    shape: z.array(z.number().int().min(0)).describe('[N, ...the model input shape]'),
    datatype: z.string().describe('FP32, FP64, INT8…INT64 or UINT8…UINT64 (converted to the model’s FP32 input)'),
    parameters: V2Parameters.optional().describe('binary_data_size: the bytes of this input in the binary part of the body'),
    data: V2TensorData.optional(),
  })
  .meta({ id: 'V2RequestInput' })

export const V2RequestOutput = z
  .object({
    name: z.string().describe('the model’s logits output, or label, score, class_index; prediction_set (the conformal sets) only when named'),
    parameters: V2Parameters.optional().describe(
      'binary_data (bool): return this output as binary data; classification (int k): the top k as BYTES "value:index:label"',
    ),
  })
  .meta({ id: 'V2RequestOutput' })

export const V2InferenceRequest = z
  .object({
    id: z.string().optional().describe('echoed in the response'),
    parameters: V2Parameters.optional().describe(
      'calibrated (bool, default true): false returns the raw logits and predicts without γ; binary_data_output (bool): every output as binary data',
    ),
    inputs: z.array(V2RequestInput).min(1),
    outputs: z.array(V2RequestOutput).optional().describe('default: every output the model metadata lists'),
  })
  .meta({ id: 'V2InferenceRequest' })
export type V2InferenceRequest = z.infer<typeof V2InferenceRequest>

export const V2ResponseOutput = z
  .object({
    name: z.string(),
    shape: z.array(z.number().int()),
    datatype: z.string(),
    parameters: V2Parameters.optional().describe('binary_data_size when the output travels as binary data'),
    data: V2TensorData.optional(),
  })
  .meta({ id: 'V2ResponseOutput' })

export const V2InferenceResponse = z
  .object({
    model_name: z.string(),
    model_version: z.string().optional(),
    id: z.string().optional(),
    parameters: V2Parameters.optional().describe('calibrated (whether γ was applied), calibration_version, gamma and temperature of the active calibration'),
    outputs: z.array(V2ResponseOutput),
  })
  .meta({ id: 'V2InferenceResponse' })
export type V2InferenceResponse = z.infer<typeof V2InferenceResponse>

export const V2ServerMetadata = z.object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) }).meta({ id: 'V2ServerMetadata' })

export const V2MetadataTensor = z
  .object({ name: z.string(), datatype: z.string(), shape: z.array(z.number().int()).describe('-1: any size') })
  .meta({ id: 'V2MetadataTensor' })

export const V2ModelMetadata = z
  .object({
    name: z.string(),
    versions: z.array(z.string()),
    platform: z.string(),
    inputs: z.array(V2MetadataTensor),
    outputs: z.array(V2MetadataTensor),
    parameters: V2Parameters.optional().describe('calserve’s addition: the active calibration (calibration_version, gamma, temperature, …)'),
  })
  .meta({ id: 'V2ModelMetadata' })

export const V2Error = z.object({ error: z.string() }).meta({ id: 'V2Error' })

export const V2ModelParams = z.object({ name: z.string() })
export const V2VersionParams = z.object({ name: z.string(), version: z.string() })
export type V2ModelMetadata = z.infer<typeof V2ModelMetadata>
