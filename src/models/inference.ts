// One predict: run the model on a decoded batch, apply the active calibration with the same
// decision rule the fit uses, and shape the answer. Routes call this; it knows nothing of HTTP.
import { predict } from '../calibration/index.js'
import { badInput } from '../errors.js'
import type { CalibrationRecord } from '../store/types.js'
import type { ReadyModel } from './repository.js'

export interface PredictOptions {
  topK: number
  calibrated: boolean
  returnLogits: boolean
}

export interface ScoredClass {
  label: string
  index: number
  score: number
}

export interface PredictResult {
  model: string
  model_version: number
  calibration: { applied: boolean; version: number; gamma: number; temperature: number }
  predictions: Array<ScoredClass & { absent: boolean; top_k: ScoredClass[]; logits?: number[] }>
}

export type Infer = (model: ReadyModel, data: Float32Array, n: number) => Promise<Float32Array>

export async function runPredict(
  model: ReadyModel,
  calibration: CalibrationRecord,
  data: Float32Array,
  n: number,
  opts: PredictOptions,
  infer: Infer,
): Promise<PredictResult> {
  const labels = model.manifest.labels
  if (opts.topK > labels.length)
    throw badInput(`top_k is ${opts.topK} but the model has ${labels.length} classes`, { field: 'top_k', max: labels.length })
  const logits = await infer(model, data, n)
  const c = labels.length
  const applied = opts.calibrated
  const cal = applied ? { gamma: calibration.gamma, temperature: calibration.temperature } : { gamma: 0, temperature: 1 }
  const rows = predict({ data: logits, n, c }, model.absent, cal, opts.topK)
  return {
    model: model.name,
    model_version: model.version,
    calibration: { applied, version: calibration.version, gamma: calibration.gamma, temperature: calibration.temperature },
    predictions: rows.map((row, i) => {
      const prediction: PredictResult['predictions'][number] = {
        label: labels[row.index]!,
        index: row.index,
        score: row.score,
        absent: model.absent[row.index] === 1,
        top_k: row.top_k.map((t) => ({ label: labels[t.index]!, index: t.index, score: t.score })),
      }
      if (opts.returnLogits) prediction.logits = Array.from(logits.subarray(i * c, (i + 1) * c))
      return prediction
    }),
  }
}
